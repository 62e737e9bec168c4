"""Sending webhook deliveries: claim -> POST -> record, on the published retry schedule.

Beat finds due deliveries (``deliveries_due``) and hands them out in chunks; a chunk is
claimed first (``notifications.core.claims``), so a redelivered task sends nothing twice, and a
worker that dies leaves its rows to the lease sweeper. A chunk's endpoints are sent to
in parallel (at most WEBHOOK_CONCURRENCY requests at once per process, a few lanes per
endpoint, keep-alive), and:

- 2xx: delivered (status "sent");
- 410 Gone: the endpoint is disabled and its waiting deliveries stop (status "failed");
- anything else (another status, a redirect, a timeout, a refused address): the next
  attempt follows ``WEBHOOK_RETRY_SCHEDULE`` with jitter; after the last, "failed".

An endpoint that cannot be reached costs one timeout per chunk, not one per delivery:
the rest of its deliveries in the chunk are postponed to its retry time without an
attempt. A chunk stops starting requests after WEBHOOK_CHUNK_SECONDS (what is left goes
back to pending at once), so one slow receiver cannot hold a worker, or the other
tenants' deliveries in its chunk, for long. Every attempt writes a ``WebhookAttempt``.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from notifications.core.claims import claim_param, claim_pending_rows, due_chunks
from notifications.core.retry import RetryPolicy
from notifications.core.status import DeliveryStatus
from notifications.webhooks.models import EndpointKind, WebhookAttempt, WebhookDelivery, WebhookEndpoint, webhook_id
from notifications.webhooks.signing import signed_headers
from notifications.webhooks.transport import Answer, post
from softafrik.bulk import values_update

SEND_CHUNK = 200  # deliveries one task sends: at 16 parallel requests of ~50 ms, well under a second
DISPATCH_LIMIT = 5000  # due deliveries one beat tick hands out
LANES_PER_ENDPOINT = 4  # parallel requests to one endpoint within a chunk
GONE = 410
# Plain strings for the bulk UPDATE's arrays (a driver may dump an Enum by its name).
SENT, PENDING, FAILED = DeliveryStatus.SENT.value, DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value


def retry_policy() -> RetryPolicy:
    """The published schedule as the core's retry policy: its first entry is the first
    attempt (at once), the others the delays before each retry, jittered around."""
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    return RetryPolicy(
        schedule=tuple(schedule[1:]) or (0.0,), cap=max(schedule), jitter=settings.WEBHOOK_RETRY_JITTER, symmetric=True
    )


def retry_delay(attempts_made: int) -> float | None:
    """Seconds until the next attempt after ``attempts_made`` failed ones; None when the
    schedule is exhausted."""
    if attempts_made >= len(settings.WEBHOOK_RETRY_SCHEDULE):
        return None
    return retry_policy().delay(attempts_made)


def deliveries_due() -> list[list[int]]:
    return due_chunks(
        WebhookDelivery,
        lease=timedelta(seconds=settings.WEBHOOK_SENDING_LEASE_SECONDS),
        grace=timedelta(seconds=settings.WEBHOOK_DISPATCH_GRACE_SECONDS),
        limit=DISPATCH_LIMIT,
        chunk=SEND_CHUNK,
    )


@dataclass(frozen=True)
class Target:
    url: str
    secret: str
    legacy: bool
    stopped: str  # why nothing is sent to it ("" when it is live)


@dataclass
class Job:
    delivery_id: int
    endpoint_id: uuid.UUID
    message_id: uuid.UUID
    payload: str
    attempts: int  # counting the attempt this claim is for
    answer: Answer | None = None
    at: datetime | None = None
    postponed: str = ""  # not attempted: why


def _targets(endpoint_ids: set[uuid.UUID]) -> dict[uuid.UUID, Target]:
    rows = WebhookEndpoint.objects.filter(pk__in=endpoint_ids).values_list(
        "pk", "kind", "url", "secret", "is_enabled", "tenant__status_callback_url", "tenant__callback_secret"
    )
    targets = {}
    for pk, kind, url, secret, enabled, callback_url, callback_secret in rows:
        legacy = kind == EndpointKind.LEGACY
        if legacy:  # the tenant's current callback URL and secret
            url, secret = callback_url, callback_secret
        stopped = "" if enabled else "endpoint disabled"
        if not url and not stopped:
            stopped = "status callback URL removed"
        targets[pk] = Target(url=url, secret=secret, legacy=legacy, stopped=stopped)
    return targets


_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_pid = 0


def _executor() -> ThreadPoolExecutor:
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(max_workers=settings.WEBHOOK_CONCURRENCY, thread_name_prefix="webhooks")
            _pool_pid = os.getpid()
        return _pool


class _EndpointState:
    """Shared by one endpoint's lanes: the first connection failure (or 410) stops them all."""

    def __init__(self) -> None:
        self.stopped = ""


def _run_lane(jobs: list[Job], target: Target, state: _EndpointState, deadline: float) -> None:
    for job in jobs:
        if state.stopped:
            job.postponed = f"not attempted: {state.stopped}"[:300]
            continue
        if time.monotonic() > deadline:
            job.postponed = "not attempted: the batch ran out of time"
            continue
        body = job.payload.encode()
        job.at = timezone.now()
        headers = signed_headers(
            secret=target.secret,
            legacy=target.legacy,
            message_id=webhook_id(job.message_id),
            timestamp=int(job.at.timestamp()),
            body=body,
        )
        job.answer = post(target.url, body=body, headers=headers)
        if job.answer.status_code is None:
            state.stopped = f"endpoint unreachable ({job.answer.error})"
        elif job.answer.status_code == GONE:
            state.stopped = "the endpoint answered 410"


