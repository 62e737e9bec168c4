"""Thin, repeatable webhook tasks: beat's tick, and the send of one chunk."""

from __future__ import annotations

from celery import shared_task

from notifications.webhooks import consumer, delivery, services


@shared_task(name="notifications.webhooks.tasks.webhooks_tick")
def webhooks_tick() -> int:
    """Beat: turn waiting status events into deliveries, and send the due ones (first
    attempts, retries, lost work): the first chunk right here, saving a queue hop, the
    others by send tasks. Returns how many deliveries were due."""
    consumer.webhooks_consume()
    chunks = delivery.deliveries_due()
    for chunk in chunks[1:]:
        webhooks_send.delay(chunk)
    if chunks:
        delivery.deliveries_send(delivery_ids=chunks[0])
    return sum(len(chunk) for chunk in chunks)


@shared_task(name="notifications.webhooks.tasks.webhooks_send")
def webhooks_send(delivery_ids: list[int]) -> dict[str, int]:
    return delivery.deliveries_send(delivery_ids=delivery_ids)


@shared_task(name="notifications.webhooks.tasks.webhooks_purge")
def webhooks_purge() -> int:
    return services.deliveries_purge()
