"""Sending from the dashboard (``/admin/send/...``): a form, its price, the send, and a
result page that follows it live.

Each form goes through three steps: the form (``action=edit``), its price (``price``:
the form checked, the price shown, the values kept in hidden fields with a one-time
token) and the send (``send``: checked again, then the same service the API calls,
once per token: ``console.once``). A tenant's staff sends as its tenant; a platform
superuser first picks the tenant (``?tenant=<id>``). Refusals are form errors on the
field they concern, the balance one with the price and the balance.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Tenant
from billing.money import amount_str
from billing.selectors import cost_shown, reserved_for
from billing.services import InsufficientBalance, account_ensure
from console import selectors
from console.forms import ConsoleForm, OmniForm, PushForm, PushTarget, SmsForm, SmsWhen, TenantPickForm
from console.once import AlreadySending, form_fingerprint, send_once
from console.quotes import Quote, omni_quote, push_quote, sms_quote
from notifications import selectors as push_selectors
from notifications.push.accept import push_broadcast, push_send_to_user
from scenarios import reads
from scenarios.accept import destinations_resolve, omni_send
from scenarios.models import FlowChannel, Product
from sms import selectors as sms_selectors
from sms.services import CampaignSpec, sms_submit
from softafrik.errors import DomainError, NotFound
from softafrik.idempotency import IdempotencyKeyReused

DIALECT = "console"  # SmsMessage.dialect of a send made from the dashboard
FAILURES_SHOWN = 20  # failed numbers a result page lists with their reason
FORM_TEMPLATE = "console/form.html"
# A send's overall status as its result page shows it (the JSON keeps the code too).
STATUS_LABELS = {"pending": _("pending"), "sent": _("sent"), "delivered": _("delivered"), "failed": _("failed")}


def _tenant(request) -> Tenant | None:
    """The tenant the user sends as: its own, or (a platform superuser) the one picked."""
    user = request.user
    if user.is_superuser:
        picked = request.POST.get("tenant") or request.GET.get("tenant") or ""
        return Tenant.objects.filter(pk=picked, is_active=True).first() if picked.isdigit() else None
    if user.tenant is None:
        raise PermissionDenied(gettext("Your account belongs to no tenant."))
    return user.tenant


def _labelled(progress: dict) -> dict:
    """A progress read (console.selectors) with its status in the user's language."""
    return {**progress, "status_label": str(STATUS_LABELS.get(progress["status"], progress["status"]))}


def _local(at, tenant: Tenant) -> str:
    """A date as the tenant reads it: in its time zone, which is named."""
    return f"{at.astimezone(ZoneInfo(tenant.timezone or 'UTC')):%Y-%m-%d %H:%M} ({tenant.timezone or 'UTC'})"


def _page(request, template: str, title: str, **context):
    context.setdefault("superuser", request.user.is_superuser)
    return render(request, template, {**admin.site.each_context(request), "title": title, **context})


def _balance_error(exc: InsufficientBalance, tenant: Tenant) -> str:
    account = account_ensure(tenant_id=tenant.pk)
    price = amount_str(exc.needed, unit=exc.unit)
    balance = amount_str(account.balance, unit=account.unit)
    return gettext(
        "Insufficient balance: this send costs %(price)s %(unit)s and your balance is %(balance)s %(unit)s."
    ) % {
        "price": price,
        "balance": balance,
        "unit": account.unit,
    }


# --- The three steps, shared by the forms ------------------------------------------------


@dataclass(frozen=True)
class SendPage:
    """One sending form: its form class and title, how to price it, what its
    confirmation summarizes, and how to send it (returning the send's result path)."""

    form_class: type[ConsoleForm]
    title: str
    quote: Callable[[ConsoleForm], Quote]
    summary: Callable[[ConsoleForm], list[tuple[str, str]]]
    send: Callable[[ConsoleForm], str]
    hidden_overrides: Callable[[ConsoleForm], dict] = lambda form: {}


def _hidden(form: ConsoleForm, page: SendPage, tenant: Tenant, request) -> list[tuple[str, str]]:
    """The form's values as the confirmation's hidden fields (the uploaded file already
    read into them), with a fresh one-time token."""
    values = {name: form.data.get(name, "") for name in form.fields if name not in ("token", "numbers_file")}
    values.update(page.hidden_overrides(form))
    values["token"] = uuid.uuid4().hex
    if request.user.is_superuser:
        values["tenant"] = str(tenant.pk)
    return [(name, value) for name, value in values.items() if value not in ("", None)]


