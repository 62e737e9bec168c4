"""Africa's Talking SMS adapter: ``POST /version1/messaging``, one request per message.

Live: ``https://api.africastalking.com``; sandbox: ``https://api.sandbox.africastalking.com``
with username ``sandbox``. The form carries ``username``, ``to``, ``message``, ``from`` (the
sender ID or short code; left out when empty so the account default applies),
``bulkSMSMode=1`` and, when asked, ``enqueue=1``; the ``apiKey`` header authenticates and
``Accept: application/json`` is required (without it the answer is XML).

Each recipient's ``statusCode`` decides its outcome:

* 100 Processed, 101 Sent, 102 Queued: accepted, ``messageId`` kept for the delivery report;
* 401 RiskHold, 402 InvalidSenderId, 403 InvalidPhoneNumber, 404 UnsupportedNumberType,
  406 UserInBlacklist, 409 DoNotDisturbRejection: ``PermanentSmsError``;
* 405 InsufficientBalance, 407 CouldNotRoute, 500 InternalServerError, 501 GatewayError,
  502 RejectedByGateway: ``TransientSmsError`` (another route may well take the message).

HTTP 401/403 (bad username or API key) make the whole route unusable: ``submit_batch``
stops sending the rest of the batch and raises ``TransientSmsError`` so the caller falls
back to the next route. HTTP 429 is ``ThrottledError``; 5xx, timeouts and connection
errors are ``TransientSmsError``.

A POST is never retried here: a lost answer may hide a sent message, and whether to risk a
duplicate is the caller's decision.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from sms.providers.base import (
    PermanentSmsError,
    Receipt,
    SmsError,
    SmsSubmit,
    SubmitOutcome,
    SubmitResult,
    ThrottledError,
    TransientSmsError,
)

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.africastalking.com"
MESSAGING_PATH = "/version1/messaging"
# Concurrent POSTs per route instance, each on its own keep-alive connection. A request is
# ~100-300 ms of network wait, so 16 workers send a 500-message chunk in ~30 round trips.
DEFAULT_MAX_WORKERS = 16
# Longest slice of a provider's error body kept in the reason recorded on the recipient.
REASON_MAX_CHARS = 200

ACCEPTED_CODES = frozenset({100, 101, 102})
STATUS_NAMES = {
    100: "Processed",
    101: "Sent",
    102: "Queued",
    401: "RiskHold",
    402: "InvalidSenderId",
    403: "InvalidPhoneNumber",
    404: "UnsupportedNumberType",
    405: "InsufficientBalance",
    406: "UserInBlacklist",
    407: "CouldNotRoute",
    409: "DoNotDisturbRejection",
    500: "InternalServerError",
    501: "GatewayError",
    502: "RejectedByGateway",
}
STATUS_CODES = {name: code for code, name in STATUS_NAMES.items()}
# Retrying on another route can succeed: our balance with AT or AT's own routing is the
# problem, not the destination.
TRANSIENT_CODES = frozenset({405, 407, 500, 501, 502})

# Delivery report ``status`` values (https://developers.africastalking.com SMS notifications).
DELIVERED_STATUSES = frozenset({"Success"})
FAILED_STATUSES = frozenset({"Failed", "Rejected", "Expired", "AbsentSubscriber"})
PENDING_STATUSES = frozenset({"Sent", "Submitted", "Buffered"})


class _Unreachable(TransientSmsError):
    """The connection could not even be opened: the request never left."""


@dataclass
class _Batch:
    """State shared by the workers of one ``submit_batch`` call."""

    down: threading.Event = field(default_factory=threading.Event)
    reason: str = ""

    def fail_route(self, reason: str) -> None:
        self.reason = reason
        self.down.set()


class AfricasTalkingRoute:
    """One Africa's Talking account; thread-safe, kept alive per worker process."""

    name = "africastalking"

    def __init__(
        self,
        *,
        username: str,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
        max_workers: int = DEFAULT_MAX_WORKERS,
        enqueue: bool = False,
    ) -> None:
        self._username = username
        self._endpoint = base_url.rstrip("/") + MESSAGING_PATH
        self._timeout = timeout
        self._enqueue = enqueue
        self._headers = {"apiKey": api_key, "Accept": "application/json"}
        self._session = _session(max_workers)
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="sms-africastalking")

    def submit_batch(self, messages: list[SmsSubmit]) -> list[SubmitOutcome]:
        """One outcome per message, in order.

        Raises TransientSmsError when the route is unusable: credentials refused (the rest
        of the batch is then not sent) or no connection could be opened for any message.
        """
        if not messages:
            return []
        batch = _Batch()
        outcomes = list(self._pool.map(partial(self._submit_one, batch=batch), messages))
        if batch.down.is_set():
            logger.warning("africastalking route unusable: %s", batch.reason)
            raise TransientSmsError(batch.reason)
        if all(isinstance(outcome, _Unreachable) for outcome in outcomes):
            raise TransientSmsError(f"africastalking unreachable: {outcomes[0]}")
        return outcomes

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._session.close()

    def _submit_one(self, message: SmsSubmit, *, batch: _Batch) -> SubmitOutcome:
        if batch.down.is_set():
            return TransientSmsError(batch.reason)
        form = {"username": self._username, "to": message.destination, "message": message.text}
        if message.sender:
            form["from"] = message.sender
        form["bulkSMSMode"] = "1"
        if self._enqueue:
            form["enqueue"] = "1"
        try:
            response = self._session.post(self._endpoint, data=form, headers=self._headers, timeout=self._timeout)
        except requests.RequestException as exc:
            return _transport_error(exc)

        status = response.status_code
        if status in (401, 403):
            batch.fail_route(f"africastalking: authentication failed (HTTP {status}: {_snippet(response.text)})")
            return TransientSmsError(batch.reason)
        if status == 429:
            return ThrottledError(_throttled_reason(response))
        if status >= 500:
            return TransientSmsError(f"africastalking: HTTP {status}")
        if not 200 <= status < 300:
            # A 400 names a form field or value of this message: sending it again is useless.
            return PermanentSmsError(f"africastalking: HTTP {status}: {_snippet(response.text)}")
        try:
            data = response.json()["SMSMessageData"]
            recipients = data.get("Recipients") or []
        except (ValueError, KeyError, TypeError, AttributeError):
            return TransientSmsError(f"africastalking: unreadable answer (HTTP {status})")
        return _recipient_outcome(message.destination, recipients, data.get("Message", ""))


