"""Thin, repeatable tasks: they take ids, and the services claim rows before acting."""

from __future__ import annotations

from celery import shared_task

from notifications import services


@shared_task(name="notifications.tasks.message_fan_out")
def message_fan_out(message_id: str) -> int:
    """Write deliveries and hand each page to a send task. A send with a single page
    (every to-user and to-device send) is delivered right here, saving a queue hop."""
    held: list[int] | None = None
    pages = 0
    for page in services.message_fan_out(message_id=message_id):
        pages += 1
        if held is not None:
            deliveries_send.delay(held)
        held = page
        if pages > 1:
            deliveries_send.delay(held)
            held = None
    if held is not None:
        services.deliveries_send(delivery_ids=held)
    return pages


@shared_task(name="notifications.tasks.deliveries_send")
def deliveries_send(delivery_ids: list[int]) -> dict[str, int]:
    return services.deliveries_send(delivery_ids=delivery_ids)


@shared_task(name="notifications.tasks.deliveries_dispatch_due")
def deliveries_dispatch_due() -> int:
    chunks = services.deliveries_due()
    for chunk in chunks:
        deliveries_send.delay(chunk)
    return sum(len(chunk) for chunk in chunks)
