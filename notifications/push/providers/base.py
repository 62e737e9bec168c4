"""The one small interface every push provider adapter implements.

An adapter is built once per (app credentials) per worker process and kept alive
(see ``notifications.push.providers.registry``), so connections and OAuth/JWT tokens
are reused across chunks. ``send`` takes one message and up to ``FANOUT_CHUNK``
targets and returns exactly one ``PushResult`` per target, in any order.

Per-target outcomes are data (the core's ``Outcome``; INVALID_ENDPOINT is a dead token); an exception from ``send`` means the
whole batch failed before any per-target answer was known:
``TransientProviderError`` (network down, 5xx for everything: retry the batch later)
or ``PermanentProviderError`` (bad credentials: fail the batch with the reason).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from notifications.core.outcome import Outcome

__all__ = ["Outcome", "PushMessage", "PushProvider", "PushResult", "PushTarget"]


@dataclass(frozen=True)
class PushMessage:
    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)
    # Seconds the provider should keep the message for an offline device.
    ttl: int = 86400
    # Same value on a resend after a crash, so the device replaces rather than duplicates
    # (FCM android collapse_key / notification tag, APNs apns-collapse-id, Web Push Topic).
    collapse_id: str = ""
    # No notification is shown: the app's own code runs (FCM data message, APNs background
    # push, Web Push payload marked "data_only") and gets title and body in the data
    # (``data_with_text``). badge, sound and image are then not sent anywhere.
    data_only: bool = False
    # App icon badge count (APNs aps.badge, Android notification_count); None leaves it as is.
    badge: int | None = None
    # Sound file name in the app bundle (or "default"); "" = the platform's default behaviour.
    sound: str = ""
    # An https URL of an image to show in the notification; "" = none.
    image: str = ""

    def data_with_text(self) -> dict[str, str]:
        """``data`` plus ``title`` and ``body`` under those keys where data has no such key:
        what a data-only push carries, since no notification shows them."""
        return {"title": self.title, "body": self.body, **self.data}


@dataclass(frozen=True)
class PushTarget:
    delivery_id: int
    # FCM registration token, APNs device token (hex), or for Web Push the
    # PushSubscription JSON string: {"endpoint": ..., "keys": {"p256dh": ..., "auth": ...}}.
    token: str


@dataclass(frozen=True)
class PushResult:
    delivery_id: int
    outcome: Outcome
    provider_message_id: str = ""
    error: str = ""  # the provider's reason, e.g. "UNREGISTERED", "BadDeviceToken", "HTTP 410"
    retry_after: float | None = None  # seconds, when the provider said so


class ProviderError(Exception):
    """The whole batch failed; ``str(exc)`` is the reason recorded on each delivery."""


class TransientProviderError(ProviderError):
    """Retry later (connection refused, timeout, 5xx/429 for the whole batch)."""


class PermanentProviderError(ProviderError):
    """Retrying will not help (invalid credentials, missing configuration)."""


class PushProvider(Protocol):
    def send(self, message: PushMessage, targets: list[PushTarget]) -> list[PushResult]: ...

    def close(self) -> None: ...