def _recipient_outcome(destination: str, recipients: list[Any], summary: str) -> SubmitOutcome:
    if not recipients:
        # The request was refused as a whole, e.g. {"Message": "InvalidSenderId", "Recipients": []}.
        code = STATUS_CODES.get(summary)
        if code is None:
            return PermanentSmsError(f"africastalking rejected: {_snippet(summary)}")
        return _status_error(code, summary)
    entry = next((r for r in recipients if isinstance(r, dict) and r.get("number") == destination), recipients[0])
    try:
        code = int(entry["statusCode"])
    except (KeyError, TypeError, ValueError):
        return TransientSmsError("africastalking: recipient without statusCode")
    if code in ACCEPTED_CODES:
        message_id = entry.get("messageId")
        if not message_id or message_id == "None":
            return TransientSmsError(f"africastalking: status {code} without messageId")
        return SubmitResult(provider_message_ids=(str(message_id),))
    return _status_error(code, STATUS_NAMES.get(code) or str(entry.get("status") or f"status {code}"))


def _status_error(code: int, name: str) -> SmsError:
    if code in TRANSIENT_CODES or code >= 500:
        return TransientSmsError(name)
    return PermanentSmsError(name)


def parse_callback(form: Mapping[str, Any]) -> Receipt | None:
    """The receipt in an Africa's Talking delivery report form, or None if it is not one.

    ``form`` is the POSTed form (a dict, or a Django QueryDict): ``id``, ``status``,
    ``phoneNumber``, ``networkCode``, ``failureReason`` (failures only), ``retryCount``.
    """
    message_id = _field(form, "id")
    status = _field(form, "status")
    if not message_id:
        return None
    if status in DELIVERED_STATUSES:
        return Receipt(provider_message_id=message_id, state="delivered")
    if status in FAILED_STATUSES:
        return Receipt(provider_message_id=message_id, state="failed", error=_field(form, "failureReason") or status)
    if status in PENDING_STATUSES:
        return Receipt(provider_message_id=message_id, state="sent")
    return None


def _field(form: Mapping[str, Any], key: str) -> str:
    value = form.get(key)
    if isinstance(value, list | tuple):  # dict(querydict) or parse_qs output
        value = value[-1] if value else None
    return "" if value is None else str(value).strip()


def _session(max_workers: int) -> requests.Session:
    session = requests.Session()
    # max_retries=0: a POST that reached the provider must not be sent twice behind our back.
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max_workers, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _transport_error(exc: requests.RequestException) -> TransientSmsError:
    if isinstance(exc, requests.ConnectTimeout) or (
        isinstance(exc, requests.ConnectionError) and _is_connect_failure(exc)
    ):
        return _Unreachable(f"africastalking: cannot connect ({type(exc).__name__})")
    if isinstance(exc, requests.Timeout):
        return TransientSmsError("africastalking: timeout waiting for the answer")
    return TransientSmsError(f"africastalking: {type(exc).__name__}")


def _is_connect_failure(exc: requests.ConnectionError) -> bool:
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def _throttled_reason(response: requests.Response) -> str:
    retry_after = response.headers.get("Retry-After")
    suffix = f", Retry-After {retry_after}" if retry_after else ""
    return f"africastalking: throttled (HTTP 429{suffix})"


def _snippet(text: str) -> str:
    return " ".join(text.split())[:REASON_MAX_CHARS]
