"""What the billing commands share: finding the tenant's account, reading amounts, printing it."""

from __future__ import annotations

from django.core.management.base import CommandError

from accounts.selectors import tenant_get_by_name
from billing import money
from billing.models import BillingAccount
from billing.services import account_ensure


def account_for(tenant_name: str) -> BillingAccount:
    """The named tenant's account (created on first need); CommandError for an unknown tenant."""
    tenant = tenant_get_by_name(name=tenant_name)
    if tenant is None:
        raise CommandError(f"No tenant named {tenant_name!r}.")
    return account_ensure(tenant_id=tenant.pk)


def amount_option(text: str, *, unit: str, option: str) -> int:
    """``text`` in minor units of ``unit``; CommandError naming ``option`` otherwise."""
    try:
        return money.amount_parse(text, unit=unit)
    except money.InvalidAmount as exc:
        raise CommandError(f"{option}: {exc}.") from exc


def account_lines(account: BillingAccount) -> list[str]:
    unit = account.unit

    def shown(minor: int | None) -> str:
        return "none" if minor is None else f"{money.amount_str(minor, unit=unit)} {unit}"

    return [
        f"Account of {account.tenant.name}: {account.type}, in {unit}",
        f"  balance: {shown(account.balance)}",
        f"  reserved: {shown(account.reserved)}",
        f"  credit limit: {shown(account.credit_limit)}",
        f"  low-balance threshold: {shown(account.low_balance_threshold)}"
        + (" (below it)" if account.low_balance_alerted_at else ""),
    ]