def deliveries_send(*, delivery_ids: list[int]) -> dict[str, int]:
    """Claim the still-pending deliveries among ``delivery_ids``, POST them, record every
    attempt. Returns counts per outcome (sent, retry, failed, postponed)."""
    claim, rows = claim_pending_rows(
        WebhookDelivery, delivery_ids, ["pk", "endpoint_id", "message_id", "payload", "attempts"]
    )
    if claim is None:
        return {}
    # Raw RETURNING (PostgreSQL) and the ORM (SQLite) hand uuids back in different types.
    jobs = [
        Job(pk, uuid.UUID(str(endpoint_id)), uuid.UUID(str(message_id)), payload, attempts)
        for pk, endpoint_id, message_id, payload, attempts in rows
    ]
    targets = _targets({job.endpoint_id for job in jobs})

    by_endpoint: dict[uuid.UUID, list[Job]] = defaultdict(list)
    for job in jobs:
        target = targets.get(job.endpoint_id)
        if target is None or target.stopped:
            continue
        by_endpoint[job.endpoint_id].append(job)
    deadline = time.monotonic() + settings.WEBHOOK_CHUNK_SECONDS
    futures = []
    for endpoint_id, endpoint_jobs in by_endpoint.items():
        state = _EndpointState()
        for lane in range(min(LANES_PER_ENDPOINT, len(endpoint_jobs))):
            futures.append(
                _executor().submit(
                    _run_lane, endpoint_jobs[lane::LANES_PER_ENDPOINT], targets[endpoint_id], state, deadline
                )
            )
    for future in futures:
        future.result()
    return _record(claim=claim, jobs=jobs, targets=targets)


def _record(*, claim: uuid.UUID, jobs: list[Job], targets: dict[uuid.UUID, Target]) -> dict[str, int]:
    now = timezone.now()
    counts: dict[str, int] = defaultdict(int)
    updates: list[tuple] = []  # (id, status, error, attempts, next_attempt_at)
    attempts: list[WebhookAttempt] = []
    gone: dict[uuid.UUID, str] = {}
    retry_at: dict[uuid.UUID, datetime] = {}  # an unreachable endpoint's next attempt

    for job in jobs:
        if job.answer is None:
            continue
        answer = job.answer
        attempts.append(
            WebhookAttempt(
                delivery_id=job.delivery_id,
                number=job.attempts,
                at=job.at,
                url=targets[job.endpoint_id].url[:500],
                status_code=answer.status_code,
                response=answer.excerpt,
                error=answer.error,
                duration_ms=answer.duration_ms,
            )
        )
        if answer.ok:
            updates.append((job.delivery_id, SENT, "", job.attempts, None))
            counts["sent"] += 1
        elif answer.status_code == GONE:
            gone[job.endpoint_id] = f"HTTP 410 from {targets[job.endpoint_id].url} at {now.isoformat()}"[:300]
            updates.append((job.delivery_id, FAILED, "HTTP 410: endpoint disabled", job.attempts, None))
            counts["failed"] += 1
        else:
            delay = retry_delay(job.attempts)
            if delay is None:
                updates.append((job.delivery_id, FAILED, answer.error, job.attempts, None))
                counts["failed"] += 1
            else:
                at = now + timedelta(seconds=delay)
                if answer.status_code is None:
                    retry_at.setdefault(job.endpoint_id, at)
                updates.append((job.delivery_id, PENDING, answer.error, job.attempts, at))
                counts["retry"] += 1
    for job in jobs:
        if job.answer is not None:
            continue
        target = targets.get(job.endpoint_id)
        if target is None or target.stopped:  # nothing sent: the claim's attempt is given back
            reason = target.stopped if target else "endpoint deleted"
            updates.append((job.delivery_id, FAILED, reason, job.attempts - 1, None))
            counts["failed"] += 1
        else:
            at = retry_at.get(job.endpoint_id, now)
            updates.append((job.delivery_id, PENDING, job.postponed, job.attempts - 1, at))
            counts["postponed"] += 1

    with transaction.atomic():
        values_update(
            table=WebhookDelivery._meta.db_table,
            key="id",
            columns=[
                ("id", "bigint"),
                ("status", "varchar"),
                ("error", "varchar"),
                ("attempts", "smallint"),
                ("next_attempt_at", "timestamptz"),
            ],
            rows=updates,
            extra_set="claim = NULL, updated_at = %s",
            set_params=[now],
            extra_where="t.claim = %s",
            where_params=[claim_param(WebhookDelivery, claim)],
        )
        WebhookAttempt.objects.bulk_create(attempts)
        for endpoint_id, reason in gone.items():
            endpoints_disable(endpoint_ids=[endpoint_id], reason=reason)
    return dict(counts)


def endpoints_disable(*, endpoint_ids: list[uuid.UUID], reason: str) -> int:
    """Disable endpoints (a 410 answer) and stop their waiting deliveries."""
    now = timezone.now()
    disabled = WebhookEndpoint.objects.filter(pk__in=endpoint_ids, is_enabled=True).update(
        is_enabled=False, disabled_reason=reason, updated_at=now
    )
    WebhookDelivery.objects.filter(endpoint_id__in=endpoint_ids, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED, error="endpoint disabled", next_attempt_at=None, updated_at=now
    )
    return disabled
