"""The three steps every sending form of the dashboard goes through, and what its
result page shares.

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
from dataclasses import asdict, dataclass
from zoneinfo import ZoneInfo

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from accounts.models import Tenant
from billing.money import amount_str
from billing.services import InsufficientBalance, account_ensure
from console import selectors
from console.forms.base import ConsoleForm, TenantPickForm
from console.once import AlreadySending, form_fingerprint, send_once
from console.quotes import Quote
from softafrik.errors import DomainError
from softafrik.idempotency import IdempotencyKeyReused

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


def labelled(progress: dict) -> dict:
    """A progress read (console.selectors) with its status in the user's language."""
    return {**progress, "status_label": str(STATUS_LABELS.get(progress["status"], progress["status"]))}


def local_time(at, tenant: Tenant) -> str:
    """A date as the tenant reads it: in its time zone, which is named."""
    return f"{at.astimezone(ZoneInfo(tenant.timezone or 'UTC')):%Y-%m-%d %H:%M} ({tenant.timezone or 'UTC'})"


def render_page(request, template: str, title: str, **context):
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
    """One sending form: its form class, title and price preview's address, how to price it, what its
    confirmation summarizes, and how to send it (returning the send's result path)."""

    form_class: type[ConsoleForm]
    title: str
    price_url: str  # its live price preview (price_view)
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


def send_view(request, page: SendPage):
    tenant = _tenant(request)
    if tenant is None:
        return render_page(request, "console/pick_tenant.html", page.title, form=TenantPickForm(request.GET or None))
    context = {"tenant": tenant, "price_url": page.price_url}
    action = request.POST.get("action", "edit") if request.method == "POST" else "edit"
    if action == "edit":
        initial = {k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken"} if request.POST else None
        form = page.form_class(tenant=tenant, initial=initial)
        return render_page(request, FORM_TEMPLATE, page.title, form=form, **context)
    form = page.form_class(request.POST, request.FILES, tenant=tenant)
    if not form.is_valid():
        return render_page(request, FORM_TEMPLATE, page.title, form=form, **context)
    try:
        quote = page.quote(form)
    except DomainError as exc:
        form.add_domain_error(exc)
        return render_page(request, FORM_TEMPLATE, page.title, form=form, **context)
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
        return render_page(request, FORM_TEMPLATE, page.title, form=form, **context)
    return render_page(
        request,
        "console/confirm.html",
        page.title,
        form=form,
        quote=quote,
        summary=page.summary(form),
        hidden=_hidden(form, page, tenant, request),
        **context,
    )


@require_POST
def price_view(request, page: SendPage) -> JsonResponse:
    """The form's price as typed so far, for its live preview: the same checks and
    quote as its Price step, sending nothing. 400 with the errors per field while the
    form is not complete."""
    tenant = _tenant(request)
    if tenant is None:
        return JsonResponse({"errors": {"tenant": [gettext("Choose the tenant to send as.")]}}, status=400)
    form = page.form_class(request.POST, request.FILES, tenant=tenant)
    if form.is_valid():
        try:
            return JsonResponse({"quote": asdict(page.quote(form))})
        except DomainError as exc:
            form.add_domain_error(exc)
    errors = {field or "__all__": [str(error) for error in messages] for field, messages in form.errors.items()}
    return JsonResponse({"errors": errors}, status=400)


def result_tenant(request, channel: str, send_id) -> Tenant:
    """Whose send this is to read: the user's tenant, or (a superuser) the send's own."""
    superuser = request.user.is_superuser
    tenant = selectors.send_tenant(channel=channel, send_id=send_id) if superuser else _tenant(request)
    if tenant is None:
        raise Http404(gettext("Unknown send."))
    return tenant
