"""The fallback engine: each destination of an omni message goes through the message's
flow one step at a time until a step delivers it.

A step ends **delivered** (push: a device's receipt; SMS: a delivery receipt),
**failed** (every device failed, no device, no phone, the number refused) or **timed
out** (nothing delivered within its ``timeout``). Failed or timed out: the next step
starts for that destination, in the same transaction; delivered: the destination is
done and later steps never run. Past the last step the destination ends failed.

Exactly once: a step row is written when it starts (unique per destination and index)
and leaves ``started`` by one conditional UPDATE (``steps_end``); only the transaction
that moved it starts the next step, and the sends a step makes go out only once that
transaction commits. The engine learns outcomes from the core's status events (the
"scenarios" consumer, ``omni_events_handle``), never by polling the push and SMS tables,
and timers are the started steps' ``due_at``, swept by beat (``steps_time_out``).
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from billing.services import INSUFFICIENT, InsufficientBalance, account_unit, charge_reserve
from devices.models import Device
from notifications.core.events import CONSUME_BATCH, events_drain, events_horizon, events_record
from notifications.core.status import DeliveryStatus
from notifications.models import Delivery, InboxEntry, Message, MessageKind, MessageState
from notifications.push.kick import fan_out_kick
from notifications.push.pricing import push_price
from scenarios.models import FlowChannel, OmniDestination, OmniMessage, OmniState, OmniStep, StepState
from sms.models import SmsRecipient
from sms.services import sms_submit
from softafrik.errors import DomainError

logger = logging.getLogger(__name__)

CONSUMER = "scenarios"
CONSUME_MAX_BATCHES = 50  # event batches one tick handles before it sweeps the timers
TIMEOUT_BATCH = 1000  # steps one transaction times out (and starts the next step of)
TIMEOUT_MAX_BATCHES = 20
SCHEDULED_BATCH = 10  # scheduled messages one transaction starts
END_CHUNK = 1000  # ids one UPDATE ... RETURNING ends

NO_DEVICE = "no device: the destination has no active device for this app"
NO_PHONE = "no phone number"
TIMED_OUT = "no delivery within the timeout"
ALL_DEVICES_FAILED = "every device failed"
DESTINATION = "destination"
# The SMS send's dialect (its reports and webhooks): every product but SoftAfrik's is Delevera's.
SMS_DIALECT = {"softafrik": "softafrik"}


@dataclass(frozen=True)
class Target:
    """A destination as a step needs it."""

    id: int
    end_user_id: int | None
    device_id: int | None
    phone: str
    reason: str = ""  # why an SMS step fails at once (the number given is invalid)
    last_step_id: int | None = None  # the step that ended last, for the final event


@dataclass(frozen=True)
class Ended:
    step_id: int
    destination_id: int
    message_id: uuid.UUID
    index: int


# --- Starting steps ----------------------------------------------------------------------


def destinations_advance(
    *, message: OmniMessage, index: int, targets: list[Target], now: datetime, raise_errors: bool = False
) -> int:
    """Start step ``index`` of ``message``'s flow for ``targets``, in the caller's
    transaction. A step that fails at once (no device, no phone) moves its destination
    on to the next step at once; past the last step the destination ends failed.
    ``raise_errors``: an SMS send refused whole (sender, text) raises DomainError instead
    of failing the step (the first step of an API call: the caller answers 400). Returns
    how many devices the push steps started with."""
    devices = 0
    while targets:
        if index >= len(message.flow):
            _destinations_fail(message=message, targets=targets, now=now)
            break
        step = message.flow[index]
        if step["channel"] == FlowChannel.PUSH:
            targets, count = _push_start(
                message=message, index=index, step=step, targets=targets, now=now, raise_errors=raise_errors
            )
            devices += count
        else:
            targets = _sms_start(
                message=message, index=index, step=step, targets=targets, now=now, raise_errors=raise_errors
            )
        raise_errors = False
        index += 1
    return devices


def _due(message: OmniMessage, index: int, step: dict, now: datetime) -> datetime | None:
    """When the step times out: its timeout after now, none for the last step."""
    timeout = step.get("timeout")
    if not timeout or index == len(message.flow) - 1:
        return None
    return now + timedelta(seconds=int(timeout))


def push_content(message: OmniMessage, step: dict) -> tuple[str, str, dict, dict]:
    """(title, body, data, options) of a push step: ``from`` is the title (the push
    content's, else the step's, else the message's), actions become data and options."""
    content = message.push_content or {}
    actions = content.get("actions") or {}
    title = content.get("from") or step.get("from") or message.sender
    data = {key: str(actions[key]) for key in ("deepLink", "callToAction") if actions.get(key) not in (None, "")}
    options: dict = {}
    if step.get("dataOnly") or _truthy(actions.get("issilent")):
        options["data_only"] = True
    if str(actions.get("Badge", "")).strip().isdigit():
        options["badge"] = int(str(actions["Badge"]).strip())
    if actions.get("soundname"):
        options["sound"] = str(actions["soundname"])
    if actions.get("Image"):
        options["image"] = str(actions["Image"])
    return title[:500], content.get("text", ""), data, options


def _truthy(value) -> bool:
    return value is True or str(value).strip().lower() in ("1", "true", "yes")


def _push_start(
    *, message: OmniMessage, index: int, step: dict, targets: list[Target], now: datetime, raise_errors: bool
) -> tuple[list[Target], int]:
    """One push message per destination that has a matching active device; the others'
    step fails at once. A priced push reserves its devices' price for the whole step
    first; when the balance cannot pay it, every destination's step fails ("solde
    insuffisant") and moves on, or (``raise_errors``, the API call's first step) the
    InsufficientBalance propagates. Returns (the failed ones, devices reached)."""
    app_id = step.get("appId")
    platform = message.platform
    devices = Device.objects.filter(tenant_id=message.tenant_id, is_active=True, app_id=app_id)
    if platform:
        devices = devices.filter(platform=platform)
    device_ok = set(devices.filter(pk__in=[t.device_id for t in targets if t.device_id]).values_list("pk", flat=True))
    user_ids = [t.end_user_id for t in targets if not t.device_id and t.end_user_id]
    per_user = dict(
        devices.filter(end_user_id__in=user_ids)
        .values("end_user_id")
        .annotate(n=Count("pk"))
        .values_list("end_user_id", "n")
    )
    title, body, data, options = push_content(message, step)
    due = _due(message, index, step, now)
    unit_price = push_price(tenant_id=message.tenant_id)
    messages, inbox, steps, failed = [], [], [], []
    reached = 0
    for target in targets:
        common = {"id": uuid.uuid4(), "tenant_id": message.tenant_id, "app_id": app_id, "platform": platform}
        if target.device_id and target.device_id in device_ok:
            push = Message(kind=MessageKind.TO_DEVICE, device_id=target.device_id, **common)
            reached += 1
        elif not target.device_id and per_user.get(target.end_user_id):
            push = Message(kind=MessageKind.TO_USER, end_user_id=target.end_user_id, **common)
            inbox.append(
                InboxEntry(
                    tenant_id=message.tenant_id,
                    end_user_id=target.end_user_id,
                    message=push,
                    title=title,
                    body=body,
                    data=data,
                )
            )
            reached += per_user[target.end_user_id]
        else:
            failed.append(target)
            steps.append(_step(message, target, index, FlowChannel.PUSH, now, state=StepState.FAILED, reason=NO_DEVICE))
            continue
        push.title, push.body, push.data, push.options = title, body, data, options
        push.state, push.created_at = MessageState.QUEUED, now
        push.unit_price = unit_price
        push.paid_deliveries = (1 if target.device_id else per_user[target.end_user_id]) if unit_price else None
        messages.append(push)
        steps.append(_step(message, target, index, FlowChannel.PUSH, now, send_id=push.id, due_at=due))
    if unit_price and messages:
        try:
            with transaction.atomic():
                charge_reserve(
                    tenant_id=message.tenant_id,
                    unit=account_unit(tenant_id=message.tenant_id),
                    amount=unit_price * reached,
                    reference=f"omni:{message.pk}:{index}",
                    quantity=reached,
                    at=now,
                )
        except InsufficientBalance:
            if raise_errors:
                raise
            return _push_unpaid(message=message, index=index, targets=targets, now=now), 0
    Message.objects.bulk_create(messages)
    InboxEntry.objects.bulk_create(inbox)
    OmniStep.objects.bulk_create(steps)
    _destinations_move(index=index, channel=FlowChannel.PUSH, targets=targets, now=now)
    if messages:
        transaction.on_commit(fan_out_kick)
    return _failed_at_once(message, steps, failed, now), reached


def _push_unpaid(*, message: OmniMessage, index: int, targets: list[Target], now: datetime) -> list[Target]:
    """The balance cannot pay the push step: it fails for every destination, written
    like a step without a device."""
    steps = [
        _step(message, t, index, FlowChannel.PUSH, now, state=StepState.FAILED, reason=INSUFFICIENT) for t in targets
    ]
    OmniStep.objects.bulk_create(steps)
    _destinations_move(index=index, channel=FlowChannel.PUSH, targets=targets, now=now)
    return _failed_at_once(message, steps, list(targets), now)


def _sms_start(
    *, message: OmniMessage, index: int, step: dict, targets: list[Target], now: datetime, raise_errors: bool
) -> list[Target]:
    """One SMS send for every destination with a number (``sms_submit``: priced,
    charged and dispatched like any SMS send); the others' step fails at once."""
    reasons: dict[int, str] = {t.id: t.reason or NO_PHONE for t in targets if not t.phone}
    numbers = list(dict.fromkeys(t.phone for t in targets if t.phone))
    rows: dict[str, tuple] = {}
    send_id = None
    if raise_errors and not numbers:  # the message is this SMS: nothing to send is a refusal
        reason = next((t.reason for t in targets if t.reason), "")
        raise DomainError(f"No valid number{': ' + reason if reason else ''}.", field="number")
    if numbers:
        try:
            with transaction.atomic():  # a refused send leaves nothing behind
                accepted = sms_submit(
                    tenant=message.tenant,
                    dialect=SMS_DIALECT.get(message.product, "delevera"),
                    sender=step.get("sender") or None,
                    numbers=numbers,
                    text=(message.sms_content or {}).get("text", ""),
                    # The first step of an SMS-only message is the message: one id for both.
                    message_id=message.pk if index == 0 else None,
                    # A fallback is urgent (the push did not arrive): not behind queued sends.
                    dispatch_queue=settings.CELERY_TIMERS_QUEUE if index > 0 else None,
                )
        except DomainError as exc:
            if raise_errors:
                raise
            reasons.update({t.id: exc.message for t in targets if t.phone})
        else:
            send_id = accepted.message.pk
            rows = {
                number: (pk, status, error)
                for number, pk, status, error in SmsRecipient.objects.filter(message_id=send_id).values_list(
                    "number", "pk", "status", "error"
                )
            }
    due = _due(message, index, step, now)
    steps, failed = [], []
    for target in targets:
        row = rows.get(target.phone) if target.id not in reasons else None
        if row is None or row[1] == DeliveryStatus.FAILED:
            reason = reasons.get(target.id) or (row[2] if row else "the number was refused")
            failed.append(target)
            steps.append(_step(message, target, index, FlowChannel.SMS, now, state=StepState.FAILED, reason=reason))
        else:
            steps.append(
                _step(message, target, index, FlowChannel.SMS, now, send_id=send_id, recipient_id=row[0], due_at=due)
            )
    OmniStep.objects.bulk_create(steps)
    _destinations_move(index=index, channel=FlowChannel.SMS, targets=targets, now=now)
    return _failed_at_once(message, steps, failed, now)


def _step(message, target: Target, index: int, channel: str, now, **fields) -> OmniStep:
    step = OmniStep(
        destination_id=target.id,
        message_id=message.pk,
        tenant_id=message.tenant_id,
        index=index,
        channel=channel,
        started_at=now,
        **fields,
    )
    if step.state != StepState.STARTED:
        step.ended_at = now
    return step


def _failed_at_once(message: OmniMessage, steps: list[OmniStep], failed: list[Target], now) -> list[Target]:
    """The targets whose step failed at once, with their step's event written."""
    ended = {step.destination_id: step for step in steps if step.state == StepState.FAILED}
    events_record(
        channel="omni",
        changes=[(message.tenant_id, message.pk, s.pk, StepState.FAILED, s.reason) for s in ended.values()],
        occurred_at=now,
    )
    return [replace(t, last_step_id=ended[t.id].pk) for t in failed]


def _destinations_move(*, index: int, channel: str, targets: list[Target], now) -> None:
    if index == 0:  # a destination is written on its first step, pending
        return
    _destinations_set([t.id for t in targets], now=now, step=index, channel=channel, status=DeliveryStatus.PENDING)


def _destinations_set(ids: list[int], *, now, **fields) -> None:
    for start in range(0, len(ids), END_CHUNK):
        OmniDestination.objects.filter(pk__in=ids[start : start + END_CHUNK]).update(updated_at=now, **fields)


def _destinations_fail(*, message: OmniMessage, targets: list[Target], now) -> None:
    _destinations_set([t.id for t in targets], now=now, status=DeliveryStatus.FAILED)
    events_record(
        channel="omni",
        subject=DESTINATION,
        changes=[(message.tenant_id, message.pk, t.last_step_id, DeliveryStatus.FAILED, "") for t in targets],
        occurred_at=now,
    )


# --- Ending steps ------------------------------------------------------------------------

_END_SQL = (
    "UPDATE {table} SET state = %s, reason = %s, ended_at = %s, due_at = NULL"
    " WHERE id IN ({ids}) AND state = %s RETURNING id, destination_id, message_id, {index}"
)


def steps_end(*, step_ids: list[int], state: str, reason: str, now: datetime) -> list[Ended]:
    """End the given steps that are still started (one conditional UPDATE per chunk);
    returns those this call ended: only they may start what comes next."""
    ended: list[Ended] = []
    table = OmniStep._meta.db_table
    at = connection.ops.adapt_datetimefield_value(now)
    index = connection.ops.quote_name("index")
    with connection.cursor() as cursor:
        for start in range(0, len(step_ids), END_CHUNK):
            chunk = step_ids[start : start + END_CHUNK]
            sql = _END_SQL.format(table=table, ids=", ".join(["%s"] * len(chunk)), index=index)
            cursor.execute(sql, [state, reason[:300], at, *chunk, StepState.STARTED.value])
            ended += [Ended(pk, dest, _uuid(message_id), idx) for pk, dest, message_id, idx in cursor.fetchall()]
    return ended


def _uuid(value) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def steps_finish(*, ended: list[Ended], state: str, now: datetime) -> None:
    """What follows steps that ended: their events; delivered, the destination is done;
    failed or timed out, its next step starts."""
    if not ended:
        return
    messages = {
        m.pk: m for m in OmniMessage.objects.select_related("tenant").filter(pk__in={e.message_id for e in ended})
    }
    events_record(
        channel="omni",
        changes=[(messages[e.message_id].tenant_id, e.message_id, e.step_id, state, "") for e in ended],
        occurred_at=now,
    )
    if state == StepState.DELIVERED:
        _destinations_set([e.destination_id for e in ended], now=now, status=DeliveryStatus.DELIVERED)
        events_record(
            channel="omni",
            subject=DESTINATION,
            changes=[
                (messages[e.message_id].tenant_id, e.message_id, e.step_id, DeliveryStatus.DELIVERED, "") for e in ended
            ],
            occurred_at=now,
        )
        return
    targets = _targets(ended)
    groups: dict[tuple, list[Target]] = defaultdict(list)
    for e in ended:
        groups[(e.message_id, e.index)].append(targets[e.destination_id])
    for (message_id, index), group in groups.items():
        destinations_advance(message=messages[message_id], index=index + 1, targets=group, now=now)


def _targets(ended: list[Ended]) -> dict[int, Target]:
    last = {e.destination_id: e.step_id for e in ended}
    rows = OmniDestination.objects.filter(pk__in=list(last)).values_list("pk", "end_user_id", "device_id", "phone")
    return {pk: Target(pk, user, device, phone, last_step_id=last[pk]) for pk, user, device, phone in rows}


def targets_of(destinations: list[OmniDestination], reasons: dict[int, str] | None = None) -> list[Target]:
    reasons = reasons or {}
    return [Target(d.pk, d.end_user_id, d.device_id, d.phone, reasons.get(d.pk, "")) for d in destinations]


# --- The "scenarios" consumer of status events -------------------------------------------


def omni_events_handle(events: list) -> None:
    """Move the steps the push and SMS events speak of: sent marks a step (state 1),
    delivered ends it and its destination, failed ends it (push: once every device of
    its push failed) and starts the next step. Events of steps no longer started (a
    receipt after the step timed out) change nothing. A fixed number of queries per batch."""
    now = timezone.now()
    by_status: dict[tuple[str, str], list] = defaultdict(list)
    for event in events:
        if event.channel in (FlowChannel.PUSH, FlowChannel.SMS):
            by_status[(event.channel, event.status)].append(event)
    if not by_status:
        return
    steps = _started_steps(by_status)
    if not steps:
        return

    def step_ids(channel: str, status: str) -> list[int]:
        keys = {_event_key(event) for event in by_status.get((channel, status), [])}
        return sorted({pk for key in keys for pk in steps.get(key, ())})

    sent = step_ids("push", "sent") + step_ids("sms", "sent")
    if sent:
        _steps_mark_sent(step_ids=sent, now=now)
    _steps_close(step_ids("push", "delivered") + step_ids("sms", "delivered"), StepState.DELIVERED, "", now)
    reasons: dict[str, set[int]] = defaultdict(set)
    for event in by_status.get(("sms", "failed"), []):
        reasons[event.reason].update(steps.get(_event_key(event), ()))
    for reason, ids in reasons.items():
        _steps_close(sorted(ids), StepState.FAILED, reason, now)
    failed_push = _push_all_failed({_uuid(e.send_id) for e in by_status.get(("push", "failed"), [])})
    ids = sorted({pk for send_id in failed_push for pk in steps.get(("push", send_id, None), ())})
    _steps_close(ids, StepState.FAILED, ALL_DEVICES_FAILED, now)


def _steps_close(step_ids: list[int], state: str, reason: str, now) -> None:
    if step_ids:
        steps_finish(ended=steps_end(step_ids=step_ids, state=state, reason=reason, now=now), state=state, now=now)


def _event_key(event) -> tuple:
    """A push step is found by its push message; an SMS step by its send and number row."""
    if event.channel == FlowChannel.PUSH:
        return ("push", _uuid(event.send_id), None)
    return ("sms", _uuid(event.send_id), event.recipient_id)


def _started_steps(by_status: dict) -> dict[tuple, list[int]]:
    """The started steps the events name: {event key: step ids}, one query per channel
    (two destinations of one message with the same number share its SMS row)."""
    found: dict[tuple, list[int]] = defaultdict(list)
    push_ids = {_uuid(e.send_id) for (channel, _), evs in by_status.items() if channel == "push" for e in evs}
    if push_ids:
        rows = OmniStep.objects.filter(state=StepState.STARTED, channel=FlowChannel.PUSH, send_id__in=push_ids)
        for pk, send_id in rows.values_list("pk", "send_id"):
            found[("push", send_id, None)].append(pk)
    sms_events = [e for (channel, _), evs in by_status.items() if channel == "sms" for e in evs]
    if sms_events:
        rows = OmniStep.objects.filter(
            state=StepState.STARTED,
            channel=FlowChannel.SMS,
            send_id__in={_uuid(e.send_id) for e in sms_events},
            recipient_id__in={e.recipient_id for e in sms_events},
        )
        for pk, send_id, recipient_id in rows.values_list("pk", "send_id", "recipient_id"):
            found[("sms", send_id, recipient_id)].append(pk)
    return found


def _steps_mark_sent(*, step_ids: list[int], now) -> None:
    for start in range(0, len(step_ids), END_CHUNK):
        chunk = step_ids[start : start + END_CHUNK]
        OmniStep.objects.filter(pk__in=chunk, sent_at__isnull=True, state=StepState.STARTED).update(sent_at=now)
        destinations = OmniStep.objects.filter(pk__in=chunk).values("destination_id")
        OmniDestination.objects.filter(pk__in=destinations, status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.SENT, updated_at=now
        )


def _push_all_failed(message_ids: set) -> list[uuid.UUID]:
    """Among these push messages, those fanned out whose every delivery failed."""
    if not message_ids:
        return []
    alive = set(
        Delivery.objects.filter(message_id__in=message_ids)
        .exclude(status=DeliveryStatus.FAILED)
        .values_list("message_id", flat=True)
        .distinct()
    )
    dispatched = Message.objects.filter(pk__in=message_ids, state=MessageState.DISPATCHED).values_list("pk", flat=True)
    return [_uuid(pk) for pk in dispatched if pk not in alive]


def omni_consume(*, max_batches: int = CONSUME_MAX_BATCHES) -> tuple[int, bool]:
    """Handle waiting status events, up to ``max_batches`` batches; returns how many, and
    whether none is left (below the horizon)."""
    return events_drain(consumer=CONSUMER, handle=omni_events_handle, max_batches=max_batches, limit=CONSUME_BATCH)


# --- Timers ------------------------------------------------------------------------------


def steps_time_out(
    *, before: datetime | None = None, limit: int = TIMEOUT_BATCH, max_batches: int = TIMEOUT_MAX_BATCHES
) -> int:
    """Time out the started steps due at or before ``before`` (default: now) and start
    their next step, ``limit`` per transaction. Rows are locked and skipped when another
    worker holds them (a receipt being applied, a second sweeper): a timer fires once."""
    total = 0
    for _ in range(max_batches):
        now = timezone.now()
        cutoff = min(before, now) if before else now
        with transaction.atomic():
            due = (
                OmniStep.objects.select_for_update(skip_locked=True)
                .filter(state=StepState.STARTED, due_at__lte=cutoff)
                .order_by("due_at")
                .values_list("pk", flat=True)[:limit]
            )
            ids = list(due)
            ended = steps_end(step_ids=ids, state=StepState.TIMED_OUT, reason=TIMED_OUT, now=now)
            steps_finish(ended=ended, state=StepState.TIMED_OUT, now=now)
        total += len(ended)
        if len(ids) < limit:
            break
    return total


def messages_start_scheduled(*, limit: int = SCHEDULED_BATCH) -> int:
    """Start the first step of the scheduled messages whose time has come (Delevera's
    ``Schedule`` action): claimed by a conditional state change, so started once."""
    started = 0
    now = timezone.now()
    while True:
        with transaction.atomic():
            due = list(
                OmniMessage.objects.select_for_update(skip_locked=True)
                .select_related("tenant")
                .filter(state=OmniState.SCHEDULED, start_at__lte=now)
                .order_by("start_at")[:limit]
            )
            for message in due:
                if not OmniMessage.objects.filter(pk=message.pk, state=OmniState.SCHEDULED).update(
                    state=OmniState.RUNNING
                ):
                    continue
                destinations = list(OmniDestination.objects.filter(message=message).order_by("pk"))
                destinations_advance(message=message, index=0, targets=targets_of(destinations), now=now)
                started += 1
        if len(due) < limit:
            return started


def omni_tick() -> dict[str, int]:
    """Beat's tick: events first, then the timers, then the scheduled messages.

    A receipt that came in time wins over its timer: a timer fires only once every event
    committed before its due time has been handled. The horizon's ``safe_at`` is read
    before the events; once they are drained, every event committed before it has been
    handled, and only timers due by then fire (a backlog not drained this tick: none)."""
    safe_at = events_horizon().safe_at
    events, drained = omni_consume()
    return {
        "events": events,
        "timed_out": steps_time_out(before=safe_at) if drained else 0,
        "scheduled": messages_start_scheduled(),
    }
