"""Sending push deliveries: the push channel plugged into the core's pipeline.

A send task claims its deliveries (``notifications.core.pipeline.deliver``), their
devices' app, platform and token coming with the claim; this module loads their
messages, calls the provider once per (app, platform) group (FCM takes every message
of a group in one call), and turns each answer into the
core's ``Result``. The core records them (one bulk UPDATE, the status events); this
channel adds the provider's message id and, in the same transaction, deactivates the
devices whose token is dead. Retries are timers in the database swept by beat
(``deliveries_due``): never long Celery countdowns.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import defaultdict
from datetime import timedelta
from functools import partial
from typing import ClassVar
from urllib.parse import urlsplit

from django.conf import settings

from devices.models import App
from devices.services import devices_deactivate
from notifications.core.claims import due_chunks
from notifications.core.outcome import Outcome, Result
from notifications.core.pipeline import Batch, Recorded, deliver
from notifications.core.retry import RetryPolicy
from notifications.core.status import DeliveryStatus
from notifications.models import Delivery, Message
from notifications.push.fanout import FANOUT_CHUNK, dispatch_grace, sending_lease
from notifications.push.providers.base import (
    PermanentProviderError,
    ProviderError,
    PushMessage,
    PushResult,
    PushTarget,
)
from notifications.push.providers.registry import provider_for

logger = logging.getLogger(__name__)

SWEEP_BATCH = 20 * FANOUT_CHUNK  # deliveries the sweeper dispatches per beat tick
RETRY = RetryPolicy(base=5, cap=600)


class PushChannel:
    """What is push's own in the pipeline: devices, providers, dead tokens."""

    name: ClassVar[str] = "push"
    model: ClassVar[type[Delivery]] = Delivery
    # The device's app, platform and token come with the claim (one statement).
    columns: ClassVar[list[str]] = [
        "pk", "message_id", "attempts", "device_id", "device__app", "device__platform", "device__token"
    ]  # fmt: skip
    extra_columns: ClassVar[list[tuple[str, str]]] = [("provider_message_id", "varchar")]

    def policy(self) -> RetryPolicy:
        return RETRY

    def max_attempts(self) -> int:
        return settings.PUSH_MAX_ATTEMPTS

    def lease(self) -> timedelta:
        return sending_lease()

    def send(self, rows: list[tuple]) -> Batch:
        messages = {m.pk: m for m in Message.objects.filter(pk__in={row[1] for row in rows})}
        apps = {a.pk: a for a in App.objects.filter(pk__in={row[4] for row in rows})}
        pushes = {pk: _push_of(message) for pk, message in messages.items()}
        groups: dict[tuple, list[tuple]] = defaultdict(list)
        for pk, message_id, _, _, app_id, platform, token in rows:
            groups[(app_id, platform)].append((pk, message_id, token))
        results: dict[int, Result] = {}
        for (app_id, platform), group in groups.items():
            for call, targets in _provider_calls(apps[app_id], platform, group, pushes):
                for answer in _provider_answers(call, targets):
                    results[answer.delivery_id] = _result_of(answer)
        return Batch(results=results, context=messages)  # context: the claimed rows' messages by id

    def extra_values(self, recorded: Recorded, *, now) -> tuple:
        ids = recorded.result.provider_ids
        return (ids[0][:200] if ids else "",)

    def event_source(self, row: tuple, context: dict):
        return context[row[1]].tenant_id, row[1]

    def after_record(self, recorded: list[Recorded], context: dict, *, now) -> None:
        dead: dict[str, list[int]] = defaultdict(list)
        for done in recorded:
            if done.status == DeliveryStatus.FAILED and done.result.outcome is Outcome.INVALID_ENDPOINT:
                dead[done.result.error or "invalid token"].append(done.row[3])
        for reason, device_ids in dead.items():
            devices_deactivate(device_ids=device_ids, reason=reason)

    def after_commit(self, recorded: list[Recorded], context: dict) -> None:
        pass


PUSH = PushChannel()


def deliveries_send(*, delivery_ids: list[int], claim: uuid.UUID | str | None = None) -> dict[str, int]:
    """Send the given deliveries that are still pending, or, with ``claim``, those a
    fan-out page wrote already claimed under it; counts per decision (see
    ``notifications.core.pipeline.deliver``: claimed once, never raises for provider errors)."""
    return deliver(PUSH, delivery_ids, claim=uuid.UUID(str(claim)) if claim is not None else None)


def deliveries_due(*, limit: int = SWEEP_BATCH) -> list[list[int]]:
    """Due pending deliveries (retries, lost tasks, dead workers' claims), in chunks."""
    return due_chunks(Delivery, lease=sending_lease(), grace=dispatch_grace(), limit=limit, chunk=FANOUT_CHUNK)


def _provider_calls(app: App, platform: str, group: list[tuple], pushes: dict) -> list[tuple]:
    """[(call, its targets)] for one (app, platform) group of (delivery, message, token)."""
    try:
        provider = provider_for(app, platform)
    except ProviderError as exc:  # e.g. the app has no credentials for this platform
        return [(partial(_raise, exc), [PushTarget(delivery_id=pk, token=token) for pk, _, token in group])]
    if hasattr(provider, "send_many"):  # one call for every message of the group (FCM)
        items = [(pushes[message_id], PushTarget(delivery_id=pk, token=token)) for pk, message_id, token in group]
        return [(partial(provider.send_many, items), [target for _, target in items])]
    per_message: dict = defaultdict(list)
    for pk, message_id, token in group:
        per_message[message_id].append(PushTarget(delivery_id=pk, token=token))
    return [
        (partial(provider.send, pushes[message_id], targets), targets) for message_id, targets in per_message.items()
    ]


def _result_of(answer: PushResult) -> Result:
    return Result(
        recipient_id=answer.delivery_id,
        outcome=answer.outcome,
        error=answer.error,
        retry_after=answer.retry_after,
        provider_ids=(answer.provider_message_id,) if answer.provider_message_id else (),
    )


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
        **_display_options(message.options),
    )


# Android's notification_count is an int32; APNs takes any badge number but no app needs more.
MAX_BADGE = 2**31 - 1
MAX_SOUND_LENGTH = 255  # a file name in the app bundle
# Longer URLs are legal but eat the 4 KB every provider allows for the whole payload.
MAX_IMAGE_URL_LENGTH = 2048


def _display_options(options) -> dict:
    """The ``PushMessage`` fields ``Message.options`` sets; unknown keys are ignored and a
    value of the wrong type or out of range is dropped (the push goes out without it), so a
    row written by any code path sends rather than fails."""
    if not isinstance(options, dict):
        return {}
    fields: dict = {}
    if options.get("data_only") is True:
        fields["data_only"] = True
    badge = options.get("badge")
    if type(badge) is int and 0 <= badge <= MAX_BADGE:  # not bool, which is an int
        fields["badge"] = badge
    sound = options.get("sound")
    if isinstance(sound, str) and sound.strip() and len(sound) <= MAX_SOUND_LENGTH and sound.isprintable():
        fields["sound"] = sound
    image = options.get("image")
    if isinstance(image, str) and _is_https_url(image):
        fields["image"] = image
    return fields


def _is_https_url(value: str) -> bool:
    if len(value) > MAX_IMAGE_URL_LENGTH or not value.isprintable() or " " in value:
        return False
    try:
        url = urlsplit(value)
        url.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    return url.scheme == "https" and bool(url.hostname) and url.username is None


def _json(value) -> str:
    return json.dumps(value, separators=(",", ":"))


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
