"""Push sends: accept (fast, in the request), fan out (Celery), deliver (Celery).

The API accepts a send by writing a Message (and the user's inbox entry) and enqueuing
one fan-out task on commit. Fan-out writes Delivery rows in pages of FANOUT_CHUNK and
enqueues one send task per page; a send task claims its rows with a conditional
UPDATE, calls the provider once per (app, platform) group and records every outcome
with one bulk UPDATE. Retries are timers in the database (Delivery.next_attempt_at),
dispatched by beat through ``deliveries_dispatch_due``: never long Celery countdowns.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Tenant
from devices.models import App, Device, EndUser
from devices.services import devices_deactivate
from notifications.core.events import events_record
from notifications.kick import fan_out_kick
from notifications.models import Delivery, DeliveryStatus, InboxEntry, Message, MessageKind, MessageState
from notifications.providers.base import (
    Outcome,
    PermanentProviderError,
    ProviderError,
    PushMessage,
    PushResult,
    PushTarget,
)
from notifications.providers.registry import provider_for
from softafrik.api import NotFound
from softafrik.bulk import prepared_fetchone, values_update
from softafrik.claims import claim_param, claim_pending, due_chunks

logger = logging.getLogger(__name__)

FANOUT_CHUNK = 500  # devices per send task: FCM's send_each limit, and one bulk write each
RETRY_BASE_SECONDS = 5
RETRY_MAX_SECONDS = 600
SWEEP_BATCH = 20 * FANOUT_CHUNK  # deliveries the sweeper dispatches per beat tick
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


# --- Accepting a send ------------------------------------------------------------------


def _enqueue_fan_out(message: Message) -> None:
    """Wake a fan-out worker once this transaction commits (debounced, see notifications.kick)."""
    transaction.on_commit(fan_out_kick)


# Accepting a to-user push, in SQL: {json} is the vendor's JSON parameter, {source} the
# row holding end_user_id (the message CTE on PostgreSQL, a literal elsewhere).
_INSERT_TO_USER_MESSAGE = (
    "INSERT INTO notifications_message (id, tenant_id, kind, end_user_id, filters, title, body, data, state,"
    " fanout_cursor, total_deliveries, created_at)"
    " SELECT %s, tenant_id, %s, id, '{{}}', %s, %s, {json}, %s, 0, 0, %s"
    " FROM devices_enduser WHERE tenant_id = %s AND puid = %s RETURNING end_user_id"
)
_INSERT_INBOX_ENTRY = (
    "INSERT INTO notifications_inboxentry (tenant_id, end_user_id, message_id, title, body, data, is_read,"
    " created_at) SELECT %s, end_user_id, %s, %s, %s, {json}, %s, %s FROM {source} RETURNING end_user_id"
)
_TO_USER_SQL = {
    "postgresql": "WITH message AS ({}) {}".format(
        _INSERT_TO_USER_MESSAGE.format(json="%s::jsonb"),
        _INSERT_INBOX_ENTRY.format(json="%s::jsonb", source="message"),
    ),
    "other": (
        _INSERT_TO_USER_MESSAGE.format(json="%s"),
        _INSERT_INBOX_ENTRY.format(json="%s", source="(SELECT %s AS end_user_id)"),
    ),
}


def push_send_to_user(*, tenant: Tenant, puid: str, title: str, body: str, data: dict) -> Message:
    """Accept a push to every active device of the user ``puid``, and keep it in the inbox.

    The hot path of the API: the user lookup, the message and its inbox entry are one
    statement on PostgreSQL (a data-modifying CTE: one round trip, atomic on its own, a
    prepared statement) and one transaction of two statements elsewhere. Unknown (or
    another tenant's) puid: NotFound, and nothing is written.
    """
    message = Message(tenant=tenant, kind=MessageKind.TO_USER, title=title, body=body, data=data)
    message.created_at = timezone.now()
    pk = Message._meta.pk.get_db_prep_value(message.pk, connection)
    created = connection.ops.adapt_datetimefield_value(message.created_at)
    content = [title, body, json.dumps(data, ensure_ascii=False)]
    message_params = [pk, MessageKind.TO_USER.value, *content, MessageState.QUEUED.value, created, tenant.pk, puid]
    inbox_params = [tenant.pk, pk, *content, False, created]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            row = prepared_fetchone(cursor, _TO_USER_SQL["postgresql"], [*message_params, *inbox_params])
        else:
            insert_message, insert_inbox = _TO_USER_SQL["other"]
            with transaction.atomic():
                cursor.execute(insert_message, message_params)
                row = cursor.fetchone()
                if row is not None:
                    cursor.execute(insert_inbox, [*inbox_params, row[0]])
                    cursor.fetchall()  # finish the statement before the savepoint is released
    if row is None:
        raise NotFound(f"Unknown puid {puid!r}.", field="puid")
    message.end_user_id = row[0]
    _enqueue_fan_out(message)
    message._state.adding = False
    return message


def push_send_to_device(*, tenant: Tenant, device: Device, title: str, body: str, data: dict) -> Message:
    with transaction.atomic():
        message = Message.objects.create(
            tenant=tenant,
            kind=MessageKind.TO_DEVICE,
            device=device,
            app_id=device.app_id,
            end_user_id=device.end_user_id,
            title=title,
            body=body,
            data=data,
        )
        _enqueue_fan_out(message)
    return message


def push_broadcast(
    *, tenant: Tenant, app: App, country: str = "", platform: str = "", title: str, body: str, data: dict
) -> Message:
    """Accept a push to every active device of ``app`` (optionally one country/platform)."""
    filters = {key: value for key, value in (("country", country.upper()), ("platform", platform)) if value}
    with transaction.atomic():
        message = Message.objects.create(
            tenant=tenant, kind=MessageKind.BROADCAST, app=app, filters=filters, title=title, body=body, data=data
        )
        _enqueue_fan_out(message)
    return message


# --- Fan-out ---------------------------------------------------------------------------


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


def _audience(message: Message):
    devices = Device.objects.filter(tenant_id=message.tenant_id, is_active=True)
    if message.kind == MessageKind.TO_USER:
        return devices.filter(end_user_id=message.end_user_id)
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
    " SELECT message_id, device_id, %s, '', 0, %s, '', %s FROM ("
    " SELECT m.id AS message_id, d.id AS device_id FROM notifications_message m"
    " JOIN devices_device d ON d.end_user_id = m.end_user_id AND d.tenant_id = m.tenant_id"
    " WHERE m.id IN ({ids}) AND m.state = %s AND m.kind = %s AND d.is_active"
    " UNION ALL"
    " SELECT m.id, d.id FROM notifications_message m"
    " JOIN devices_device d ON d.id = m.device_id AND d.tenant_id = m.tenant_id"
    " WHERE m.id IN ({ids}) AND m.state = %s AND m.kind = %s AND d.is_active"
    ") AS audience WHERE true ON CONFLICT (message_id, device_id) DO NOTHING RETURNING id"
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
    return delivery_ids, direct


def message_fan_out(*, message_id: str) -> Iterator[list[int]]:
    """Write the message's deliveries page by page, yielding each committed page's
    delivery ids for the caller to send.

    Resumable: each page commits its rows together with ``fanout_cursor``, so a
    redelivered task continues after the last committed page and writes nothing twice.
    A caller that dies before sending a yielded page leaves due rows that the sweeper
    sends after the dispatch grace.
    """
    message = Message.objects.filter(pk=message_id).first()
    if message is None or message.state == MessageState.DISPATCHED:
        return
    audience = _audience(message).order_by("pk").values_list("pk", flat=True)
    while True:
        with transaction.atomic():
            locked = Message.objects.select_for_update().filter(pk=message.pk, state=MessageState.QUEUED).first()
            if locked is None:
                return
            device_ids = list(audience.filter(pk__gt=locked.fanout_cursor)[:FANOUT_CHUNK])
            if not device_ids:
                Message.objects.filter(pk=message.pk).update(state=MessageState.DISPATCHED)
                return
            due = timezone.now() + dispatch_grace()
            created = Delivery.objects.bulk_create(
                [Delivery(message_id=message.pk, device_id=device_id, next_attempt_at=due) for device_id in device_ids]
            )
            Message.objects.filter(pk=message.pk).update(
                fanout_cursor=device_ids[-1], total_deliveries=F("total_deliveries") + len(created)
            )
        yield [delivery.pk for delivery in created]


# --- Delivering ------------------------------------------------------------------------


def _retry_delay(attempts: int, retry_after: float | None) -> float:
    """Exponential backoff with full jitter, capped; the provider's Retry-After wins if longer."""
    ceiling = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1))
    delay = random.uniform(ceiling / 2, ceiling)
    return max(delay, retry_after or 0.0)


