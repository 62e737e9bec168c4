"""Sending SMS numbers: the SMS channel plugged into the core's pipeline.

A task claims pending recipients (``notifications.core.pipeline.deliver``), the route
clients send them concurrently within each route's window and throughput limit, and the
core writes every outcome with one bulk UPDATE and the status events (writing part of a
chunk while the next part was out measured slower: docs/benchmarks.md). A route that fails as a whole hands its
recipients to the next route matching their country at once; a transient per-number
failure retries later on the next route (attempt N uses the Nth matching route,
cyclically); a throttled number waits a little without using up an attempt.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta
from typing import ClassVar

from django.conf import settings

from notifications.core.claims import due_chunks
from notifications.core.outcome import Outcome, Result
from notifications.core.pipeline import Batch, Recorded, deliver
from notifications.core.retry import RetryPolicy
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
from softafrik.bulk import rows_insert

logger = logging.getLogger(__name__)

SMS_CHUNK = 500  # recipients per send task: one claim, one bulk write
RETRY = RetryPolicy(base=10, cap=900, throttle_wait=2.0)
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


class SmsChannel:
    """What is SMS's own in the pipeline: routes with fallback, encoded parts, provider
    ids for receipts, finished sends."""

    name: ClassVar[str] = "sms"
    model: ClassVar[type[SmsRecipient]] = SmsRecipient
    columns: ClassVar[list[str]] = ["pk", "message_id", "number", "attempts"]
    extra_columns: ClassVar[list[tuple[str, str]]] = [("route_id", "bigint"), ("sent_at", "timestamptz")]

    def policy(self) -> RetryPolicy:
        return RETRY

    def max_attempts(self) -> int:
        return settings.SMS_MAX_ATTEMPTS

    def send(self, rows: list[tuple]) -> Batch:
        messages = {
            m.pk: m
            for m in SmsMessage.objects.filter(pk__in={row[1] for row in rows}).only(
                "pk", "tenant_id", "sender", "text", "parts", "state"
            )
        }
        outcomes = _send(rows, messages, routes_active())
        return Batch(
            results={pk: _result_of(pk, route, answer) for pk, (route, answer) in outcomes.items()}, context=messages
        )

    def extra_values(self, recorded: Recorded, *, now) -> tuple:
        return recorded.result.via, now if recorded.status == DeliveryStatus.SENT else None

    def event_source(self, row: tuple, context: dict):
        return context[row[1]].tenant_id, row[1]

    def after_record(self, recorded: list[Recorded], context: dict, *, now) -> None:
        rows_insert(
            table=SmsProviderId._meta.db_table,
            columns=[("route_id", "bigint"), ("provider_message_id", "varchar"), ("recipient_id", "bigint")],
            rows=_provider_ids(recorded),
            ignore_conflicts=True,
        )
        sms_messages_finish(message_ids=list(context))

    def after_commit(self, recorded: list[Recorded], context: dict) -> None:
        # Receipts can arrive before we wrote the ids they refer to.
        receipts_apply_pending(provider_message_ids=[(route_id, pmid) for route_id, pmid, _ in _provider_ids(recorded)])


SMS = SmsChannel()


def sms_send_chunk(*, recipient_ids: list[int]) -> dict[str, int]:
    """Send the given recipients that are still pending; counts per decision (see
    ``notifications.core.pipeline.deliver``: claimed once, never raises for provider errors)."""
    return deliver(SMS, recipient_ids)


def _provider_ids(recorded: list[Recorded]) -> list[tuple[int, str, int]]:
    """(route, provider's id, recipient) of every part accepted."""
    return [
        (done.result.via, pmid[:100], done.row[0])
        for done in recorded
        if done.status == DeliveryStatus.SENT
        for pmid in done.result.provider_ids
    ]


def _result_of(pk: int, route: SmsRoute | None, answer: SubmitResult | SmsError) -> Result:
    via = route.pk if route else None
    if isinstance(answer, SubmitResult):
        return Result(pk, Outcome.SENT, provider_ids=answer.provider_message_ids, via=via)
    if isinstance(answer, ThrottledError):
        return Result(pk, Outcome.THROTTLED, error=str(answer) or "throttled", via=via)
    outcome = Outcome.TRANSIENT if isinstance(answer, TransientSmsError) else Outcome.PERMANENT
    return Result(pk, outcome, error=str(answer) or type(answer).__name__, via=via)


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
