"""Fan-out: a queued push becomes one Delivery row per device, written in pages.

To-user and to-device messages are fanned out together (one INSERT ... SELECT for a
claimed group); a broadcast is paged by device id, each page committed with its cursor,
and each page goes to a send task (``notifications.push.send``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from devices.models import Device
from notifications.core.status import DeliveryStatus
from notifications.models import Delivery, Message, MessageKind, MessageState
from notifications.push.pricing import push_release_unwritten

FANOUT_CHUNK = 500  # devices per send task: FCM's send_each limit, and one bulk write each
FANOUT_CLAIM_BATCH = 200  # queued messages one fan-out task takes (to-user ones are fanned out together)


def dispatch_grace() -> timedelta:
    """A new delivery is due this long after creation: its send task normally claims it
    at once; if that task was lost (process died between commit and enqueue, or a broker
    message is stuck with a dead worker), the sweeper sends it after this grace."""
    return timedelta(seconds=settings.PUSH_DISPATCH_GRACE_SECONDS)


def sending_lease() -> timedelta:
    """A delivery claimed ('sending') for longer than this belongs to a dead worker: it is
    sent again, with the same collapse id, so the device replaces rather than stacks."""
    return timedelta(seconds=settings.PUSH_SENDING_LEASE_SECONDS)


def messages_claim_queued(*, limit: int = FANOUT_CLAIM_BATCH) -> list[str]:
    """Claim up to ``limit`` queued messages for this worker, oldest first: unclaimed ones
    and ones whose claim is older than the sending lease (their worker died). One
    conditional UPDATE: two workers never claim one message."""
    now = timezone.now()
    claimable = Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - sending_lease())
    candidates = list(
        Message.objects.filter(claimable, state=MessageState.QUEUED)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    if not candidates:
        return []
    claim = uuid.uuid4()
    Message.objects.filter(claimable, pk__in=candidates, state=MessageState.QUEUED).update(claim=claim, claimed_at=now)
    mine = Message.objects.filter(pk__in=candidates, claim=claim).order_by("created_at")
    return [str(pk) for pk in mine.values_list("pk", flat=True)]


def messages_queued_waiting() -> bool:
    """Queued messages nobody holds a live claim on, older than the dispatch grace."""
    now = timezone.now()
    return (
        Message.objects.filter(state=MessageState.QUEUED, created_at__lt=now - dispatch_grace())
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - sending_lease()))
        .exists()
    )


def audience_of(message: Message):
    """The active devices a message goes to (a broadcast's filters applied)."""
    devices = Device.objects.filter(tenant_id=message.tenant_id, is_active=True)
    if message.kind == MessageKind.TO_USER:
        devices = devices.filter(end_user_id=message.end_user_id)
        if message.app_id:
            devices = devices.filter(app_id=message.app_id)
        return devices.filter(platform=message.platform) if message.platform else devices
    if message.kind == MessageKind.TO_DEVICE:
        return devices.filter(pk=message.device_id)
    devices = devices.filter(app_id=message.app_id)
    if message.filters.get("country"):
        devices = devices.filter(country=message.filters["country"])
    if message.filters.get("platform"):
        devices = devices.filter(platform=message.filters["platform"])
    return devices


# Deliveries of a claimed group of to-user and to-device messages, written by one statement.
_FAN_OUT_DIRECT = (
    "INSERT INTO notifications_delivery (message_id, device_id, status, error, attempts, next_attempt_at,"
    " provider_message_id, updated_at)"
    " SELECT message_id, device_id, %s, '', 0, %s, '', %s FROM (SELECT message_id, device_id, paid,"
    # A priced message writes no more deliveries than it paid for.
    " row_number() OVER (PARTITION BY message_id ORDER BY device_id) AS n FROM ("
    " SELECT m.id AS message_id, d.id AS device_id, m.paid_deliveries AS paid FROM notifications_message m"
    " JOIN devices_device d ON d.end_user_id = m.end_user_id AND d.tenant_id = m.tenant_id"
    " WHERE m.id IN ({ids}) AND m.state = %s AND m.kind = %s AND d.is_active"
    # An omni push step narrows a to-user push to one app (and platform).
    " AND (m.app_id IS NULL OR d.app_id = m.app_id) AND (m.platform = '' OR d.platform = m.platform)"
    " UNION ALL"
    " SELECT m.id, d.id, m.paid_deliveries FROM notifications_message m"
    " JOIN devices_device d ON d.id = m.device_id AND d.tenant_id = m.tenant_id"
    " WHERE m.id IN ({ids}) AND m.state = %s AND m.kind = %s AND d.is_active"
    ") AS audience) AS numbered WHERE paid IS NULL OR n <= paid"
    " ON CONFLICT (message_id, device_id) DO NOTHING RETURNING id"
)
_DIRECT_KINDS = (MessageKind.TO_USER, MessageKind.TO_DEVICE)


def messages_fan_out_direct(*, message_ids: list[str]) -> tuple[list[int], set[str]]:
    """Fan out the to-user and to-device messages among ``message_ids`` together: their
    deliveries in one INSERT ... SELECT, the messages marked dispatched in one UPDATE, one
    transaction. Returns (new delivery ids, the messages handled); broadcasts are left to
    ``message_fan_out``. Repeatable: a message already dispatched gets nothing more, and
    a (message, device) pair is never written twice."""
    direct = set(
        str(pk)
        for pk in Message.objects.filter(
            pk__in=message_ids, state=MessageState.QUEUED, kind__in=_DIRECT_KINDS
        ).values_list("pk", flat=True)
    )
    if not direct:
        return [], set()
    now = timezone.now()
    due = connection.ops.adapt_datetimefield_value(now + dispatch_grace())
    pks = [Message._meta.pk.get_db_prep_value(uuid.UUID(pk), connection) for pk in direct]
    marks = ", ".join(["%s"] * len(pks))
    queued = MessageState.QUEUED.value
    params = [DeliveryStatus.PENDING.value, due, connection.ops.adapt_datetimefield_value(now)]
    params += [*pks, queued, MessageKind.TO_USER.value, *pks, queued, MessageKind.TO_DEVICE.value]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_FAN_OUT_DIRECT.format(ids=marks), params)
        delivery_ids = [row[0] for row in cursor.fetchall()]
        per_message = (
            Delivery.objects.filter(message_id=OuterRef("pk")).values("message_id").annotate(n=Count("pk")).values("n")
        )
        Message.objects.filter(pk__in=direct, state=MessageState.QUEUED).update(
            state=MessageState.DISPATCHED, total_deliveries=Coalesce(Subquery(per_message), 0)
        )
        _release_unwritten(Message.objects.filter(pk__in=direct, paid_deliveries__gt=F("total_deliveries")))
    return delivery_ids, direct