def deliveries_send(*, delivery_ids: list[int]) -> dict[str, int]:
    """Send the given deliveries that are still pending; returns counts per outcome.

    Claims rows with one conditional UPDATE (pending -> sending, with a fresh claim id),
    so two workers given the same ids never both send one. Never raises for provider
    errors: every claimed row ends sent, failed, or pending with a retry time.
    """
    claim = claim_pending(Delivery, delivery_ids)
    if claim is None:
        return {}
    rows = list(
        Delivery.objects.filter(pk__in=delivery_ids, claim=claim).values_list(
            "pk", "message_id", "attempts", "device_id", "device__app_id", "device__platform", "device__token"
        )
    )
    messages = {m.pk: m for m in Message.objects.filter(pk__in={row[1] for row in rows})}
    apps = {a.pk: a for a in App.objects.filter(pk__in={row[4] for row in rows})}
    groups: dict[tuple, list[tuple]] = defaultdict(list)
    for row in rows:
        groups[(row[4], row[5])].append(row)
    pushes = {pk: _push_of(message) for pk, message in messages.items()}

    results: list[tuple[tuple, PushResult]] = []
    for (app_id, platform), group in groups.items():
        by_id = {row[0]: row for row in group}
        try:
            provider = provider_for(apps[app_id], platform)
        except ProviderError as exc:  # e.g. the app has no credentials for this platform
            provider, failure = None, exc
        if provider is None:
            calls = [(partial(_raise, failure), [PushTarget(delivery_id=row[0], token=row[6]) for row in group])]
        elif hasattr(provider, "send_many"):  # one call for every message of the group (FCM)
            items = [(pushes[row[1]], PushTarget(delivery_id=row[0], token=row[6])) for row in group]
            calls = [(partial(provider.send_many, items), [target for _, target in items])]
        else:
            per_message: dict = defaultdict(list)
            for row in group:
                per_message[row[1]].append(PushTarget(delivery_id=row[0], token=row[6]))
            calls = [
                (partial(provider.send, pushes[message_id], targets), targets)
                for message_id, targets in per_message.items()
            ]
        for call, targets in calls:
            answers = _provider_answers(call, targets)
            results += [(by_id[answer.delivery_id], answer) for answer in answers if answer.delivery_id in by_id]
    tenant_of = {pk: message.tenant_id for pk, message in messages.items()}
    return _record_results(claim=claim, results=results, tenant_of=tenant_of)


