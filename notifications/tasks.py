"""Thin, repeatable tasks: they take ids, and the services claim rows before acting."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from notifications.core import events
from notifications.push import fanout, send

FAN_OUT_ROUNDS = 10  # claim batches one task takes before handing over to a fresh task


@shared_task(name="notifications.tasks.message_fan_out")
def message_fan_out(message_id: str) -> int:
    """Write deliveries and hand each page to a send task. A send with a single page
    (every to-user and to-device send) is delivered right here, saving a queue hop."""
    held: fanout.Page | None = None
    pages = 0
    for page in fanout.message_fan_out(message_id=message_id):
        pages += 1
        if held is not None:
            deliveries_send.delay(held.ids, str(held.claim))
        held = page
        if pages > 1:
            deliveries_send.delay(held.ids, str(held.claim))
            held = None
    if held is not None:
        send.deliveries_send(delivery_ids=held.ids, claim=held.claim)
    return pages


@shared_task(name="notifications.tasks.messages_fan_out_queued")
def messages_fan_out_queued() -> int:
    """Fan out the queued messages this worker can claim (woken by notifications.push.kick)."""
    total = 0
    for _ in range(FAN_OUT_ROUNDS):
        claimed = fanout.messages_claim_queued()
        delivery_ids, handled = fanout.messages_fan_out_direct(message_ids=claimed)
        for message_id in claimed:
            if message_id not in handled:
                message_fan_out(message_id)  # a broadcast: paged
        chunk = fanout.FANOUT_CHUNK
        for start in range(0, len(delivery_ids), chunk):
            send.deliveries_send(delivery_ids=delivery_ids[start : start + chunk])
        total += len(claimed)
        if not claimed:
            return total
    messages_fan_out_queued.delay()  # more waiting: hand over rather than hog this worker
    return total


@shared_task(name="notifications.tasks.deliveries_send")
def deliveries_send(delivery_ids: list[int], claim: str | None = None) -> dict[str, int]:
    """Pending deliveries, or with ``claim`` a fan-out page written claimed under it."""
    return send.deliveries_send(delivery_ids=delivery_ids, claim=claim)


@shared_task(name="notifications.tasks.deliveries_dispatch_due")
def deliveries_dispatch_due() -> int:
    if fanout.messages_queued_waiting():
        messages_fan_out_queued.delay()  # a kick lost with a dying web process
    chunks = send.deliveries_due()
    for chunk in chunks:
        deliveries_send.delay(chunk)
    return sum(len(chunk) for chunk in chunks)


@shared_task(name="notifications.tasks.events_purge")
def events_purge() -> int:
    """Beat, hourly: status events past their retention, in bounded batches."""
    return events.events_purge(older_than=timedelta(days=settings.EVENT_RETENTION_DAYS))
