"""Sending claimed SMS recipients through their routes, with fallback and retries.

Like push: a task claims pending recipients (``softafrik.claims``), the route clients
send them concurrently within each route's window and throughput limit, and every
outcome is written with one bulk UPDATE (writing part of a chunk while the next part was
out measured slower: docs/benchmarks.md). A route that fails as a whole hands its
recipients to the next route matching their country at once; a transient per-number
failure retries later on the next route (attempt N uses the Nth matching route,
cyclically); a throttled number waits a little without using up an attempt.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from notifications.core.events import events_record
from notifications.core.status import DeliveryStatus
from sms import encoding
from sms.models import SmsMessage, SmsProviderId, SmsRecipient, SmsRoute, SmsState
from sms.providers.base import (
    PermanentSmsError,
    SmsError,
    SmsSubmit,
    SubmitResult,
    ThrottledError,
    TransientSmsError,
)
from sms.receipts import receipts_apply_pending
from sms.routing import route_client, routes_active, routes_for
from sms.services import sms_messages_finish
from softafrik.bulk import rows_insert, values_update
from softafrik.claims import claim_param, claim_pending_rows, due_chunks

logger = logging.getLogger(__name__)

SMS_CHUNK = 500  # recipients per send task: one claim, one bulk write
THROTTLE_WAIT_SECONDS = 2.0
RETRY_BASE_SECONDS = 10
RETRY_MAX_SECONDS = 900
SWEEP_BATCH = 20 * SMS_CHUNK


def sms_dispatch(*, message_id: str) -> list[list[int]]:
    """The due pending recipients of a send, in chunks (what the dispatch task enqueues)."""
    ids = list(
        SmsRecipient.objects.filter(message_id=message_id, status=DeliveryStatus.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return [ids[i : i + SMS_CHUNK] for i in range(0, len(ids), SMS_CHUNK)]


def recipients_due(*, limit: int = SWEEP_BATCH) -> list[list[int]]:
    """Scheduled sends whose date came, retries, lost tasks, dead workers' claims."""
    chunks = due_chunks(
        SmsRecipient,
        lease=timedelta(seconds=settings.SMS_SENDING_LEASE_SECONDS),
        grace=timedelta(seconds=settings.SMS_DISPATCH_GRACE_SECONDS),
        limit=limit,
        chunk=SMS_CHUNK,
    )
    if chunks:  # a scheduled send starts when its first numbers go out
        SmsMessage.objects.filter(
            state=SmsState.SCHEDULED, recipients__pk__in=[i for chunk in chunks for i in chunk]
        ).update(state=SmsState.ACTIVE)
    return chunks


def _retry_at(attempts: int):
    ceiling = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1))
    return timezone.now() + timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def sms_send_chunk(*, recipient_ids: list[int]) -> dict[str, int]:
    """Send the given recipients that are still pending. Never raises for provider
    errors: every claimed row ends sent, failed, or pending with a retry time."""
    claim, rows = claim_pending_rows(SmsRecipient, recipient_ids, ["pk", "message_id", "number", "attempts"])
    if claim is None:
        return {}
    messages = {
        m.pk: m
        for m in SmsMessage.objects.filter(pk__in={row[1] for row in rows})
        .select_related("tenant")
        .only("pk", "tenant_id", "sender", "text", "parts", "state")
    }
    outcomes = _send(rows, messages, routes_active())
    return _record(claim=claim, rows={row[0]: row for row in rows}, outcomes=outcomes, messages=messages)


