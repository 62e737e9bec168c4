"""The dashboard on the admin's first page (``{% reports_dashboard %}`` in
templates/admin/index.html) and how its figures are written."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext_lazy as _

from billing import money
from billing.models import AccountType, BillingAccount
from reports import charts
from reports.selectors import CHANNELS, PERIODS, dashboard_figures

register = template.Library()

PERIOD_LABELS = {"today": _("Today"), "7d": _("Last 7 days"), "30d": _("Last 30 days")}


@register.inclusion_tag("reports/dashboard.html", takes_context=True)
def reports_dashboard(context) -> dict:
    """The figures of the user's tenant (a superuser's: the tenant chosen with ?tenant=)."""
    # Imported here: the template engine loads this library while the admin's modules
    # are still importing (unfold renders a widget at class definition).
    from reports.access import report_tenant

    request = context["request"]
    tenant, tenants = report_tenant(request)
    if tenant is None:
        return {"tenant": None, "tenants": tenants}
    figures = dashboard_figures(tenant=tenant)
    summary = context.get("billing_account")  # billing's context processor: the staff's own account, read once
    if summary is not None and summary.tenant_id == tenant.pk:
        account = summary.account
    else:
        account = BillingAccount.objects.filter(tenant=tenant).first()
    return {
        "tenant": tenant,
        "tenants": tenants,
        "dash": figures,
        "unit": account.unit if account else money.CREDITS,
        "postpaid": account is not None and account.type == AccountType.POSTPAID,
        "periods": [
            (key, PERIOD_LABELS[key], [(channel, figures.periods[key][channel]) for channel in CHANNELS])
            for key, _ in PERIODS
        ],
        "day_chart": charts.day_chart(figures.days),
        "country_chart": charts.rank_chart(figures.countries),
        "sender_chart": charts.rank_chart([(f"{label} ({channel})", f) for channel, label, f in figures.senders]),
    }


@register.filter
def rate(value: float | None) -> str:
    """0.9234 -> "92.3 %"; "—" when nothing had an outcome."""
    return "—" if value is None else f"{value * 100:.1f} %"


@register.filter
def p50(seconds: int | None) -> str:
    """The median's bucket bound: "≤ 5 s", "≤ 2 min", "≤ 6 h", "> 6 h"; "—" when none."""
    if seconds is None:
        return "—"
    if seconds < 0:
        return "> 6 h"
    if seconds < 60:
        return f"≤ {seconds} s"
    if seconds < 3600:
        return f"≤ {seconds // 60} min"
    return f"≤ {seconds // 3600} h"


@register.filter
def amount(minor: int, unit: str) -> str:
    return money.amount_str(minor, unit=unit) or "0"
