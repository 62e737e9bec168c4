"""Reads of the money side, scoped by tenant."""

from __future__ import annotations

from django.db.models import Sum

from billing import money
from billing.models import Book, EntryKind, LedgerEntry
from billing.services import account_unit


def reserved_for(*, tenant_id: int, references: list[str]) -> int:
    """What the sends ``references`` reserved when accepted (minor units)."""
    total = LedgerEntry.objects.filter(
        account__tenant_id=tenant_id, book=Book.RESERVED, kind=EntryKind.RESERVE, reference__in=references
    ).aggregate(total=Sum("amount"))["total"]
    return total or 0


def cost_shown(*, tenant_id: int, amount: int) -> dict[str, str]:
    """A send's charge as the API answers show it: {"cost": "1.00", "unit": "credits"}."""
    unit = account_unit(tenant_id=tenant_id)
    return {"cost": money.amount_str(amount, unit=unit), "unit": unit}