def _push_of(message: Message) -> PushMessage:
    return PushMessage(
        title=message.title,
        body=message.body,
        # FCM takes string values only; sa_message_id lets the app confirm delivery.
        data={
            **{str(k): v if isinstance(v, str) else _json(v) for k, v in (message.data or {}).items()},
            "sa_message_id": str(message.pk),
        },
        ttl=settings.PUSH_TTL_SECONDS,
        collapse_id=str(message.pk),
    )


def _raise(exc: Exception):
    raise exc


def _provider_answers(call, targets: list[PushTarget]) -> list[PushResult]:
    """One answer per target, whatever the provider call does."""
    try:
        answers = call()
    except PermanentProviderError as exc:
        answers = [PushResult(t.delivery_id, Outcome.PERMANENT, error=str(exc)) for t in targets]
    except ProviderError as exc:
        answers = [PushResult(t.delivery_id, Outcome.TRANSIENT, error=str(exc)) for t in targets]
    except Exception as exc:  # a bug in an adapter must not strand rows in 'sending'
        logger.exception("push provider crashed on %s deliveries", len(targets))
        answers = [PushResult(t.delivery_id, Outcome.TRANSIENT, error=f"internal: {exc}") for t in targets]
    answered = {answer.delivery_id for answer in answers}
    return answers + [
        PushResult(t.delivery_id, Outcome.TRANSIENT, error="no answer from provider")
        for t in targets
        if t.delivery_id not in answered
    ]


