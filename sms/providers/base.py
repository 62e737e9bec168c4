"""The one small interface every SMS route adapter implements.

A route adapter is built once per route per worker process and kept alive (SMPP binds,
HTTP keep-alive sessions). ``submit_batch`` takes up to a chunk of messages (parts already
encoded by ``sms.encoding``), sends them concurrently within the route's window and
throughput limit, and returns one outcome per message, in order: a ``SubmitResult`` or
the ``SmsError`` that message met. It raises only when the route itself is unusable
(cannot bind / connect): ``TransientSmsError``, so the caller tries the next route.

Per-message errors:
``ThrottledError`` (ESME_RTHROTTLED / HTTP 429: slow the route down and retry),
``TransientSmsError`` (connection lost, timeout, 5xx: retry with backoff, maybe on the next route),
``PermanentSmsError`` (invalid destination, rejected sender: fail the recipient at once).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SmsPart:
    # Payload bytes for short_message / message_payload (already encoded, UDH included when
    # esm_class_udhi is True).
    payload: bytes
    data_coding: int  # 0 = GSM-7 default alphabet (unpacked septets), 8 = UCS-2 (UTF-16BE)
    udhi: bool  # payload starts with a concatenation UDH
    text: str  # this part's text, for HTTP providers that take text


@dataclass(frozen=True)
class SmsSubmit:
    recipient_id: int  # our row id, for logs and receipts
    sender: str  # alphanumeric (3..11) or E.164 number
    destination: str  # E.164, with leading '+'
    text: str  # the whole text (HTTP providers send this and let the provider split)
    parts: tuple[SmsPart, ...]
    want_receipt: bool = True


@dataclass(frozen=True)
class SubmitResult:
    provider_message_ids: tuple[str, ...]  # one per part for SMPP, usually one for HTTP


@dataclass(frozen=True)
class Receipt:
    provider_message_id: str
    state: str  # "delivered" | "failed" | "sent" (intermediate/accepted)
    error: str = ""  # e.g. "UNDELIV", "EXPIRED", "REJECTD", provider error code


ReceiptHandler = Callable[[Receipt], None]


class SmsError(Exception):
    """``str(exc)`` is the reason recorded on the recipient."""


class TransientSmsError(SmsError):
    pass


class ThrottledError(TransientSmsError):
    pass


class PermanentSmsError(SmsError):
    pass


SubmitOutcome = SubmitResult | SmsError


class SmsRoute(Protocol):
    def submit_batch(self, messages: list[SmsSubmit]) -> list[SubmitOutcome]: ...

    def close(self) -> None: ...