def _send_view(request, page: SendPage):
    tenant = _tenant(request)
    if tenant is None:
        return _page(request, "console/pick_tenant.html", page.title, form=TenantPickForm(request.GET or None))
    context = {"tenant": tenant}
    action = request.POST.get("action", "edit") if request.method == "POST" else "edit"
    if action == "edit":
        initial = {k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken"} if request.POST else None
        form = page.form_class(tenant=tenant, initial=initial)
        return _page(request, FORM_TEMPLATE, page.title, form=form, **context)
    form = page.form_class(request.POST, request.FILES, tenant=tenant)
    if not form.is_valid():
        return _page(request, FORM_TEMPLATE, page.title, form=form, **context)
    try:
        quote = page.quote(form)
    except DomainError as exc:
        form.add_domain_error(exc)
        return _page(request, FORM_TEMPLATE, page.title, form=form, **context)
    if action == "send" and form.cleaned_data.get("token"):
        try:
            path = send_once(
                tenant_id=tenant.pk,
                token=form.cleaned_data["token"],
                fingerprint=form_fingerprint({"tenant": tenant.pk, **form.send_values()}),
                send=lambda: page.send(form),
            )
        except InsufficientBalance as exc:
            form.add_error(None, _balance_error(exc, tenant))
        except IdempotencyKeyReused:
            form.add_error(None, gettext("This confirmation was already sent with other values: price the send again."))
        except AlreadySending:
            form.add_error(None, gettext("This send is still being accepted: wait a moment, then look at your sends."))
        except DomainError as exc:
            form.add_domain_error(exc)
        else:
            return HttpResponseRedirect(path, status=303)
        return _page(request, FORM_TEMPLATE, page.title, form=form, **context)
    return _page(
        request,
        "console/confirm.html",
        page.title,
        form=form,
        quote=quote,
        summary=page.summary(form),
        hidden=_hidden(form, page, tenant, request),
        **context,
    )


def _result_tenant(request, channel: str, send_id) -> Tenant:
    """Whose send this is to read: the user's tenant, or (a superuser) the send's own."""
    superuser = request.user.is_superuser
    tenant = selectors.send_tenant(channel=channel, send_id=send_id) if superuser else _tenant(request)
    if tenant is None:
        raise Http404(gettext("Unknown send."))
    return tenant


# --- SMS -------------------------------------------------------------------------------


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
        rows.append((gettext("Send at"), _local(data["scheduled_at"], form.tenant)))
    elif data["when"] == SmsWhen.SPREAD:
        spread = gettext("%(start)s to %(end)s, at most %(per_day)s a day, a batch every %(minutes)s min") % {
            "start": _local(data["window_start"], form.tenant),
            "end": _local(data["window_end"], form.tenant),
            "per_day": data["per_day"],
            "minutes": data["interval_minutes"],
        }
        rows.append((gettext("Spread"), spread))
    return rows


SMS_PAGE = SendPage(
    form_class=SmsForm,
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
    return _send_view(request, SMS_PAGE)


def _sms_message(request, send_id):
    tenant = _result_tenant(request, "sms", send_id)
    try:
        return sms_selectors.sms_message_get(tenant=tenant, ref=send_id)
    except NotFound:
        raise Http404(gettext("Unknown send.")) from None


def sms_result(request, send_id):
    message = _sms_message(request, send_id)
    return _page(
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
        progress=_labelled(selectors.sms_progress(message=message)),
        progress_url=reverse("console:sms_progress", args=[message.pk]),
        failures=selectors.sms_failures(message=message, limit=FAILURES_SHOWN),
        again=reverse("console:sms"),
    )


def sms_progress(request, send_id):
    return JsonResponse(_labelled(selectors.sms_progress(message=_sms_message(request, send_id))))


# --- Push ------------------------------------------------------------------------------


def _push_quote(form: PushForm) -> Quote:
    data = form.cleaned_data
    if data["target"] == PushTarget.USER:
        return push_quote(tenant=form.tenant, end_user_id=data["end_user"].pk)
    filters = {key: data[key] for key in ("country", "platform") if data.get(key)}
    return push_quote(tenant=form.tenant, app=data["app_row"], filters=filters)


def _push_send(form: PushForm) -> str:
    data = form.cleaned_data
    content = {"title": data["title"], "body": data["body"], "data": data["data"]}
    if data["target"] == PushTarget.USER:
        message = push_send_to_user(tenant=form.tenant, puid=data["end_user"].puid, **content)
    else:
        message = push_broadcast(
            tenant=form.tenant, app=data["app_row"], country=data["country"], platform=data["platform"], **content
        )
    return reverse("console:push_result", args=[message.pk])


def _push_summary(form: PushForm) -> list[tuple[str, str]]:
    data = form.cleaned_data
    if data["target"] == PushTarget.USER:
        rows = [(gettext("To the user"), data["end_user"].puid)]
    else:
        where = ", ".join(filter(None, [data["country"], data["platform"]])) or gettext("every country and platform")
        rows = [(gettext("Broadcast to"), f"{data['app_row'].name} ({where})")]
    return [*rows, (gettext("Title"), data["title"]), (gettext("Body"), data["body"])]


PUSH_PAGE = SendPage(
    form_class=PushForm,
    title=_("Send a push"),
    quote=_push_quote,
    summary=_push_summary,
    send=_push_send,
)


def push_send(request):
    return _send_view(request, PUSH_PAGE)


def _push_message(request, send_id):
    tenant = _result_tenant(request, "push", send_id)
    try:
        return push_selectors.message_get(tenant=tenant, message_id=send_id)
    except NotFound:
        raise Http404(gettext("Unknown send.")) from None


def push_result(request, send_id):
    message = _push_message(request, send_id)
    target = message.end_user.puid if message.end_user_id else message.app.name if message.app_id else ""
    return _page(
        request,
        "console/result.html",
        gettext("Push send"),
        channel="push",
        send=message,
        cost=cost_shown(tenant_id=message.tenant_id, amount=message.unit_price * (message.paid_deliveries or 0)),
        details=[
            (gettext("Kind"), message.get_kind_display()),
            (gettext("To"), target),
            (gettext("Title"), message.title),
            (gettext("Body"), message.body),
        ],
        progress=_labelled(selectors.push_progress(message=message)),
        progress_url=reverse("console:push_progress", args=[message.pk]),
        failures=[],
        again=reverse("console:push"),
    )


def push_progress(request, send_id):
    return JsonResponse(_labelled(selectors.push_progress(message=_push_message(request, send_id))))


# --- Omni ------------------------------------------------------------------------------


def _omni_first_app(form: OmniForm) -> int | None:
    """The app of the scenario's first push step (its appCode, else the form's app)."""
    data = form.cleaned_data
    step = next((s for s in data["scenario_row"].flow if s.get("channel") == FlowChannel.PUSH), None)
    if step is None:
        return None
    if step.get("appCode"):
        app = form.tenant.apps.filter(code=step["appCode"]).values_list("pk", flat=True).first()
        if app is None:
            raise DomainError(
                gettext("The scenario's app %(code)r no longer exists.") % {"code": step["appCode"]}, field="appCode"
            )
        return app
    if data.get("app") is None:
        raise DomainError(gettext("This scenario's push step names no app: choose one."), field="appCode")
    return data["app"]


def _omni_quote(form: OmniForm) -> Quote:
    data = form.cleaned_data
    app_id = _omni_first_app(form)
    resolved = destinations_resolve(tenant=form.tenant, entries=data["entries"], app_id=app_id, platform="")
    return omni_quote(
        tenant=form.tenant,
        first_step=data["scenario_row"].flow[0],
        app_id=app_id,
        platform="",
        sms_text=data["sms_text"],
        resolved=resolved,
    )


def _omni_send(form: OmniForm) -> str:
    data = form.cleaned_data
    scenario = data["scenario_row"]
    app = form.tenant.apps.filter(pk=data["app"]).first() if data.get("app") else None
    accepted = omni_send(
        tenant=form.tenant,
        product=Product.OMNI,
        flow=scenario.flow,
        sender=data["sender"],
        destinations=data["entries"],
        app=app,
        push={"text": data["push_text"], "from": data["push_title"]} if data.get("push_text") else None,
        sms={"text": data["sms_text"], "from": data["sender"]} if data.get("sms_text") else None,
        scenario=scenario,
        start_at=data.get("start_at"),
    )
    return reverse("console:omni_result", args=[accepted.message.pk])


def _omni_summary(form: OmniForm) -> list[tuple[str, str]]:
    data = form.cleaned_data
    flow = " then ".join(step.get("channel", "?") for step in data["scenario_row"].flow)
    rows = [
        (gettext("Scenario"), f"{data['scenario_row'].name} ({flow})"),
        (gettext("Destinations"), str(len(data["entries"]))),
    ]
    if data.get("push_text"):
        rows.append((gettext("Push"), f"{data['push_title']}: {data['push_text']}".lstrip(": ")))
    if data.get("sms_text"):
        rows.append((gettext("SMS"), data["sms_text"]))
    if data.get("start_at"):
        rows.append((gettext("Start at"), _local(data["start_at"], form.tenant)))
    return rows


OMNI_PAGE = SendPage(
    form_class=OmniForm,
    title=_("Send by scenario"),
    quote=_omni_quote,
    summary=_omni_summary,
    send=_omni_send,
)


def omni_send_view(request):
    return _send_view(request, OMNI_PAGE)


def _omni_message(request, send_id):
    tenant = _result_tenant(request, "omni", send_id)
    try:
        return reads.omni_message_get(tenant=tenant, message_id=send_id)
    except NotFound:
        raise Http404(gettext("Unknown send.")) from None


def omni_result(request, send_id):
    message = _omni_message(request, send_id)
    reserved = reserved_for(tenant_id=message.tenant_id, references=[f"omni:{message.pk}:0", f"sms:{message.pk}"])
    flow = " then ".join(step.get("channel", "?") for step in message.flow)
    return _page(
        request,
        "console/result.html",
        gettext("Omni send"),
        channel="omni",
        send=message,
        cost=cost_shown(tenant_id=message.tenant_id, amount=reserved),
        details=[
            (gettext("Scenario"), message.scenario.name if message.scenario else ""),
            (gettext("Flow"), flow),
        ],
        progress=_labelled(selectors.omni_progress(message=message)),
        progress_url=reverse("console:omni_progress", args=[message.pk]),
        failures=[],
        again=reverse("console:omni"),
    )


def omni_progress(request, send_id):
    return JsonResponse(_labelled(selectors.omni_progress(message=_omni_message(request, send_id))))
