"""Spread campaigns (ION MULDESP): release numbers in batches, within the daily cap.

Between ``window_start`` and ``window_end``, every ``interval_minutes`` beat releases a
batch (its recipients become due now); no day gets more than ``per_day``, days being the
tenant's (its ``timezone``). The batch size spreads ``per_day`` over the day's intervals.
A release locks the campaign row and moves ``next_batch_at`` in the same transaction, so
two beats or a repeated tick never release a batch twice. Numbers still unreleased when
the window closes end failed, with their status events.
"""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import models, transaction
from django.db.models import Count, Q
from django.utils import timezone

from billing.services import INSUFFICIENT, InsufficientBalance, account_unit, charge_reserve
from notifications.core.status import DeliveryStatus
from sms.models import SmsKind, SmsMessage, SmsRecipient, SmsState
from sms.pricing import sms_prices
from sms.services import recipients_fail_waiting
from softafrik.bulk import values_update

MINUTES_PER_DAY = 24 * 60
WINDOW_CLOSED = "campaign window closed before this number's turn"
SUSPENDED_RETRY = timedelta(seconds=30)  # a suspended campaign tries its batch again this often


def campaign_batch_size(*, per_day: int, interval_minutes: int) -> int:
    batches_per_day = max(1, math.ceil(MINUTES_PER_DAY / interval_minutes))
    return max(1, math.ceil(per_day / batches_per_day))


def campaigns_due() -> list[str]:
    now = timezone.now()
    return [
        str(pk)
        for pk in SmsMessage.objects.filter(
            kind=SmsKind.CAMPAIGN, state=SmsState.ACTIVE, next_batch_at__lte=now
        ).values_list("pk", flat=True)
    ]


def campaign_release(*, message_id: str) -> list[int]:
    """Release the campaign's next batch if it is due; returns the released recipient ids."""
    now = timezone.now()
    with transaction.atomic():
        campaign = (
            SmsMessage.objects.select_for_update(of=("self",))
            .select_related("tenant")
            .filter(pk=message_id, kind=SmsKind.CAMPAIGN, state=SmsState.ACTIVE, next_batch_at__lte=now)
            .first()
        )
        if campaign is None:
            return []
        waiting = SmsRecipient.objects.filter(
            message=campaign, status=DeliveryStatus.PENDING, next_attempt_at__isnull=True
        )
        if now >= campaign.window_end:
            # Numbers a suspended campaign could not pay end "solde insuffisant", uncharged.
            error = INSUFFICIENT if campaign.suspended_at else WINDOW_CLOSED
            recipients_fail_waiting(message=campaign, error=error, unreleased_only=True)
            SmsMessage.objects.filter(pk=campaign.pk).update(state=SmsState.DONE, next_batch_at=None)
            return []
        zone = ZoneInfo(campaign.tenant.timezone or "UTC")
        today = now.astimezone(zone).date()  # the daily cap counts the tenant's days
        released_today = campaign.released_today if campaign.released_day == today else 0
        size = min(
            campaign_batch_size(per_day=campaign.per_day, interval_minutes=campaign.interval_minutes),
            campaign.per_day - released_today,
        )
        batch = list(waiting.order_by("pk").values_list("pk", "number")[: max(0, size)])
        ids = [pk for pk, _ in batch]
        if batch and not _batch_pay(campaign=campaign, batch=batch, now=now):
            return []
        remaining = waiting.exclude(pk__in=ids).exists() if ids else waiting.exists()
        if not remaining:
            next_at, state = None, SmsState.DONE
        elif released_today + len(ids) >= campaign.per_day:
            # Today's cap is reached: the next batch waits for the tenant's next midnight.
            tomorrow = datetime.combine(today + timedelta(days=1), time.min, tzinfo=zone)
            next_at, state = max(tomorrow, now + timedelta(minutes=campaign.interval_minutes)), SmsState.ACTIVE
        else:
            next_at, state = now + timedelta(minutes=campaign.interval_minutes), SmsState.ACTIVE
        SmsMessage.objects.filter(pk=campaign.pk).update(
            next_batch_at=next_at, state=state, released_day=today, released_today=released_today + len(ids)
        )
    return ids


def _batch_pay(*, campaign: SmsMessage, batch: list[tuple[int, str]], now: datetime) -> bool:
    """Reserve the batch's price and release its numbers (due now, each with its price).
    The balance cannot pay it all: the campaign is suspended ("les envois sont
    suspendus") and tries again every SUSPENDED_RETRY, so it resumes by itself once the
    account is topped up. Returns whether the batch went."""
    prices = sms_prices(tenant=campaign.tenant, numbers=[number for _, number in batch], parts=campaign.parts)
    amount = sum(prices.values())
    try:
        with transaction.atomic():
            charge_reserve(
                tenant_id=campaign.tenant_id,
                unit=account_unit(tenant_id=campaign.tenant_id),
                amount=amount,
                reference=f"sms:{campaign.pk}:batch:{batch[0][0]}",
                quantity=campaign.parts * len(batch),
                at=now,
            )
    except InsufficientBalance:
        SmsMessage.objects.filter(pk=campaign.pk).update(
            suspended_at=campaign.suspended_at or now, next_batch_at=now + SUSPENDED_RETRY
        )
        return False
    values_update(
        table=SmsRecipient._meta.db_table,
        key="id",
        columns=[("id", "bigint"), ("next_attempt_at", "timestamptz"), ("price", "bigint")],
        rows=[(pk, now, prices[number]) for pk, number in batch],
    )
    SmsMessage.objects.filter(pk=campaign.pk).update(suspended_at=None, amount=models.F("amount") + amount)
    return True


def campaign_progress(*, message: SmsMessage) -> dict[str, int]:
    """Counts per status, plus numbers not yet released ('scheduled')."""
    counts = SmsRecipient.objects.filter(message=message).aggregate(
        sent=Count("pk", filter=Q(status__in=[DeliveryStatus.SENT, DeliveryStatus.DELIVERED])),
        delivered=Count("pk", filter=Q(status=DeliveryStatus.DELIVERED)),
        failed=Count("pk", filter=Q(status=DeliveryStatus.FAILED)),
        pending=Count("pk", filter=Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING])),
        scheduled=Count("pk", filter=Q(status=DeliveryStatus.PENDING, next_attempt_at__isnull=True)),
    )
    return counts
