"""Accepting SMS sends, the part every API dialect shares.

A dialect's view validates its own field names and calls ``sms_submit``; this checks the
sender and the numbers, prices and charges the send (``sms.pricing``), writes the send
and its recipients, and queues the dispatch on commit. Delivery is in ``sms.delivery``,
spread campaigns in ``sms.campaigns``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.models import Tenant
from notifications.core.events import events_record
from notifications.core.status import WAITING_STATUSES, DeliveryStatus
from sms import encoding
from sms.models import BlacklistedNumber, SenderName, SenderStatus, SmsKind, SmsMessage, SmsRecipient, SmsState
from sms.numbers import InvalidNumber, InvalidSender, normalize_msisdn, validate_sender
from sms.pricing import sms_charge, sms_prices
from sms.selectors import blacklisted_among
from softafrik.bulk import rows_copy
from softafrik.errors import DomainError, NotFound

# A new recipient row: every column but the id and the ones that start NULL.
RECIPIENT_COLUMNS = [
    ("message_id", "uuid"),
    ("tenant_id", "bigint"),
    ("number", "varchar"),
    ("status", "varchar"),
    ("error", "varchar"),
    ("next_attempt_at", "timestamptz"),
    ("parts", "smallint"),
    ("parts_delivered", "smallint"),
    ("attempts", "smallint"),
    ("price", "bigint"),
    ("updated_at", "timestamptz"),
]
BLACKLISTED = "blacklisted: the number opted out"
CANCELLED = "cancelled"
FAIL_BATCH = 5000  # numbers one UPDATE fails (cancel, campaign window closed)


@dataclass(frozen=True)
class CampaignSpec:
    """A spread campaign (ION MULDESP): at most ``per_day`` a day, a batch every ``interval_minutes``."""

    window_start: datetime
    window_end: datetime
    per_day: int
    interval_minutes: int


@dataclass
class SmsAccepted:
    message: SmsMessage
    accepted: list[str] = field(default_factory=list)  # E.164 numbers that will be sent
    blacklisted: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (number as given, reason)


def sender_resolve(*, tenant: Tenant, sender: str | None) -> str:
    """The sender to use: the given one if approved for ``tenant``, else the default.

    Raises DomainError(field="sender") for a malformed, unknown or unapproved sender.
    """
    if not sender:
        default = SenderName.objects.filter(tenant=tenant, status=SenderStatus.APPROVED, is_default=True).first()
        if default is None:
            raise DomainError("No sender given and no default sender is approved.", field="sender")
        return default.name
    try:
        validate_sender(sender)
    except InvalidSender as exc:
        raise DomainError(f"Invalid sender: {exc}.", field="sender") from exc
    if not SenderName.objects.filter(tenant=tenant, name=sender, status=SenderStatus.APPROVED).exists():
        raise DomainError(
            f"Sender {sender!r} is not approved for this account.", field="sender", code="sender_not_approved"
        )
    return sender


def numbers_normalize(*, tenant: Tenant, numbers: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """(valid E.164 numbers without duplicates, [(invalid number, reason)])."""
    valid: dict[str, None] = {}
    invalid: list[tuple[str, str]] = []
    region = tenant.default_region or None
    for raw in numbers:
        try:
            valid[normalize_msisdn(str(raw), default_region=region)] = None
        except InvalidNumber as exc:
            invalid.append((str(raw), str(exc)))
    return list(valid), invalid


def text_segment(*, text: str) -> encoding.Segmentation:
    if not text:
        raise DomainError("The message text is empty.", field="text")
    segmentation = encoding.split(text)
    if segmentation.part_count > settings.SMS_MAX_PARTS:
        raise DomainError(
            f"The text needs {segmentation.part_count} parts; at most {settings.SMS_MAX_PARTS} are allowed.",
            field="text",
        )
    return segmentation


def sms_submit(
    *,
    tenant: Tenant,
    dialect: str,
    sender: str | None,
    numbers: list[str],
    text: str,
    single: bool = False,
    campaign_name: str = "",
    category: str = "",
    scheduled_at: datetime | None = None,
    campaign: CampaignSpec | None = None,
    message_id: uuid.UUID | None = None,
    dispatch_queue: str | None = None,
) -> SmsAccepted:
    """Accept an SMS send. Raises DomainError (field sender/number/text) and sends nothing
    when the sender is refused, the text is empty or too long, a single send's number is
    invalid, or no number of a bulk is valid. In a bulk, invalid numbers are reported in
    ``rejected`` and the valid ones go out; blacklisted ones end failed, uncharged."""
    sender = sender_resolve(tenant=tenant, sender=sender)
    segmentation = text_segment(text=text)
    valid, invalid = numbers_normalize(tenant=tenant, numbers=numbers)
    if single and invalid:
        raise DomainError(f"Invalid number {invalid[0][0]!r}: {invalid[0][1]}.", field="number")
    if not valid:
        reason = f": {invalid[0][1]}" if invalid else ""
        raise DomainError(f"No valid number{reason}.", field="number")
    blocked = blacklisted_among(tenant=tenant, numbers=valid)
    accepted = [n for n in valid if n not in blocked]
    now = timezone.now()
    if scheduled_at is not None and scheduled_at <= now:
        scheduled_at = None  # a date in the past means now
    kind = SmsKind.CAMPAIGN if campaign else SmsKind.SINGLE if single else SmsKind.BULK
    message = SmsMessage(
        id=message_id or uuid.uuid4(),
        tenant=tenant,
        dialect=dialect,
        kind=kind,
        sender=sender,
        text=text,
        encoding=segmentation.encoding,
        parts=segmentation.part_count,
        campaign_name=campaign_name,
        category=category,
        scheduled_at=scheduled_at,
        state=SmsState.SCHEDULED if scheduled_at else SmsState.ACTIVE,
        total_recipients=len(valid),
    )
    if campaign:
        message.window_start, message.window_end = campaign.window_start, campaign.window_end
        message.per_day, message.interval_minutes = campaign.per_day, campaign.interval_minutes
        message.next_batch_at = max(campaign.window_start, now)
    # Due now (+ grace: the dispatch task normally takes them at once), at the scheduled
    # date, or (campaign) when beat releases their batch.
    due = None if campaign else (scheduled_at or now + timedelta(seconds=settings.SMS_DISPATCH_GRACE_SECONDS))
    parts = segmentation.part_count
    # A campaign's numbers are priced and paid batch by batch, when beat releases them.
    prices = {} if campaign else sms_prices(tenant=tenant, numbers=accepted, parts=parts)
    with transaction.atomic():
        sms_charge(message=message, prices=prices, parts=parts, numbers=len(accepted))
        message.save()
        pending = (DeliveryStatus.PENDING.value, "", due)
        failed = (DeliveryStatus.FAILED.value, BLACKLISTED, None)
        rows_copy(
            table=SmsRecipient._meta.db_table,
            columns=RECIPIENT_COLUMNS,
            rows=[
                (message.pk, tenant.pk, n, *(failed if n in blocked else pending), parts, 0, 0, prices.get(n, 0), now)
                for n in valid
            ],
        )
        if blocked:  # failed at accept: their events now (a short list: opt-outs among the numbers)
            _failed_events(message=message, error=BLACKLISTED, at=now)
        if not accepted:
            sms_messages_finish(message_ids=[message.pk])
        if not campaign and not scheduled_at and accepted:
            from sms.tasks import sms_dispatch

            args = (str(message.pk), dispatch_queue) if dispatch_queue else (str(message.pk),)
            transaction.on_commit(lambda: sms_dispatch.apply_async(args, queue=dispatch_queue))
    return SmsAccepted(message=message, accepted=accepted, blacklisted=sorted(blocked), rejected=invalid)


def sms_cancel(*, message: SmsMessage) -> int:
    """Cancel what has not gone out yet; returns how many numbers were cancelled (each
    ends failed, "cancelled", with its status event)."""
    with transaction.atomic():
        # One conditional statement: only a send that still has numbers waiting is cancellable.
        waiting = SmsRecipient.objects.filter(message=OuterRef("pk"), status=DeliveryStatus.PENDING)
        updated = SmsMessage.objects.filter(
            Exists(waiting), pk=message.pk, state__in=[SmsState.SCHEDULED, SmsState.ACTIVE]
        ).update(state=SmsState.CANCELLED, next_batch_at=None)
        if not updated:
            raise DomainError("This send is already finished or cancelled.", field="ref", code="not_cancellable")
        return recipients_fail_waiting(message=message, error=CANCELLED)


def recipients_fail_waiting(*, message: SmsMessage, error: str, unreleased_only: bool = False) -> int:
    """Fail the send's pending numbers (all of them, or only those a campaign has not
    released) with ``error``, and write their status events. The caller holds a
    transaction; rows are locked first, so a worker cannot claim one in between."""
    waiting = SmsRecipient.objects.filter(message=message, status=DeliveryStatus.PENDING)
    if unreleased_only:
        waiting = waiting.filter(next_attempt_at__isnull=True)
    ids = list(waiting.select_for_update().values_list("pk", flat=True))
    now = timezone.now()
    for start in range(0, len(ids), FAIL_BATCH):
        SmsRecipient.objects.filter(pk__in=ids[start : start + FAIL_BATCH]).update(
            status=DeliveryStatus.FAILED, error=error, next_attempt_at=None, updated_at=now
        )
    events_record(
        channel="sms",
        changes=[(message.tenant_id, message.pk, pk, DeliveryStatus.FAILED, error) for pk in ids],
        occurred_at=now,
    )
    return len(ids)


def _failed_events(*, message: SmsMessage, error: str, at) -> None:
    failed = SmsRecipient.objects.filter(message=message, status=DeliveryStatus.FAILED).values_list("pk", flat=True)
    events_record(
        channel="sms",
        changes=[(message.tenant_id, message.pk, pk, DeliveryStatus.FAILED, error) for pk in failed],
        occurred_at=at,
    )


def sms_messages_finish(*, message_ids: list) -> int:
    """Mark done the sends among ``message_ids`` that are sending or scheduled and have no
    number left waiting (every number sent, delivered or failed). One statement."""
    waiting = SmsRecipient.objects.filter(message=OuterRef("pk"), status__in=WAITING_STATUSES)
    return (
        SmsMessage.objects.filter(pk__in=message_ids, state__in=[SmsState.ACTIVE, SmsState.SCHEDULED])
        .exclude(Exists(waiting))
        .update(state=SmsState.DONE, next_batch_at=None)
    )


def blacklist_add(*, tenant: Tenant, numbers: list[str]) -> list[str]:
    valid, invalid = numbers_normalize(tenant=tenant, numbers=numbers)
    if invalid:
        raise DomainError(f"Invalid number {invalid[0][0]!r}: {invalid[0][1]}.", field="number")
    BlacklistedNumber.objects.bulk_create(
        [BlacklistedNumber(tenant=tenant, number=n) for n in valid], ignore_conflicts=True
    )
    return valid


def blacklist_remove(*, tenant: Tenant, number: str) -> None:
    valid, _ = numbers_normalize(tenant=tenant, numbers=[number])
    if not valid or not BlacklistedNumber.objects.filter(tenant=tenant, number=valid[0]).delete()[0]:
        raise NotFound("This number is not blacklisted.", field="number")


def sender_request(*, tenant: Tenant, name: str, is_default: bool = False) -> SenderName:
    """A tenant asks for a sender name; a platform admin approves it in the admin."""
    try:
        validate_sender(name)
    except InvalidSender as exc:
        raise DomainError(f"Invalid sender: {exc}.", field="sender") from exc
    sender, _ = SenderName.objects.get_or_create(tenant=tenant, name=name)
    if is_default:
        sender_set_default(sender=sender)
    return sender


def sender_set_default(*, sender: SenderName) -> None:
    with transaction.atomic():
        SenderName.objects.filter(tenant=sender.tenant, is_default=True).exclude(pk=sender.pk).update(is_default=False)
        SenderName.objects.filter(pk=sender.pk).update(is_default=True)
