"""The admin dashboard's theme (django-unfold): the tenant's name and logo in its header,
and a sidebar grouped for a tenant admin.

The ``UNFOLD`` setting names these callables; unfold calls each with the request. The
sidebar lists only what the user may see: an item is there when its model's admin gives
the user view permission (``TenantScopedAdmin`` and the platform-only admins decide), the
"Send" forms for a tenant's staff, and the "Platform" group for superusers only.
"""

from __future__ import annotations

import mimetypes

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import FileResponse, Http404
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from accounts.models import Tenant
from softafrik.tenant_admin import is_platform_admin, is_tenant_staff, user_tenant


def site_name() -> str:
    return getattr(settings, "SITE_NAME", "SoftAfrik")


def site_title(request) -> str:
    return site_name()


def site_header(request) -> str:
    """The tenant's name for its staff, the platform's name for everyone else."""
    tenant = user_tenant(request) if getattr(request, "user", None) else None
    return tenant.name if tenant is not None else site_name()


def site_subheader(request) -> str:
    tenant = user_tenant(request) if getattr(request, "user", None) else None
    return site_name() if tenant is not None else _("Platform administration")


def site_icon(request) -> str | None:
    """The tenant's logo (``Tenant.logo``, when the model has it and one is set)."""
    tenant = user_tenant(request) if getattr(request, "user", None) else None
    logo = getattr(tenant, "logo", None)
    if not logo:
        return None
    # The file's name in the URL: a new logo is a new URL, so no browser shows the old one.
    return f"{reverse('tenant_logo', args=[tenant.pk])}?v={logo.name.rsplit('/', 1)[-1]}"


@staff_member_required
def tenant_logo(request, tenant_id: int):
    """A tenant's logo, to its own staff and platform superusers (whatever MEDIA_URL
    serves or not): another tenant's is not found."""
    if not is_platform_admin(request) and getattr(user_tenant(request), "pk", None) != tenant_id:
        raise Http404
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    logo = getattr(tenant, "logo", None)
    if not logo:
        raise Http404
    content_type = mimetypes.guess_type(logo.name)[0] or "application/octet-stream"
    response = FileResponse(logo.open("rb"), content_type=content_type)
    response["Cache-Control"] = "private, max-age=86400"
    return response


# --- The sidebar -----------------------------------------------------------------------


def _model_item(request, title, icon: str, label: str) -> dict | None:
    """A link to the changelist of ``label`` ("app.model") if the user may view it."""
    model = next((m for m in admin.site._registry if m._meta.label_lower == label), None)
    if model is None:
        return None
    model_admin = admin.site._registry[model]
    if not (model_admin.has_view_permission(request) or model_admin.has_change_permission(request)):
        return None
    meta = model._meta
    return {"title": title, "icon": icon, "link": reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")}


def _page_item(title, icon: str, url_name: str, fallback_path: str) -> dict:
    """A page of another app (the reports, the "send without code" forms), by its URL
    name; its path while that app is absent."""
    try:
        link = reverse(url_name)
    except NoReverseMatch:
        link = fallback_path
    return {"title": title, "icon": icon, "link": link}


def _organisation_item(request) -> list[dict]:
    """A tenant's staff's own tenant page (its logo, status callback URL and secret)."""
    tenant = user_tenant(request)
    if tenant is None or is_platform_admin(request) or not is_tenant_staff(request):
        return []
    return [
        {
            "title": _("Organisation"),
            "icon": "domain",
            "link": reverse("admin:accounts_tenant_change", args=[tenant.pk]),
        }
    ]


def sidebar_navigation(request) -> list[dict]:
    """Unfold's SIDEBAR["navigation"]: the groups, each with the items this user may see
    (a group with none is left out)."""

    def models(*items):
        return [item for item in (_model_item(request, *spec) for spec in items) if item]

    groups = [
        (
            _("Overview"),
            [
                {"title": _("Dashboard"), "icon": "dashboard", "link": reverse("admin:index")},
                _page_item(_("Reports"), "analytics", "reports:report", "/admin/reports/"),
                *_organisation_item(request),
            ],
        ),
        (
            _("Messages"),
            models(
                (_("Push messages"), "notifications", "notifications.message"),
                (_("SMS sends"), "sms", "sms.smsmessage"),
                (_("Omni messages"), "alt_route", "scenarios.omnimessage"),
                (_("Scenarios"), "account_tree", "scenarios.scenario"),
            ),
        ),
        (
            _("Send"),
            [
                _page_item(_("Send an SMS"), "send", "console:sms", "/admin/send/sms/"),
                _page_item(_("Send a push"), "send_to_mobile", "console:push", "/admin/send/push/"),
                _page_item(_("Send by scenario"), "forward_to_inbox", "console:omni", "/admin/send/omni/"),
            ]
            if is_tenant_staff(request)
            else [],
        ),
        (
            _("Audience"),
            models(
                (_("Apps"), "apps", "devices.app"),
                (_("Users"), "group", "devices.enduser"),
                (_("Devices"), "smartphone", "devices.device"),
            ),
        ),
        (
            _("Senders & blacklist"),
            models(
                (_("Sender names"), "badge", "sms.sendername"),
                (_("Blacklist"), "block", "sms.blacklistednumber"),
            ),
        ),
        (
            _("Developers"),
            models(
                (_("API keys"), "key", "accounts.apikey"),
                (_("Webhook endpoints"), "webhook", "webhooks.webhookendpoint"),
                (_("Webhook deliveries"), "outbox", "webhooks.webhookdelivery"),
            ),
        ),
        (
            _("Billing"),
            models(
                (_("Account"), "account_balance_wallet", "billing.billingaccount"),
                (_("Ledger"), "receipt_long", "billing.ledgerentry"),
                (_("Invoices"), "request_quote", "billing.invoice"),
                (_("Account type switches"), "swap_horiz", "billing.switchrequest"),
            ),
        ),
        (
            _("Platform"),
            models(
                (_("Tenants"), "domain", "accounts.tenant"),
                (_("Admin users"), "manage_accounts", "accounts.user"),
                (_("Tariffs"), "sell", "billing.tariff"),
                (_("SMS routes"), "cell_tower", "sms.smsroute"),
                (_("Periodic tasks"), "schedule", "django_celery_beat.periodictask"),
            )
            if is_platform_admin(request)
            else [],
        ),
    ]
    return [{"title": title, "separator": True, "items": items} for title, items in groups if items]
