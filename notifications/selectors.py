"""Tenant-scoped reads for push messages, deliveries and the inbox."""

from __future__ import annotations

import uuid

from django.db.models import Count, Subquery

from accounts.models import Tenant
from devices.models import EndUser
from devices.selectors import end_user_get
from notifications.core.status import public_status
from notifications.models import Delivery, InboxEntry, Message
from softafrik.errors import NotFound

INBOX_DEFAULT_LIMIT = 20
INBOX_MAX_LIMIT = 100
DELIVERIES_PAGE = 500

# 'sending' is an internal claim; clients see the documented states only.


def inbox_page(*, tenant: Tenant, puid: str, limit: int, before: int | None) -> tuple[list[dict], int | None]:
    """The user's newest-first entries older than ``before`` (an entry id); returns (rows,
    next cursor). Raises NotFound for a puid the tenant does not have.

    Keyset pagination on (end_user, id): one index range scan whatever the table size, and
    one statement (the user is a subquery); only an empty page checks that the user exists.
    """
    user = EndUser.objects.filter(tenant=tenant, puid=puid).values("pk")
    entries = InboxEntry.objects.filter(end_user_id=Subquery(user))
    if before is not None:
        entries = entries.filter(pk__lt=before)
    rows = list(entries.order_by("-pk").values("id", "title", "body", "data", "is_read", "created_at")[: limit + 1])
    if not rows:
        end_user_get(tenant=tenant, puid=puid)  # NotFound unless the user exists
    next_cursor = rows[limit - 1]["id"] if len(rows) > limit else None
    return rows[:limit], next_cursor


def message_get(*, tenant: Tenant, message_id: str) -> Message:
    try:
        key = uuid.UUID(str(message_id))
    except ValueError:
        raise NotFound("Unknown message id.", field="id") from None
    message = Message.objects.filter(pk=key, tenant=tenant).first()
    if message is None:
        raise NotFound("Unknown message id.", field="id")
    return message


def message_status(*, message: Message, after: int | None = None) -> dict:
    """The send's counts per state and one page of per-device states."""
    summary = dict.fromkeys(("pending", "sent", "failed", "delivered"), 0)
    counts = Delivery.objects.filter(message=message).values("status").annotate(n=Count("pk")).order_by()
    for row in counts:
        summary[public_status(row["status"])] += row["n"]
    deliveries = Delivery.objects.filter(message=message).order_by("pk")
    if after is not None:
        deliveries = deliveries.filter(pk__gt=after)
    page = list(
        deliveries.values(
            "id", "status", "error", "attempts", "updated_at", "device__platform", "device__device_uid", "device__token"
        )[: DELIVERIES_PAGE + 1]
    )
    more = len(page) > DELIVERIES_PAGE
    page = page[:DELIVERIES_PAGE]
    return {
        "summary": summary,
        "deliveries": page,
        "next_cursor": page[-1]["id"] if more else None,
    }


def deliveries_billing(*, ids: list[int]) -> dict[int, tuple]:
    """What billing needs of deliveries that ended: {id: (tenant id, message id, unit
    price, app name, device country)}."""
    rows = Delivery.objects.filter(pk__in=ids, message__unit_price__gt=0).values_list(
        "pk", "message__tenant_id", "message_id", "message__unit_price", "device__app__name", "device__country"
    )
    return {row[0]: row[1:] for row in rows}
