"""Status events -> daily aggregates: the "reports" consumer of the core's events.

Each batch of events (``events_consume``: the batch, what it writes and the consumer's
cursor commit together, so a crash mid-batch counts nothing and the batch comes again)
is folded in a few statements, whatever its size:

1. the changes it counts: per recipient (omni: per destination) its first outcome, its
   hand-off to the network (``sent``, or ``delivered`` when the app's receipt beat the
   send's record), ``delivered`` and ``failed``; each is a ``CountedStatus`` key,
   inserted with ON CONFLICT DO NOTHING, so only the keys this batch inserted count (a
   repeated event of one change counts once);
2. what those recipients are (app, sender, country, category, campaign, scenario, price,
   when they were due), one query per channel (``reports.sources``);
3. the sums per (tenant, day in its time zone, channel, dimensions), added to
   ``DailyStat`` by one upsert, and the new failures written to ``RecentFailure``.

The cost of a recipient is its price, counted when it is handed to the network: billing
settles it then (``billing.consumer``), and releases it, costing nothing, when it fails
first. Omni counts destinations by their final outcome (``omni.destination.*``); the
push and SMS its steps sent are counted, and cost, on their own channels.
"""

from __future__ import annotations

import uuid
from bisect import bisect_left
from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

from accounts.models import Tenant
from notifications.core.events import CONSUME_BATCH, events_drain
from notifications.core.models import StatusEvent
from notifications.core.status import DeliveryStatus
from reports.models import (
    COUNTS,
    DIMENSIONS,
    TTD_BOUNDS,
    TTD_BUCKETS,
    TTD_FIELDS,
    CountedStatus,
    DailyStat,
    RecentFailure,
)
from reports.sources import Source, omni_sources, push_sources, sms_sources
from softafrik.bulk import rows_insert, rows_upsert

CONSUMER = "reports"
CONSUME_MAX_BATCHES = 50  # batches one beat tick folds

SENT, DELIVERED, FAILED, OUTCOME = "sent", "delivered", "failed", "outcome"
# The counts one event's status can add, before deduplication by CountedStatus.
_COUNTS_OF = {
    DeliveryStatus.SENT: (OUTCOME, SENT),
    DeliveryStatus.DELIVERED: (OUTCOME, SENT, DELIVERED),
    DeliveryStatus.FAILED: (OUTCOME, FAILED),
}
_OMNI_FINAL = {"omni.destination.delivered": (OUTCOME, DELIVERED), "omni.destination.failed": (OUTCOME, FAILED)}
_SOURCES = {"push": push_sources, "sms": sms_sources, "omni": omni_sources}
_NO_SOURCE = Source("", "", "", "", "", "", 0, None, "")

_COUNTED_COLUMNS = [("key", "varchar"), ("at", "timestamptz")]
_STAT_COLUMNS = [
    ("tenant_id", "bigint"),
    ("day", "date"),
    *((name, "varchar") for name in DIMENSIONS),
    *((name, "bigint") for name in (*COUNTS, *TTD_FIELDS)),
]
_FAILURE_COLUMNS = [
    ("tenant_id", "bigint"),
    ("channel", "varchar"),
    ("send_id", "uuid"),
    ("recipient_id", "bigint"),
    ("destination", "varchar"),
    ("country", "varchar"),
    ("reason", "varchar"),
    ("occurred_at", "timestamptz"),
]


def reports_consume(*, max_batches: int = CONSUME_MAX_BATCHES, limit: int = CONSUME_BATCH) -> int:
    """Fold waiting events, up to ``max_batches`` batches; returns how many were handled."""
    return events_drain(consumer=CONSUMER, handle=events_fold, max_batches=max_batches, limit=limit)[0]


def _candidates(events: list[StatusEvent]) -> dict[str, StatusEvent]:
    """{key "<channel>:<recipient>:<count>": the first event of the batch that adds it}."""
    keys: dict[str, StatusEvent] = {}
    for event in events:
        if event.channel == "omni":
            counts = _OMNI_FINAL.get(event.type, ())
        elif event.channel in ("push", "sms"):
            counts = _COUNTS_OF.get(event.status, ())
        else:
            continue
        for count in counts:
            keys.setdefault(f"{event.channel}:{event.recipient_id}:{count}", event)
    return keys


def events_fold(events: list[StatusEvent]) -> None:
    """Add what ``events`` change to the aggregates, in the caller's transaction (the
    consumer's ``handle``); each (recipient, count) is added once, ever."""
    candidates = _candidates(events)
    if not candidates:
        return
    inserted = rows_insert(
        table=CountedStatus._meta.db_table,
        columns=_COUNTED_COLUMNS,
        rows=[(key, event.occurred_at) for key, event in candidates.items()],
        ignore_conflicts=True,
        returning="key",
    )
    new = [(key, candidates[key]) for key in inserted]
    if not new:
        return
    ids: dict[str, set[int]] = defaultdict(set)
    for _, event in new:
        ids[event.channel].add(event.recipient_id)
    sources = {channel: _SOURCES[channel](list(pks)) for channel, pks in ids.items()}
    zones = {
        pk: ZoneInfo(name)
        for pk, name in Tenant.objects.filter(pk__in={e.tenant_id for _, e in new}).values_list("pk", "timezone")
    }
    sums: dict[tuple, list[int]] = {}
    failures = []
    for key, event in new:
        count = key.rsplit(":", 1)[1]
        source = sources[event.channel].get(event.recipient_id, _NO_SOURCE)
        zone = zones.get(event.tenant_id)
        if zone is None:  # the tenant is gone, and its rows with it
            continue
        day = event.occurred_at.astimezone(zone).date()
        dims = (event.channel, source.app, source.sender, source.country, source.category, source.campaign)
        row = sums.setdefault((event.tenant_id, day, *dims, source.scenario), [0] * (len(COUNTS) + TTD_BUCKETS))
        row[COUNTS.index(count if count != OUTCOME else "outcomes")] += 1
        if count == SENT:
            row[COUNTS.index("cost")] += source.price
        elif count == DELIVERED and source.due_at is not None:
            row[len(COUNTS) + _ttd_bucket(event.occurred_at, source.due_at)] += 1
        elif count == FAILED:
            failures.append(_failure(event, source))
    rows_upsert(
        table=DailyStat._meta.db_table,
        columns=_STAT_COLUMNS,
        rows=[(*dims, *values) for dims, values in sums.items()],
        keys=["tenant_id", "day", *DIMENSIONS],
        add=[*COUNTS, *TTD_FIELDS],
    )
    rows_insert(table=RecentFailure._meta.db_table, columns=_FAILURE_COLUMNS, rows=failures)


def _ttd_bucket(delivered_at: datetime, due_at: datetime) -> int:
    return bisect_left(TTD_BOUNDS, max(0.0, (delivered_at - due_at).total_seconds()))


def _failure(event: StatusEvent, source: Source) -> tuple:
    send_id = event.send_id if isinstance(event.send_id, uuid.UUID) else uuid.UUID(str(event.send_id))
    return (
        event.tenant_id,
        event.channel,
        send_id,
        event.recipient_id,
        source.destination[:100],
        source.country,
        event.reason[:300],
        event.occurred_at,
    )