def _json(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def _record_results(*, claim: uuid.UUID, results: list[tuple[tuple, PushResult]], tenant_of: dict) -> dict[str, int]:
    now = timezone.now()
    counts: dict[str, int] = defaultdict(int)
    updates = []
    changes = []  # status events: (tenant, message, delivery, status, reason)
    dead: dict[str, list[int]] = defaultdict(list)
    for row, answer in results:
        delivery_id, attempts, device_id = row[0], row[2], row[3]
        next_at = None
        if answer.outcome is Outcome.SENT:
            status = DeliveryStatus.SENT
        elif answer.outcome is Outcome.TRANSIENT and attempts < settings.PUSH_MAX_ATTEMPTS:
            status = DeliveryStatus.PENDING
            next_at = now + timedelta(seconds=_retry_delay(attempts, answer.retry_after))
        else:
            status = DeliveryStatus.FAILED
            if answer.outcome is Outcome.INVALID_TOKEN:
                dead[answer.error or "invalid token"].append(device_id)
        counts[answer.outcome.value] += 1
        error = "" if status == DeliveryStatus.SENT else (answer.error or answer.outcome.value)[:300]
        updates.append((delivery_id, status, error, answer.provider_message_id[:200], next_at))
        if status != DeliveryStatus.PENDING:
            changes.append((tenant_of[row[1]], row[1], delivery_id, status, error))
    with transaction.atomic():
        values_update(
            table=Delivery._meta.db_table,
            key="id",
            columns=[
                ("id", "bigint"),
                ("status", "varchar"),
                ("error", "varchar"),
                ("provider_message_id", "varchar"),
                ("next_attempt_at", "timestamptz"),
            ],
            rows=updates,
            extra_set="claim = NULL, updated_at = %s",
            set_params=[now],
            extra_where="t.claim = %s",
            where_params=[claim_param(Delivery, claim)],
        )
        events_record(channel="push", changes=changes, occurred_at=now)
        for reason, device_ids in dead.items():
            devices_deactivate(device_ids=device_ids, reason=reason)
    return dict(counts)


def deliveries_due(*, limit: int = SWEEP_BATCH) -> list[list[int]]:
    """Due pending deliveries (retries, lost tasks, dead workers' claims), in chunks."""
    return due_chunks(Delivery, lease=sending_lease(), grace=dispatch_grace(), limit=limit, chunk=FANOUT_CHUNK)


# --- Receipts and the inbox --------------------------------------------------------------


def delivery_confirm(*, tenant: Tenant, message_id: str, device: Device) -> None:
    """The app reports it displayed the message on ``device``: mark it delivered, with its
    status event (once: a repeated confirmation changes nothing). A failed delivery
    stays failed; none at all (or another tenant's): NotFound."""
    with transaction.atomic():
        deliveries = list(
            Delivery.objects.select_for_update()
            .filter(message_id=message_id, message__tenant=tenant, device=device)
            .exclude(status=DeliveryStatus.FAILED)
            .values_list("pk", "status")
        )
        if not deliveries:
            raise NotFound("No delivery of this message to this device.", field="id")
        confirmed = [pk for pk, status in deliveries if status != DeliveryStatus.DELIVERED]
        if not confirmed:
            return
        now = timezone.now()
        Delivery.objects.filter(pk__in=confirmed).update(status=DeliveryStatus.DELIVERED, error="", updated_at=now)
        events_record(
            channel="push",
            changes=[(tenant.pk, message_id, pk, DeliveryStatus.DELIVERED, "") for pk in confirmed],
            occurred_at=now,
        )


def inbox_mark_read(*, tenant: Tenant, entry_id: int) -> None:
    if not InboxEntry.objects.filter(pk=entry_id, tenant=tenant).update(is_read=True):
        raise NotFound("Unknown inbox entry id.", field="id")


def inbox_mark_all_read(*, tenant: Tenant, end_user: EndUser) -> int:
    return InboxEntry.objects.filter(tenant=tenant, end_user=end_user, is_read=False).update(is_read=True)
