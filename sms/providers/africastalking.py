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
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

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
from sms.providers.http import Batch, HttpRoute, form_field, snippet

DEFAULT_BASE_URL = "https://api.africastalking.com"
MESSAGING_PATH = "/version1/messaging"
# Concurrent POSTs per route instance, each on its own keep-alive connection. A request is
# ~100-300 ms of network wait, so 16 workers send a 500-message chunk in ~30 round trips.
DEFAULT_MAX_WORKERS = 16

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


class AfricasTalkingRoute(HttpRoute):
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
        super().__init__(endpoint=base_url.rstrip("/") + MESSAGING_PATH, timeout=timeout, max_workers=max_workers)
        self._username = username
        self._enqueue = enqueue
        self._session.headers.update({"apiKey": api_key, "Accept": "application/json"})

    def _form(self, message: SmsSubmit) -> dict[str, str]:
        form = {"username": self._username, "to": message.destination, "message": message.text}
        if message.sender:
            form["from"] = message.sender
        form["bulkSMSMode"] = "1"
        if self._enqueue:
            form["enqueue"] = "1"
        return form

    def _outcome(self, message: SmsSubmit, response: requests.Response, batch: Batch) -> SubmitOutcome:
        status = response.status_code
        if status in (401, 403):
            batch.fail_route(f"africastalking: authentication failed (HTTP {status}: {snippet(response.text)})")
            return TransientSmsError(batch.reason)
        if status == 429:
            return ThrottledError(_throttled_reason(response))
        if status >= 500:
            return TransientSmsError(f"africastalking: HTTP {status}")
        if not 200 <= status < 300:
            # A 400 names a form field or value of this message: sending it again is useless.
            return PermanentSmsError(f"africastalking: HTTP {status}: {snippet(response.text)}")
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
            return PermanentSmsError(f"africastalking rejected: {snippet(summary)}")
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
    message_id = form_field(form, "id")
    status = form_field(form, "status")
    if not message_id:
        return None
    if status in DELIVERED_STATUSES:
        return Receipt(provider_message_id=message_id, state="delivered")
    if status in FAILED_STATUSES:
        return Receipt(
            provider_message_id=message_id, state="failed", error=form_field(form, "failureReason") or status
        )
    if status in PENDING_STATUSES:
        return Receipt(provider_message_id=message_id, state="sent")
    return None


def _throttled_reason(response: requests.Response) -> str:
    retry_after = response.headers.get("Retry-After")
    suffix = f", Retry-After {retry_after}" if retry_after else ""
    return f"africastalking: throttled (HTTP 429{suffix})"
