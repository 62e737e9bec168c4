"""Status events: recorded in bulk with the change they record, consumed exactly once,
purged after their retention.

Every status change of every recipient writes one ``StatusEvent`` in the transaction
of the change (``events_record``, or a channel's own SQL that inserts into the same
table in the same statement). Consumers (webhooks, scenarios, billing, reports) read
them through ``events_consume``: a batch and the consumer's writes commit together
with its cursor, so a consumer that crashes mid-batch resumes at the same event, and
no event is handled twice or skipped.

Commit order: ids are handed out at insert, so on PostgreSQL an event with a lower id
can commit after one with a higher id, and a reader that moved past the higher one
would never see the lower. Events therefore carry their transaction's id (``txid``),
and a consumer reads in (txid, id) order only events of transactions older than the
oldest one of this database still running (``events_horizon``): every transaction that
could still add an event below its cursor has finished. SQLite has one writer and commits in id
order, so there it reads in id order.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from notifications.core.models import EventCursor, StatusEvent
from softafrik.bulk import rows_copy

CONSUME_BATCH = 1000  # events one consumer handles per transaction
PURGE_BATCH = 5000  # events one DELETE removes: bounds the statement's locks and WAL
PURGE_MAX_BATCHES = 100  # per beat run; the next run goes on

# The subject of a status event, per channel: push.delivery.sent, sms.recipient.failed,
# omni.step.timed_out (a scenario's step of one destination; omni.destination.* is its
# destination's final outcome, written with subject="destination").
SUBJECTS = {"push": "delivery", "sms": "recipient", "omni": "step"}
EVENT_COLUMNS = [
    ("tenant_id", "bigint"),
    ("channel", "varchar"),
    ("type", "varchar"),
    ("send_id", "uuid"),
    ("recipient_id", "bigint"),
    ("status", "varchar"),
    ("reason", "varchar"),
    ("occurred_at", "timestamptz"),
]
# One change as a channel reports it: (tenant id, send id, recipient id, status, reason).
Change = tuple[int, "uuid.UUID | str", int, str, str]


def event_type(channel: str, status: str, subject: str | None = None) -> str:
    return f"{channel}.{subject or SUBJECTS[channel]}.{status}"


def events_record(
    *, channel: str, changes: Iterable[Change], occurred_at: datetime | None = None, subject: str | None = None
) -> int:
    """Write one event per change, in bulk, in the caller's transaction (the caller
    writes the change itself in the same one). Returns how many were written."""
    at = occurred_at or timezone.now()
    rows = [
        (
            tenant_id,
            channel,
            event_type(channel, status, subject),
            send_id if isinstance(send_id, uuid.UUID) else uuid.UUID(str(send_id)),
            recipient_id,
            status,
            (reason or "")[:300],
            at,
        )
        for tenant_id, send_id, recipient_id, status, reason in changes
    ]
    rows_copy(table=StatusEvent._meta.db_table, columns=EVENT_COLUMNS, rows=rows)
    return len(rows)


# The oldest transaction of this database still running (as a 64-bit transaction id), or
# the next id to be given when none is: every transaction with a lower id has ended, so
# its events are all visible to the statements that follow. Only this database's
# transactions count (pg_stat_activity, and prepared ones), so a long transaction in
# another database of the cluster (a dump, a benchmark) does not hold consumers back as
# the cluster-wide snapshot xmin would. A 32-bit xid is widened by its signed 32-bit
# distance to the next id (xids are compared modulo 2^32, as PostgreSQL does).
# With it, the time before which every committed event is below the horizon: the start
# of the oldest transaction holding it (an id is taken after its transaction starts, and
# a transaction that committed before that start took its id earlier still).
_PG_HORIZON = """
WITH n AS (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next),
running AS (
    SELECT backend_xid::text::bigint AS x, xact_start AS since FROM pg_stat_activity
    WHERE datname = current_database() AND backend_xid IS NOT NULL
    UNION ALL
    SELECT transaction::text::bigint, prepared FROM pg_prepared_xacts WHERE database = current_database()
)
SELECT LEAST(n.next, min(n.next - ((((n.next & 4294967295) - running.x + 2147483648) % 4294967296
    + 4294967296) % 4294967296 - 2147483648))), LEAST(clock_timestamp(), min(running.since))
