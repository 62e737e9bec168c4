"""Reads of the money side, scoped by tenant."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce, TruncDate

from billing import money
from billing.models import Book, Charge, EntryKind, LedgerEntry, Tariff
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


# --- What the account API and the admin show ---------------------------------------------

USAGE_MAX_DAYS = 366  # one aggregate over at most a year of one account's charges


def account_usage(*, account_id: int, zone: ZoneInfo, start: date, end: date) -> list[dict]:
    """Per day (in ``zone``) and channel, from ``start`` to ``end`` inclusive: the
    recipients settled (``settled_count``, their ``quantity``, parts or deliveries, and
    ``amount``) and released (``released_count``). One aggregate query over the account's
    charges; days without any are absent."""
    since = datetime.combine(start, time.min, tzinfo=zone)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone)
    settled = Q(settled=True)
    return list(
        Charge.objects.filter(account_id=account_id, at__gte=since, at__lt=until)
        .annotate(day=TruncDate("at", tzinfo=zone))
        .values("day", "channel")
        .annotate(
            settled_count=Count("pk", filter=settled),
            quantity=Coalesce(Sum("quantity", filter=settled), 0),
            amount=Coalesce(Sum("amount", filter=settled), 0),
            released_count=Count("pk", filter=~settled),
        )
        .order_by("day", "channel")
    )


def ledger_page(
    *, account_id: int, limit: int, after: int | None = None, book: str | None = None
) -> tuple[list[LedgerEntry], int | None]:
    """The account's entries newest first, ``limit`` of them with ids below ``after``,
    and the cursor of the next page (None: this is the last)."""
    entries = LedgerEntry.objects.filter(account_id=account_id)
    if after is not None:
        entries = entries.filter(pk__lt=after)
    if book:
        entries = entries.filter(book=book)
    rows = list(entries.order_by("-pk")[: limit + 1])
    next_cursor = rows[limit - 1].pk if len(rows) > limit else None
    return rows[:limit], next_cursor


def topup_credited(*, account_id: int, reference: str) -> bool:
    """Whether the top-up ``reference`` (a payment's id) was credited already (what
    ``billing.services.account_topup`` writes it as: it credits each reference once)."""
    return LedgerEntry.objects.filter(
        account_id=account_id, book=Book.AVAILABLE, kind=EntryKind.TOPUP, reference=f"topup:{reference}"
    ).exists()


def platform_tariffs() -> list[Tariff]:
    """The platform's price list (the tariffs of no tenant), as the public site shows it:
    by channel, unit and prefix. A tenant's own prices are never in it."""
    return list(Tariff.objects.filter(tenant__isnull=True).order_by("channel", "unit", "prefix"))