def _release_unwritten(messages) -> None:
    """Priced messages that wrote fewer deliveries than they paid for (devices gone since
    they were accepted): release the difference, in the transaction that dispatched them."""
    for tenant_id, pk, unit_price, paid, total in messages.values_list(
        "tenant_id", "pk", "unit_price", "paid_deliveries", "total_deliveries"
    ):
        push_release_unwritten(tenant_id=tenant_id, message_id=pk, unit_price=unit_price, unwritten=paid - total)


class Page(NamedTuple):
    """A committed page of deliveries, written already claimed for the one send task
    that gets it (``send.deliveries_send(delivery_ids=ids, claim=claim)``)."""

    ids: list[int]
    claim: uuid.UUID


def message_fan_out(*, message_id: str) -> Iterator[Page]:
    """Write the message's deliveries page by page, yielding each committed page for the
    caller to send.

    Resumable: each page commits its rows together with ``fanout_cursor``, so a
    redelivered task continues after the last committed page and writes nothing twice.
    A page's rows are written 'sending' under the page's claim, so its send task takes
    them without writing them a second time (``claims.claimed_rows``); a page whose send
    task is lost (the caller died before handing it over) is a dead worker's claim: the
    sweeper makes it pending again once the sending lease has run out, and sends it.
    """
    message = Message.objects.filter(pk=message_id).first()
    if message is None or message.state == MessageState.DISPATCHED:
        return
    # Named device_id in the page's SQL, which _page_write selects from.
    audience = audience_of(message).annotate(device_id=F("pk")).order_by("pk").values_list("device_id", flat=True)
    while True:
        with transaction.atomic():
            locked = Message.objects.select_for_update().filter(pk=message.pk, state=MessageState.QUEUED).first()
            if locked is None:
                return
            page = FANOUT_CHUNK
            if locked.paid_deliveries is not None:  # priced: no more than it paid for
                page = min(page, locked.paid_deliveries - locked.total_deliveries)
            claim = uuid.uuid4()
            devices = audience.filter(pk__gt=locked.fanout_cursor)[: max(page, 0)]
            written = _page_write(message=message, devices=devices, claim=claim)
            if not written:
                Message.objects.filter(pk=message.pk).update(state=MessageState.DISPATCHED)
                _release_unwritten(Message.objects.filter(pk=message.pk, paid_deliveries__gt=F("total_deliveries")))
                return
            Message.objects.filter(pk=message.pk).update(
                fanout_cursor=max(device_id for _, device_id in written),
                total_deliveries=F("total_deliveries") + len(written),
            )
        yield Page([delivery_id for delivery_id, _ in written], claim)


# A page of a broadcast's deliveries, written by one INSERT ... SELECT from its audience
# (Django's SQL for the page of device ids): no row of it passes through Python but its
# id. The page's devices have no delivery of this message yet (the cursor is past every
# committed page, and the page is written under the message's row lock). The rows are
# born claimed (first attempt, 'sending' under the page's claim): claiming them in the
# send task would write each row once more, with all its index entries.
_PAGE_INSERT = (
    "INSERT INTO notifications_delivery (message_id, device_id, status, error, attempts, next_attempt_at,"
    " claim, claimed_at, provider_message_id, updated_at)"
    " SELECT %s, page.device_id, %s, '', 1, NULL, %s, %s, '', %s FROM ({devices}) AS page"
    " RETURNING id, device_id"
)


def _page_write(*, message: Message, devices, claim: uuid.UUID) -> list[tuple[int, int]]:
    """Write a delivery of ``message`` for each device of the ``devices`` queryset (a
    page of ids), claimed under ``claim``; (delivery id, device id) of each, in no
    particular order."""
    try:
        devices_sql, devices_params = devices.query.sql_with_params()
    except EmptyResultSet:  # a page of none (a priced message already has all it paid for)
        return []
    now = timezone.now()
    at = connection.ops.adapt_datetimefield_value(now)
    params = [
        Message._meta.pk.get_db_prep_value(message.pk, connection),
        DeliveryStatus.SENDING.value,
        Delivery._meta.get_field("claim").get_db_prep_value(claim, connection),
        at,
        at,
        *devices_params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(_PAGE_INSERT.format(devices=devices_sql), params)
        return list(cursor.fetchall())