FROM n LEFT JOIN running ON true GROUP BY n.next
"""
# Identifiers come from the model; every value is a bound parameter.
_PG_NEXT_EVENTS = (
    f"SELECT * FROM {StatusEvent._meta.db_table} WHERE (txid, id) > (%s, %s)"  # noqa: S608
    " AND txid < %s ORDER BY txid, id LIMIT %s"
)


class Horizon(NamedTuple):
    txid: int | None  # PostgreSQL: events below it are all visible; None elsewhere
    safe_at: datetime  # every event committed before this time is below ``txid``


def events_horizon() -> Horizon:
    """Where consumers may read up to (see ``_PG_HORIZON``): events with a lower ``txid``
    are all visible from the next statement on, and every event committed before
    ``safe_at`` is among them. A consumer that has handled everything below a horizon
    has seen every event committed before its ``safe_at`` (the omni engine fires a timer
    only then: a receipt that came in time always wins). SQLite commits in id order: no
    txid, and now."""
    if connection.vendor != "postgresql":
        return Horizon(None, timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(_PG_HORIZON)
        txid, safe_at = cursor.fetchone()
    return Horizon(txid, safe_at)


def _cursor_ensure(consumer: str) -> None:
    EventCursor.objects.bulk_create([EventCursor(consumer=consumer)], ignore_conflicts=True)


def events_consume(*, consumer: str, handle: Callable[[list[StatusEvent]], None], limit: int = CONSUME_BATCH) -> int:
    """Give ``handle`` the consumer's next events (at most ``limit``, in commit order)
    and move its cursor past them, in one transaction: what ``handle`` writes commits
    with the cursor, or neither does (an exception rolls both back and propagates).
    Two workers running one consumer take turns on its cursor row. Returns how many
    events were handled."""
    _cursor_ensure(consumer)
    with transaction.atomic():
        cursor = EventCursor.objects.select_for_update().get(consumer=consumer)
        if connection.vendor == "postgresql":
            # The horizon first, the events in a later statement: a transaction below it
            # had ended before that statement's snapshot was taken.
            horizon = events_horizon().txid
            events = list(StatusEvent.objects.raw(_PG_NEXT_EVENTS, [cursor.txid, cursor.event_id, horizon, limit]))
        else:
            events = list(StatusEvent.objects.filter(id__gt=cursor.event_id).order_by("id")[:limit])
        if not events:
            return 0
        handle(events)
        last = events[-1]
        EventCursor.objects.filter(consumer=consumer).update(
            txid=last.txid, event_id=last.id, updated_at=timezone.now()
        )
    return len(events)


def events_drain(
    *, consumer: str, handle: Callable[[list[StatusEvent]], None], max_batches: int, limit: int = CONSUME_BATCH
) -> tuple[int, bool]:
    """``events_consume`` batch after batch, up to ``max_batches``: how many events were
    handled, and whether none is left (a batch came back short)."""
    total = 0
    for _ in range(max_batches):
        handled = events_consume(consumer=consumer, handle=handle, limit=limit)
        total += handled
        if handled < limit:
            return total, True
    return total, False


def events_purge(*, older_than: timedelta, batch: int = PURGE_BATCH, max_batches: int = PURGE_MAX_BATCHES) -> int:
    """Delete events older than ``older_than`` in batches of ``batch``, oldest first,
    never one that a registered consumer has not handled yet. Returns how many."""
    cutoff = timezone.now() - older_than
    old = StatusEvent.objects.filter(occurred_at__lt=cutoff)
    cursors = list(EventCursor.objects.values_list("txid", "event_id"))
    if cursors:
        if connection.vendor == "postgresql":
            slowest = min(cursors)
            old = old.filter(txid__lte=slowest[0]).exclude(txid=slowest[0], id__gt=slowest[1])
        else:
            old = old.filter(id__lte=min(event_id for _, event_id in cursors))
    total = 0
    for _ in range(max_batches):
        ids = list(old.order_by("id").values_list("id", flat=True)[:batch])
        if not ids:
            break
        total += StatusEvent.objects.filter(id__in=ids).delete()[0]
        if len(ids) < batch:
            break
    return total
