"""Sending an SMS from the dashboard, and its result page."""

from __future__ import annotations

from django.http import Http404, JsonResponse
from django.urls import reverse, reverse_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.selectors import cost_shown
from console import selectors
from console.forms.sms import SmsForm, SmsWhen
from console.quotes import sms_quote
from console.views.steps import SendPage, labelled, local_time, price_view, render_page, result_tenant, send_view
from sms import selectors as sms_selectors
from sms.services import CampaignSpec, sms_submit
from softafrik.errors import NotFound

DIALECT = "console"  # SmsMessage.dialect of a send made from the dashboard
FAILURES_SHOWN = 20  # failed numbers a result page lists with their reason


def _sms_campaign(form: SmsForm) -> CampaignSpec | None:
    data = form.cleaned_data
    if data["when"] != SmsWhen.SPREAD:
        return None
    return CampaignSpec(
        window_start=data["window_start"],
        window_end=data["window_end"],
        per_day=data["per_day"],
        interval_minutes=data["interval_minutes"],
    )


def _sms_send(form: SmsForm) -> str:
    data = form.cleaned_data
    accepted = sms_submit(
        tenant=form.tenant,
        dialect=DIALECT,
        sender=data["sender"],
        numbers=data["recipients"],
        text=data["text"],
        single=data["single"],
        scheduled_at=data["scheduled_at"] if data["when"] == SmsWhen.SCHEDULED else None,
        campaign=_sms_campaign(form),
    )
    return reverse("console:sms_result", args=[accepted.message.pk])


def _sms_summary(form: SmsForm) -> list[tuple[str, str]]:
    data = form.cleaned_data
    rows = [(gettext("Sender"), data["sender"]), (gettext("Numbers"), str(len(data["recipients"])))]
    if data["skipped"]:
        rows.append((gettext("Invalid numbers skipped"), str(data["skipped"])))
    rows.append((gettext("Text"), data["text"]))
    if data["when"] == SmsWhen.SCHEDULED:
        rows.append((gettext("Send at"), local_time(data["scheduled_at"], form.tenant)))
    elif data["when"] == SmsWhen.SPREAD:
        spread = gettext("%(start)s to %(end)s, at most %(per_day)s a day, a batch every %(minutes)s min") % {
            "start": local_time(data["window_start"], form.tenant),
            "end": local_time(data["window_end"], form.tenant),
            "per_day": data["per_day"],
            "minutes": data["interval_minutes"],
        }
        rows.append((gettext("Spread"), spread))
    return rows


SMS_PAGE = SendPage(
    form_class=SmsForm,
    price_url=reverse_lazy("console:sms_price"),
    title=_("Send an SMS"),
    quote=lambda form: sms_quote(
        tenant=form.tenant,
        numbers=form.cleaned_data["recipients"],
        text=form.cleaned_data["text"],
        campaign=form.cleaned_data["when"] == SmsWhen.SPREAD,
    ),
    summary=_sms_summary,
    send=_sms_send,
    # The numbers as checked (a CSV file's included, invalid ones skipped) go on.
    hidden_overrides=lambda form: {"numbers": "\n".join(form.cleaned_data["recipients"]), "skip_invalid": ""},
)


def sms_send(request):
    return send_view(request, SMS_PAGE)


def sms_price(request):
    return price_view(request, SMS_PAGE)


def _sms_message(request, send_id):
    tenant = result_tenant(request, "sms", send_id)
    try:
        return sms_selectors.sms_message_get(tenant=tenant, ref=send_id)
    except NotFound:
        raise Http404(gettext("Unknown send.")) from None


def sms_result(request, send_id):
    message = _sms_message(request, send_id)
    return render_page(
        request,
        "console/result.html",
        gettext("SMS send"),
        channel="sms",
        send=message,
        cost=cost_shown(tenant_id=message.tenant_id, amount=message.amount),
        details=[
            (gettext("Sender"), message.sender),
            (gettext("Text"), message.text),
            (gettext("Kind"), message.get_kind_display()),
            (gettext("Parts per number"), str(message.parts)),
        ],
        progress=labelled(selectors.sms_progress(message=message)),
        progress_url=reverse("console:sms_progress", args=[message.pk]),
        failures=selectors.sms_failures(message=message, limit=FAILURES_SHOWN),
        again=reverse("console:sms"),
    )


def sms_progress(request, send_id):
    return JsonResponse(labelled(selectors.sms_progress(message=_sms_message(request, send_id))))
