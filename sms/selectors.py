"""Tenant-scoped reads for SMS sends, their numbers and statistics."""

from __future__ import annotations

import uuid

from django.db.models import Count, Sum

from accounts.models import Tenant
from notifications.core.status import public_status
from sms.models import BlacklistedNumber, SmsMessage, SmsRecipient
from softafrik.errors import NotFound

RECIPIENTS_PAGE = 1000


def sms_message_get(*, tenant: Tenant, ref: str, field: str = "ref") -> SmsMessage:
    """The tenant's send ``ref``; another tenant's or a malformed ref is simply not found."""
    try:
        key = uuid.UUID(str(ref))
    except ValueError:
        raise NotFound("Unknown reference.", field=field) from None
    message = SmsMessage.objects.filter(pk=key, tenant=tenant).first()
    if message is None:
        raise NotFound("Unknown reference.", field=field)
    return message


def sms_recipients(*, message: SmsMessage, after: int | None = None, limit: int = RECIPIENTS_PAGE) -> list[dict]:
    """One page of the send's numbers in id order: id, number, status (public), error, parts, updated_at."""
    rows = SmsRecipient.objects.filter(message=message).order_by("pk")
    if after is not None:
        rows = rows.filter(pk__gt=after)
    page = list(rows.values("id", "number", "status", "error", "parts", "updated_at")[:limit])
    for row in page:
        row["status"] = public_status(row["status"])
    return page


def sms_counts(*, message: SmsMessage) -> dict[str, int]:
    """Numbers per public status: pending, sent, failed, delivered."""
    counts = dict.fromkeys(("pending", "sent", "failed", "delivered"), 0)
    for row in SmsRecipient.objects.filter(message=message).values("status").annotate(n=Count("pk")).order_by():
        counts[public_status(row["status"])] += row["n"]
    return counts


def sms_category_stats(*, tenant: Tenant, category: str | None = None, campaign_name: str | None = None) -> list[dict]:
    """Per category: numbers per public status (and the credits used)."""
    recipients = SmsRecipient.objects.filter(tenant=tenant)
    messages = SmsMessage.objects.filter(tenant=tenant)
    if category is not None:
        recipients = recipients.filter(message__category=category)
        messages = messages.filter(category=category)
    if campaign_name is not None:
        recipients = recipients.filter(message__campaign_name=campaign_name)
        messages = messages.filter(campaign_name=campaign_name)
    stats: dict[str, dict] = {}
    for row in recipients.values("message__category", "status").annotate(n=Count("pk")).order_by():
        entry = stats.setdefault(
            row["message__category"],
            {
                "category": row["message__category"],
                "credits": 0,
                **dict.fromkeys(("pending", "sent", "failed", "delivered"), 0),
            },
        )
        entry[public_status(row["status"])] += row["n"]

    for row in messages.values("category").annotate(credits=Sum("credits")).order_by():
        if row["category"] in stats:
            stats[row["category"]]["credits"] = row["credits"] or 0
    return sorted(stats.values(), key=lambda entry: entry["category"])


def blacklist_numbers(*, tenant: Tenant) -> list[str]:
    return list(BlacklistedNumber.objects.filter(tenant=tenant).order_by("number").values_list("number", flat=True))


BLACKLIST_LOOKUP_CHUNK = 5000  # numbers per IN (...) query: a bulk send can hold 100,000


def blacklisted_among(*, tenant: Tenant, numbers: list[str]) -> set[str]:
    """The numbers of ``numbers`` on the tenant's blacklist. Most blacklists are short:
    one read of up to BLACKLIST_LOOKUP_CHUNK entries settles them; a longer one is
    looked up a chunk of ``numbers`` at a time."""
    entries = BlacklistedNumber.objects.filter(tenant=tenant).values_list("number", flat=True)
    whole = list(entries[: BLACKLIST_LOOKUP_CHUNK + 1])
    if len(whole) <= BLACKLIST_LOOKUP_CHUNK:
        return set(whole).intersection(numbers)
    blocked: set[str] = set()
    for start in range(0, len(numbers), BLACKLIST_LOOKUP_CHUNK):
        blocked.update(entries.filter(number__in=numbers[start : start + BLACKLIST_LOOKUP_CHUNK]))
    return blocked


def recipients_billing(*, ids: list[int]) -> dict[int, tuple]:
    """What billing needs of numbers that ended: {id: (tenant id, send id, price, parts,
    number, sender)}."""
    rows = SmsRecipient.objects.filter(pk__in=ids).values_list(
        "pk", "tenant_id", "message_id", "price", "parts", "number", "message__sender"
    )
    return {row[0]: row[1:] for row in rows}