def _send(rows: list[tuple], messages: dict, routes: list[SmsRoute]) -> dict:
    """Submit ``rows`` through their routes, falling back route by route; returns
    {recipient id: (route or None, SubmitResult or SmsError)}."""
    parts_cache: dict = {}
    outcomes: dict[int, tuple[SmsRoute | None, SubmitResult | SmsError]] = {}
    # Candidate routes per recipient: its attempt picks the first, the rest are fallbacks.
    queue: dict[int, list[SmsRoute]] = {}
    by_id = {row[0]: row for row in rows}
    for pk, message_id, number, attempts in rows:
        if messages[message_id].state == SmsState.CANCELLED:
            outcomes[pk] = (None, PermanentSmsError("cancelled"))
            continue
        candidates = routes_for(number, routes)
        if not candidates:
            outcomes[pk] = (None, PermanentSmsError(f"no SMS route serves {number[:4]}…"))
            continue
        shift = (attempts - 1) % len(candidates)
        queue[pk] = candidates[shift:] + candidates[:shift]
    while queue:
        groups: dict[int, list[int]] = defaultdict(list)
        route_by_id: dict[int, SmsRoute] = {}
        for pk, candidates in queue.items():
            groups[candidates[0].pk].append(pk)
            route_by_id[candidates[0].pk] = candidates[0]
        next_queue: dict[int, list[SmsRoute]] = {}
        for route_id, pks in groups.items():
            route = route_by_id[route_id]
            submits = []
            for pk in pks:
                message = messages[by_id[pk][1]]
                # The concatenation reference varies by recipient; one part has none.
                reference = pk % 256 if message.parts > 1 else 0
                key = (message.pk, reference)
                if key not in parts_cache:
                    parts_cache[key] = tuple(encoding.encode_parts(message.text, reference))
                submits.append(
                    SmsSubmit(
                        recipient_id=pk,
                        sender=message.sender,
                        destination=by_id[pk][2],
                        text=message.text,
                        parts=parts_cache[key],
                    )
                )
            try:
                answers = route_client(route).submit_batch(submits)
            except TransientSmsError as exc:
                logger.warning("SMS route %s is down: %s", route.name, exc)
                for pk in pks:
                    rest = queue[pk][1:]
                    if rest:
                        next_queue[pk] = rest
                    else:
                        outcomes[pk] = (route, exc)
                continue
            except Exception as exc:  # a bug in an adapter must not strand rows in 'sending'
                logger.exception("SMS route %s crashed", route.name)
                answers = [TransientSmsError(f"internal: {exc}")] * len(pks)
            for pk, answer in zip(pks, answers, strict=True):
                outcomes[pk] = (route, answer)
        queue = next_queue
    return outcomes


def _record(*, claim, rows, outcomes, messages) -> dict[str, int]:
    now = timezone.now()
    counts: dict[str, int] = defaultdict(int)
    updates = []
    provider_ids: list[tuple[int, str, int]] = []  # (route, provider's id, recipient)
    changed: list[tuple] = []  # status events: (tenant, send, recipient, status, reason)
    for pk, (route, answer) in outcomes.items():
        attempts = rows[pk][3]
        next_at = sent_at = None
        error = ""
        if isinstance(answer, SubmitResult):
            status = DeliveryStatus.SENT
            sent_at = now
            provider_ids += [(route.pk, pmid[:100], pk) for pmid in answer.provider_message_ids]
            counts["sent"] += 1
        elif isinstance(answer, ThrottledError):
            status, error = DeliveryStatus.PENDING, str(answer) or "throttled"
            next_at = now + timedelta(seconds=THROTTLE_WAIT_SECONDS * random.uniform(1, 2))
            attempts -= 1  # throttling is the route's state, not this number's failure
            counts["throttled"] += 1
        elif isinstance(answer, TransientSmsError) and attempts < settings.SMS_MAX_ATTEMPTS:
            status, error, next_at = DeliveryStatus.PENDING, str(answer)[:300], _retry_at(attempts)
            counts["retry"] += 1
        else:
            status, error = DeliveryStatus.FAILED, (str(answer) or type(answer).__name__)[:300]
            counts["failed"] += 1
        updates.append((pk, status, error, route.pk if route else None, next_at, sent_at, attempts))
        if status != DeliveryStatus.PENDING:
            message = messages[rows[pk][1]]
            changed.append((message.tenant_id, message.pk, pk, status, error))
    with transaction.atomic():
        values_update(
            table=SmsRecipient._meta.db_table,
            key="id",
            columns=[
                ("id", "bigint"),
                ("status", "varchar"),
                ("error", "varchar"),
                ("route_id", "bigint"),
                ("next_attempt_at", "timestamptz"),
                ("sent_at", "timestamptz"),
                ("attempts", "smallint"),
            ],
            rows=updates,
            extra_set="claim = NULL, updated_at = %s",
            set_params=[now],
            extra_where="t.claim = %s",
            where_params=[claim_param(SmsRecipient, claim)],
        )
        rows_insert(
            table=SmsProviderId._meta.db_table,
            columns=[("route_id", "bigint"), ("provider_message_id", "varchar"), ("recipient_id", "bigint")],
            rows=provider_ids,
            ignore_conflicts=True,
        )
        events_record(channel="sms", changes=changed, occurred_at=now)
        sms_messages_finish(message_ids=list(messages))
    if provider_ids:  # receipts can arrive before we wrote the ids they refer to
        receipts_apply_pending(provider_message_ids=[(route_id, pmid) for route_id, pmid, _ in provider_ids])
    return dict(counts)
