"""Sending a push from the dashboard, and its result page."""

from __future__ import annotations

from django.http import Http404, JsonResponse
from django.urls import reverse, reverse_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.selectors import cost_shown
from console import selectors
from console.forms.push import PushForm, PushTarget
from console.quotes import Quote, push_quote
from console.views.steps import SendPage, labelled, price_view, render_page, result_tenant, send_view
from notifications import selectors as push_selectors
from notifications.push.accept import push_broadcast, push_send_to_user
from softafrik.errors import NotFound


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
    price_url=reverse_lazy("console:push_price"),
    title=_("Send a push"),
    quote=_push_quote,
    summary=_push_summary,
    send=_push_send,
)


def push_send(request):
    return send_view(request, PUSH_PAGE)


def push_price(request):
    return price_view(request, PUSH_PAGE)


def _push_message(request, send_id):
    tenant = result_tenant(request, "push", send_id)
    try:
        return push_selectors.message_get(tenant=tenant, message_id=send_id)
    except NotFound:
        raise Http404(gettext("Unknown send.")) from None


def push_result(request, send_id):
    message = _push_message(request, send_id)
    target = message.end_user.puid if message.end_user_id else message.app.name if message.app_id else ""
    return render_page(
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
        progress=labelled(selectors.push_progress(message=message)),
        progress_url=reverse("console:push_progress", args=[message.pk]),
        failures=[],
        again=reverse("console:push"),
    )


def push_progress(request, send_id):
    return JsonResponse(labelled(selectors.push_progress(message=_push_message(request, send_id))))
