"""Whose figures a request may see: a tenant's staff its own tenant's, a platform
superuser those of the tenant it picks (``?tenant=<id>``), anyone else none."""

from __future__ import annotations

from accounts.models import Tenant
from softafrik.tenant_admin import is_platform_admin, user_tenant


def report_tenant(request, *, chosen: str | None = None) -> tuple[Tenant | None, list[Tenant]]:
    """(the tenant whose figures to show or None, the tenants a superuser may pick from).
    A superuser's unknown or malformed choice is no tenant, never an error."""
    if is_platform_admin(request):
        tenants = list(Tenant.objects.order_by("name"))
        value = chosen if chosen is not None else request.GET.get("tenant", "")
        picked = next((t for t in tenants if str(t.pk) == value.strip()), None)
        return picked, tenants
    user = request.user
    if user.is_active and user.is_staff:
        return user_tenant(request), []
    return None, []
