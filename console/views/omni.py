"""Sending a message by scenario from the dashboard, and its result page."""

from __future__ import annotations

from django.http import Http404, JsonResponse
from django.urls import reverse, reverse_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.selectors import cost_shown, reserved_for
from console import selectors
from console.forms.omni import OmniForm
from console.quotes import Quote, omni_quote
from console.views.steps import SendPage, labelled, local_time, price_view, render_page, result_tenant, send_view
from scenarios import reads
from scenarios.accept import destinations_resolve, omni_send
from scenarios.models import FlowChannel, Product
from softafrik.errors import DomainError, NotFound


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
        rows.append((gettext("Start at"), local_time(data["start_at"], form.tenant)))
    return rows


OMNI_PAGE = SendPage(
    form_class=OmniForm,
    price_url=reverse_lazy("console:omni_price"),
    title=_("Send by scenario"),
    quote=_omni_quote,
    summary=_omni_summary,
    send=_omni_send,
)


def omni_send_view(request):
    return send_view(request, OMNI_PAGE)


def omni_price(request):
    return price_view(request, OMNI_PAGE)


def _omni_message(request, send_id):
    tenant = result_tenant(request, "omni", send_id)
    try:
        return reads.omni_message_get(tenant=tenant, message_id=send_id)
    except NotFound:
        raise Http404(gettext("Unknown send.")) from None


def omni_result(request, send_id):
    message = _omni_message(request, send_id)
    reserved = reserved_for(tenant_id=message.tenant_id, references=[f"omni:{message.pk}:0", f"sms:{message.pk}"])
    flow = " then ".join(step.get("channel", "?") for step in message.flow)
    return render_page(
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
        progress=labelled(selectors.omni_progress(message=message)),
        progress_url=reverse("console:omni_progress", args=[message.pk]),
        failures=[],
        again=reverse("console:omni"),
    )


def omni_progress(request, send_id):
    return JsonResponse(labelled(selectors.omni_progress(message=_omni_message(request, send_id))))
