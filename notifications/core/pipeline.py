"""Claim -> send -> record: the skeleton every channel runs on its outbox rows.

A channel plugs in what is its own (``Channel``): which rows and columns it claims,
how it sends a claimed batch (load content and endpoints, call its providers; answer a
``Result`` per row), which columns of its own a result sets, and what else it does in
the recording transaction (retire dead endpoints, store provider ids, finish sends)
and after it commits. The core decides each row's next status from its ``Result``
with the channel's ``RetryPolicy``, writes every row with one bulk UPDATE guarded by
the claim, and writes the status events in the same transaction.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol

from django.db import transaction
from django.utils import timezone

from notifications.core.claims import claim_param, claim_pending_rows, claimed_rows
from notifications.core.events import events_record
from notifications.core.models import OutboxRow
from notifications.core.outcome import Outcome, Result
from notifications.core.retry import RetryPolicy
from notifications.core.status import DeliveryStatus
from softafrik.bulk import values_update

NO_ANSWER = "no answer from provider"
# Columns the core sets on every recorded row, after the key.
_CORE_COLUMNS = [
    ("id", "bigint"),
    ("status", "varchar"),
    ("error", "varchar"),
    ("next_attempt_at", "timestamptz"),
    ("attempts", "smallint"),
]


@dataclass
class Batch:
    """What a channel's ``send`` answers: a result per claimed row it could send (a row
    without one is retried), and whatever the later hooks need (``context``)."""

    results: dict[int, Result] = field(default_factory=dict)
    context: Any = None


@dataclass(frozen=True, slots=True)
class Recorded:
    """One row as recorded: its claimed values, its result and the status it got."""

    row: tuple
    result: Result
    status: DeliveryStatus


class Channel(Protocol):
    name: ClassVar[str]  # the events' channel: "push", "sms"
    model: ClassVar[type[OutboxRow]]
    columns: ClassVar[list[str]]  # claimed columns: "pk" first, "attempts" among them
    extra_columns: ClassVar[list[tuple[str, str]]]  # (column, postgres type) a result also sets

    def policy(self) -> RetryPolicy: ...

    def max_attempts(self) -> int: ...

    def lease(self) -> timedelta:
        """How long a claimed row stays this worker's (only a channel that writes rows
        already claimed needs it: ``deliver(..., claim=)``)."""
        ...

    def send(self, rows: list[tuple]) -> Batch: ...

    def extra_values(self, recorded: Recorded, *, now: datetime) -> tuple: ...

    def event_source(self, row: tuple, context: Any) -> tuple[int, uuid.UUID]:
        """(tenant id, send id) of a claimed row, for its status event."""
        ...

    def after_record(self, recorded: list[Recorded], context: Any, *, now: datetime) -> None:
        """In the recording transaction."""
        ...

    def after_commit(self, recorded: list[Recorded], context: Any) -> None: ...


def deliver(channel: Channel, ids: list[int], *, claim: uuid.UUID | None = None) -> dict[str, int]:
    """Send the rows of ``ids`` that are still pending; returns counts per decision
    (sent, retry, throttled, failed). Repeatable: rows another worker claimed, or that
    are no longer pending, are left alone. Never raises for provider errors: every
    claimed row ends sent, failed, or pending with its retry time.

    With ``claim``, the rows were written already claimed under it (a broadcast page):
    they are taken as ``claims.claimed_rows`` does, with no write, and sent the same way."""
    if claim is None:
        claim, rows = claim_pending_rows(channel.model, ids, channel.columns)
        if claim is None:
            return {}
        return record(channel, claim=claim, rows=rows, batch=channel.send(rows))
    with claimed_rows(channel.model, ids, channel.columns, claim, lease=channel.lease()) as (claim, rows):
        if not rows:
            return {}
        return record(channel, claim=claim, rows=rows, batch=channel.send(rows))


def decide(result: Result, *, attempts: int, max_attempts: int, policy: RetryPolicy, now: datetime):
    """(status, error, next attempt time, attempts) for a row after ``result``."""
    if result.outcome is Outcome.SENT:
        return DeliveryStatus.SENT, "", None, attempts
    error = (result.error or result.outcome.value)[:300]
    if result.outcome is Outcome.THROTTLED:  # the route's state, not this recipient's failure
        return DeliveryStatus.PENDING, error, policy.throttled_at(now=now), attempts - 1
    if result.outcome is Outcome.TRANSIENT and attempts < max_attempts:
        return DeliveryStatus.PENDING, error, policy.next_at(attempts, result.retry_after, now=now), attempts
    return DeliveryStatus.FAILED, error, None, attempts


_COUNT_KEY = {DeliveryStatus.SENT: "sent", DeliveryStatus.FAILED: "failed"}


def record(channel: Channel, *, claim: uuid.UUID, rows: list[tuple], batch: Batch) -> dict[str, int]:
    """Write every claimed row's outcome (one bulk UPDATE, only rows still under
    ``claim`` and still 'sending'), its status event and the channel's own writes, in one
    transaction. A row another writer moved on meanwhile (a push confirmed delivered
    before its send was recorded) keeps its status; its 'sent' event is still written,
    since the provider did accept it."""
    now = timezone.now()
    policy, max_attempts = channel.policy(), channel.max_attempts()
    at = channel.columns.index("attempts")
    counts: dict[str, int] = defaultdict(int)
    recorded: list[Recorded] = []
    updates, changes = [], []
    for row in rows:
        result = batch.results.get(row[0]) or Result(row[0], Outcome.TRANSIENT, NO_ANSWER)
        status, error, next_at, attempts = decide(
            result, attempts=row[at], max_attempts=max_attempts, policy=policy, now=now
        )
        counts[_COUNT_KEY.get(status) or ("throttled" if result.outcome is Outcome.THROTTLED else "retry")] += 1
        done = Recorded(row, result, status)
        recorded.append(done)
        updates.append((row[0], status, error, next_at, attempts, *channel.extra_values(done, now=now)))
        if status != DeliveryStatus.PENDING:
            changes.append((*channel.event_source(row, batch.context), row[0], status, error))
    model = channel.model
    with transaction.atomic():
        values_update(
            table=model._meta.db_table,
            key="id",
            columns=[*_CORE_COLUMNS, *channel.extra_columns],
            rows=updates,
            extra_set="claim = NULL, updated_at = %s",
            set_params=[now],
            # Only rows still under this claim and still being sent: a push the app
            # confirmed while its provider call was out stays delivered.
            extra_where="t.claim = %s AND t.status = %s",
            where_params=[claim_param(model, claim), DeliveryStatus.SENDING.value],
        )
        events_record(channel=channel.name, changes=changes, occurred_at=now)
        channel.after_record(recorded, batch.context, now=now)
    channel.after_commit(recorded, batch.context)
    return dict(counts)
