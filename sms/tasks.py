"""Thin, repeatable SMS tasks: ids in, services do the claiming."""

from __future__ import annotations

from celery import shared_task

from sms import campaigns, delivery, receipts


@shared_task(name="sms.tasks.sms_dispatch")
def sms_dispatch(message_id: str, queue: str | None = None) -> int:
    """Hand a send's due numbers to send tasks; a single chunk is sent right here. A send
    dispatched on ``queue`` (an omni fallback, on the timers queue) keeps its chunks there."""
    chunks = delivery.sms_dispatch(message_id=message_id)
    if len(chunks) == 1:
        delivery.sms_send_chunk(recipient_ids=chunks[0])
        return 1
    for chunk in chunks:
        sms_send_chunk.apply_async((chunk,), queue=queue) if queue else sms_send_chunk.delay(chunk)
    return len(chunks)


@shared_task(name="sms.tasks.sms_send_chunk")
def sms_send_chunk(recipient_ids: list[int]) -> dict[str, int]:
    return delivery.sms_send_chunk(recipient_ids=recipient_ids)


@shared_task(name="sms.tasks.sms_tick")
def sms_tick() -> int:
    """Beat: release due campaign batches, dispatch due numbers (scheduled, retries, lost
    work), apply waiting receipts."""
    for message_id in campaigns.campaigns_due():
        campaigns.campaign_release(message_id=message_id)
    chunks = delivery.recipients_due()
    for chunk in chunks:
        sms_send_chunk.delay(chunk)
    receipts.receipts_sweep()
    return sum(len(chunk) for chunk in chunks)
