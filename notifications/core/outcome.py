"""The one outcome type: what happened to one recipient when a provider was called.

Provider adapters answer in their own terms (a push adapter's ``PushResult``, an SMS
route's ``SubmitResult`` or ``SmsError``); each channel turns those into ``Result``s,
and the core's pipeline decides every row's next status from them alone, with the one
retry policy (``notifications.core.retry``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Outcome(enum.Enum):
    SENT = "sent"  # accepted by the provider
    TRANSIENT = "transient"  # 5xx, 429 with Retry-After, timeout, connection lost: retry later with backoff
    THROTTLED = "throttled"  # the route is over its rate: retry soon, without using up an attempt
    PERMANENT = "permanent"  # payload or request error: fail the recipient, keep its endpoint
    INVALID_ENDPOINT = "invalid_endpoint"  # dead token, unknown number: fail, and the channel retires the endpoint


@dataclass(frozen=True, slots=True)
class Result:
    """One recipient's outcome. ``provider_ids``: the provider's ids for what it accepted
    (one per SMS part, one per push); ``via``: the route that carried it, if the channel
    has several; ``retry_after``: seconds the provider asked us to wait."""

    recipient_id: int
    outcome: Outcome
    error: str = ""
    retry_after: float | None = None
    provider_ids: tuple[str, ...] = ()
    via: int | None = None
