"""Delivery receipts: stored as they arrive, applied to their recipients in bulk.

SMPP receipts arrive on the bind's reader thread, hundreds a second during a campaign;
``ReceiptSink`` buffers them and a flusher thread writes them in batches. HTTP provider
callbacks store and apply theirs directly. A receipt whose submit id is not written yet
(the SMSC answered faster than our bulk write) waits unapplied; the sender applies it
right after writing the ids, and beat's sweep catches any that slipped through. On
PostgreSQL each of these is one statement per batch; SQLite runs the same rules in Python.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta

from django.db import close_old_connections, connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from notifications.core.events import event_type, events_record
from notifications.core.models import StatusEvent
from notifications.core.status import DeliveryStatus
from sms.models import SmsProviderId, SmsReceipt, SmsRecipient
from sms.providers.base import Receipt
from softafrik.bulk import pg_unnest_execute, rows_insert, values_update

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 0.2
IDLE_CLOSE_SECONDS = 10.0  # the flusher closes its database connection after this long without receipts
STALE_WINDOW = timedelta(days=2)  # receipts older than this with no match are given up on
SWEEP_LIMIT = 5000


# A receipt row as the apply step reads it: (id, route id, provider's id, state, error).
ReceiptRow = tuple[int, int, str, str, str]
_RECEIPT_COLUMNS = [
    ("route_id", "bigint"),
    ("provider_message_id", "varchar"),
    ("state", "varchar"),
    ("error", "varchar"),
]
_APPLIES = ("delivered", "failed")  # receipt states that change a recipient ("sent" is intermediate)
_SETTLED = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.FAILED)  # submit recorded


def receipts_ingest(*, items: list[tuple[int, Receipt]]) -> None:
    """Store every receipt of ``items`` ((route id, receipt)) and apply those whose submit
    is recorded: a delivered part counts towards the recipient's parts (all delivered:
    'delivered'), a failed part fails it, a final recipient keeps its first verdict.
    A receipt whose submit is not recorded yet is stored unapplied for a later pass;
    an intermediate one ("sent") is stored as applied, with nothing to change.
    Every status change writes its status event in the same transaction."""
    if not items:
        return
    now = timezone.now()
    rows = [(route_id, r.provider_message_id[:100], r.state, (r.error or "")[:100]) for route_id, r in items]
    if connection.vendor == "postgresql":
        with transaction.atomic():
            pg_unnest_execute(sql=_PG_INGEST, columns=_RECEIPT_COLUMNS, rows=rows, after=[now, now, now])
        return
    with transaction.atomic():
        ids = rows_insert(
            table=SmsReceipt._meta.db_table,
            columns=[*_RECEIPT_COLUMNS, ("applied", "boolean"), ("received_at", "timestamptz")],
            rows=[(*row, row[2] not in _APPLIES, now) for row in rows],
            returning="id",
        )
        _apply_rows([(pk, *row) for pk, row in zip(ids, rows, strict=True) if row[2] in _APPLIES], now=now)


def receipt_record(*, route_id: int, receipt: Receipt) -> None:
    """Store one receipt and apply it (HTTP provider callbacks)."""
    receipts_ingest(items=[(route_id, receipt)])


def receipts_apply_pending(*, provider_message_ids: list[tuple[int, str]]) -> None:
    """Apply stored receipts that arrived before these submit ids were written."""
    if not provider_message_ids:
        return
    if connection.vendor == "postgresql":
        _pg_apply_stored(
            where="(rc.route_id, rc.provider_message_id) IN (SELECT * FROM unnest(%s::bigint[], %s::varchar[]))",
            params=[list(column) for column in zip(*provider_message_ids, strict=True)],
        )
    else:
        _apply_stored_python(SmsReceipt.objects.filter(_submits_q(provider_message_ids)))


def receipts_sweep() -> None:
    """Beat: apply stored receipts whose submit is now recorded. Receipts nobody sent us
    a submit for (or older than STALE_WINDOW) are left alone, so they never crowd out
    the ones that can be applied."""
    since = timezone.now() - STALE_WINDOW
    if connection.vendor == "postgresql":
        _pg_apply_stored(where="rc.received_at >= %s", params=[since], limit=SWEEP_LIMIT)
        return
    submitted = SmsProviderId.objects.filter(
        route_id=OuterRef("route_id"), provider_message_id=OuterRef("provider_message_id")
    )
    _apply_stored_python(SmsReceipt.objects.filter(Exists(submitted), received_at__gte=since))


# PostgreSQL: one statement finds each receipt's recipient, stores or marks the receipts,
# and updates the recipients. A recipient row is updated with its latest committed values
# (READ COMMITTED re-reads a row another flush changed meanwhile), so two flushes holding
# parts of the same message both count. The trailing INSERT writes the status event of
# every recipient that reached a final status, in the same statement.
_PG_APPLY = """
agg AS (
    SELECT recipient_id,
        count(*) FILTER (WHERE state = 'delivered') AS delivered,
        min(CASE WHEN state = 'failed' THEN COALESCE(NULLIF(error, ''), 'undelivered') END) AS failure
    FROM applicable GROUP BY recipient_id
),
changed AS (
    UPDATE {recipient} AS r SET
        parts_delivered = r.parts_delivered + agg.delivered,
        status = CASE WHEN agg.failure IS NOT NULL THEN '{failed}'
            WHEN r.parts_delivered + agg.delivered >= r.parts THEN '{delivered}' ELSE r.status END,
        error = COALESCE(agg.failure, r.error),
        updated_at = %s
    FROM agg WHERE r.id = agg.recipient_id AND r.status = '{sent}'
    RETURNING r.id, r.status, r.error, r.tenant_id, r.message_id
)
INSERT INTO {event} (tenant_id, channel, type, send_id, recipient_id, status, reason, occurred_at)
SELECT tenant_id, 'sms', '{event_prefix}' || status, message_id, id, status, error, %s
FROM changed WHERE status <> '{sent}'
"""
_PG_NAMES = {
    "recipient": SmsRecipient._meta.db_table,
    "provider_id": SmsProviderId._meta.db_table,
    "receipt": SmsReceipt._meta.db_table,
    "event": StatusEvent._meta.db_table,
    "event_prefix": event_type("sms", ""),
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "failed": DeliveryStatus.FAILED,
    "settled": ", ".join(f"'{status}'" for status in _SETTLED),
    "applies": ", ".join(f"'{state}'" for state in _APPLIES),
}
# Identifiers and states come from code, never from input; every value is a bound parameter.
_PG_INGEST = (
    """WITH incoming AS (
    SELECT * FROM {{source}} AS i(route_id, provider_message_id, state, error)
),
owned AS (
    SELECT i.route_id, i.provider_message_id, p.recipient_id
    FROM (SELECT DISTINCT route_id, provider_message_id FROM incoming) AS i
    JOIN {provider_id} AS p ON p.route_id = i.route_id AND p.provider_message_id = i.provider_message_id
    JOIN {recipient} AS r ON r.id = p.recipient_id
    WHERE r.status IN ({settled})
),
stored AS (
    INSERT INTO {receipt} (route_id, provider_message_id, state, error, applied, received_at)
    SELECT i.route_id, i.provider_message_id, i.state, i.error,
        i.state NOT IN ({applies}) OR o.recipient_id IS NOT NULL, %s
    FROM incoming AS i
    LEFT JOIN owned AS o ON o.route_id = i.route_id AND o.provider_message_id = i.provider_message_id
),
applicable AS (
    SELECT o.recipient_id, i.state, i.error FROM incoming AS i
    JOIN owned AS o ON o.route_id = i.route_id AND o.provider_message_id = i.provider_message_id
    WHERE i.state IN ({applies})
),"""  # noqa: S608
    + _PG_APPLY
).format(**_PG_NAMES)
# Stored receipts: taken with SKIP LOCKED, so a sender and beat's sweep never apply one twice.
_PG_APPLY_STORED = (
    """WITH picked AS (
    SELECT rc.id, p.recipient_id, rc.state, rc.error
    FROM {receipt} AS rc
    JOIN {provider_id} AS p ON p.route_id = rc.route_id AND p.provider_message_id = rc.provider_message_id
    JOIN {recipient} AS r ON r.id = p.recipient_id
    WHERE NOT rc.applied AND r.status IN ({settled}) AND {{where}}
    ORDER BY rc.id {{limit}}
    FOR UPDATE OF rc SKIP LOCKED
),
marked AS (
    UPDATE {receipt} SET applied = true WHERE id IN (SELECT id FROM picked)
),
applicable AS (
    SELECT recipient_id, state, error FROM picked WHERE state IN ({applies})
),"""  # noqa: S608
    + _PG_APPLY
).format(**_PG_NAMES)


def _pg_apply_stored(*, where: str, params: list, limit: int | None = None) -> None:
    sql = _PG_APPLY_STORED.format(where=where, limit=f"LIMIT {int(limit)}" if limit else "")
    with transaction.atomic(), connection.cursor() as cursor:
        now = timezone.now()
        cursor.execute(sql, [*params, now, now])


# Elsewhere (SQLite): the same rules in Python, under the database's single writer.


def _apply_stored_python(receipts) -> None:
    waiting = list(
        receipts.filter(applied=False)
        .order_by("pk")
        .values_list("pk", "route_id", "provider_message_id", "state", "error")[:SWEEP_LIMIT]
    )
    with transaction.atomic():
        _apply_rows(waiting, now=timezone.now())


def _apply_rows(receipts: list[ReceiptRow], *, now) -> None:
    """Apply stored receipts (callers hold a transaction); leaves unapplied those whose
    recipient is unknown or still being sent."""
    if not receipts:
        return
    keys = _submits_q((route_id, pmid) for _, route_id, pmid, _, _ in receipts)
    owner = {
        (route_id, pmid): recipient_id
        for route_id, pmid, recipient_id in SmsProviderId.objects.filter(keys).values_list(
            "route_id", "provider_message_id", "recipient_id"
        )
    }
    matched = [r for r in receipts if (r[1], r[2]) in owner]
    recipients = {
        pk: [status, parts, delivered, error, tenant_id, message_id]
        for pk, status, parts, delivered, error, tenant_id, message_id in SmsRecipient.objects.select_for_update()
        .filter(pk__in={owner[(r[1], r[2])] for r in matched})
        .values_list("pk", "status", "parts", "parts_delivered", "error", "tenant_id", "message_id")
    }
    applied: list[int] = []
    touched: set[int] = set()
    for pk, route_id, pmid, state, error in matched:
        recipient_id = owner[(route_id, pmid)]
        current = recipients[recipient_id]
        if current[0] not in _SETTLED:
            continue  # still being sent: try again once the submit is recorded
        applied.append(pk)
        if current[0] != DeliveryStatus.SENT or state not in _APPLIES:
            continue  # final already (keep the first verdict), or nothing to change
        if state == "failed":
            current[0], current[3] = DeliveryStatus.FAILED, error or "undelivered"
        else:
            current[2] += 1
            if current[2] >= current[1]:
                current[0] = DeliveryStatus.DELIVERED
        touched.add(recipient_id)
    values_update(
        table=SmsRecipient._meta.db_table,
        key="id",
        columns=[("id", "bigint"), ("status", "varchar"), ("parts_delivered", "smallint"), ("error", "varchar")],
        rows=[(pk, *(recipients[pk][i] for i in (0, 2, 3))) for pk in touched],
        extra_set="updated_at = %s",
        set_params=[now],
    )
    SmsReceipt.objects.filter(pk__in=applied).update(applied=True)
    events_record(
        channel="sms",
        changes=[
            (recipients[pk][4], recipients[pk][5], pk, recipients[pk][0], recipients[pk][3])
            for pk in touched
            if recipients[pk][0] != DeliveryStatus.SENT
        ],
        occurred_at=now,
    )


def _submits_q(keys: Iterable[tuple[int, str]]) -> Q:
    """Rows of these (route id, provider's id) pairs."""
    by_route: dict[int, list[str]] = defaultdict(list)
    for route_id, pmid in keys:
        by_route[route_id].append(pmid)
    query = Q(pk__in=[])
    for route_id, pmids in by_route.items():
        query |= Q(route_id=route_id, provider_message_id__in=pmids)
    return query


class ReceiptSink:
    """Buffers receipts from SMPP reader threads and writes them in batches."""

    def __init__(self) -> None:
        self._items: list[tuple[int, Receipt]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sms-receipts", daemon=True)
        self._thread.start()

    def put(self, route_id: int, receipt: Receipt) -> None:
        with self._lock:
            self._items.append((route_id, receipt))

    def flush(self) -> int:
        with self._lock:
            items, self._items = self._items, []
        if not items:
            return 0
        try:
            close_old_connections()
            receipts_ingest(items=items)
        except Exception:
            logger.exception("storing %d SMS receipts failed; they are kept for the next flush", len(items))
            with self._lock:
                self._items[:0] = items
            return 0
        return len(items)

    def discard(self) -> None:
        """Drop what is buffered (tests, between databases)."""
        with self._lock:
            self._items.clear()

    def _run(self) -> None:
        busy_at = time.monotonic()
        while True:
            time.sleep(FLUSH_SECONDS)
            try:
                if self.flush():
                    busy_at = time.monotonic()
                elif time.monotonic() - busy_at > IDLE_CLOSE_SECONDS and connection.connection is not None:
                    # Idle for a while: give this thread's database connection back rather
                    # than hold it between campaigns.
                    connection.close()
            except Exception:  # the flusher must outlive any one bad batch
                logger.exception("SMS receipt flusher failed")


_sink: ReceiptSink | None = None
_sink_lock = threading.Lock()


def receipt_sink() -> ReceiptSink:
    global _sink
    with _sink_lock:
        if _sink is None:
            _sink = ReceiptSink()
        return _sink
