"""Twilio Programmable Messaging adapter: ``POST /2010-04-01/Accounts/{sid}/Messages.json``.

HTTP Basic auth with the account SID and auth token; form fields ``To``, ``From`` (or
``MessagingServiceSid`` when the sender is an ``MG...`` SID), ``Body`` and, when a receipt is
wanted and a callback URL is configured, ``StatusCallback``. A 201 answer carries the
message resource: ``sid`` (``SM...``), ``status`` (``queued``, or ``accepted`` through a
messaging service), ``num_segments``.

Errors are JSON ``{"code", "message", "more_info", "status"}``:

* 401 / 20003 (bad SID or token), 20005 (account not active): the route is unusable;
  ``submit_batch`` stops and raises ``TransientSmsError`` so the caller tries the next route;
* 429 / 20429, 21611 (sender's queue full), 14107 (send rate limit): ``ThrottledError``;
* 21408 (region not enabled), 21612 (destination not reachable from this account):
  ``TransientSmsError``, another route may reach the number;
* any other 4xx (21211 invalid To, 21212 invalid From, 21610 unsubscribed by STOP, 21614
  not a mobile number, ...): ``PermanentSmsError``;
* 5xx, timeouts, connection errors: ``TransientSmsError``.

Status callbacks are parsed by ``parse_callback`` and must be authenticated with
``validate_signature`` (the ``X-Twilio-Signature`` header) before they are trusted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from sms.providers.base import (
    PermanentSmsError,
    Receipt,
    SmsSubmit,
    SubmitOutcome,
    SubmitResult,
    ThrottledError,
    TransientSmsError,
)
from sms.providers.http import Batch, HttpRoute, form_field, snippet

DEFAULT_BASE_URL = "https://api.twilio.com"
API_VERSION = "2010-04-01"
# Concurrent POSTs per route instance, each on its own keep-alive connection. Twilio
# queues messages per sender and meters them out itself; 16 in flight keeps a chunk's
# submission in ~30 round trips without tripping its API concurrency limit.
DEFAULT_MAX_WORKERS = 16
MESSAGING_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")

ROUTE_DOWN_CODES = frozenset({20003, 20005})
THROTTLED_CODES = frozenset({20429, 21611, 14107})
# The destination may be reachable through another provider.
TRANSIENT_CODES = frozenset({21408, 21612})

DELIVERED_STATUSES = frozenset({"delivered", "read"})
FAILED_STATUSES = frozenset({"undelivered", "failed", "canceled"})
PENDING_STATUSES = frozenset({"accepted", "scheduled", "queued", "sending", "sent"})


class TwilioRoute(HttpRoute):
    """One Twilio account; thread-safe, kept alive per worker process."""

    name = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        base_url: str = DEFAULT_BASE_URL,
        status_callback_url: str | None = None,
        timeout: float = 10.0,
        max_workers: int = DEFAULT_MAX_WORKERS,
    ) -> None:
        super().__init__(
            endpoint=f"{base_url.rstrip('/')}/{API_VERSION}/Accounts/{account_sid}/Messages.json",
            timeout=timeout,
            max_workers=max_workers,
        )
        self._status_callback_url = status_callback_url
        self._session.auth = (account_sid, auth_token)
        self._session.headers["Accept"] = "application/json"

    def _form(self, message: SmsSubmit) -> dict[str, str]:
        form = {"To": message.destination}
        if MESSAGING_SERVICE_SID.fullmatch(message.sender):
            form["MessagingServiceSid"] = message.sender
        else:
            form["From"] = message.sender
        form["Body"] = message.text
        if message.want_receipt and self._status_callback_url:
            form["StatusCallback"] = self._status_callback_url
        return form

    def _outcome(self, message: SmsSubmit, response: requests.Response, batch: Batch) -> SubmitOutcome:
        status = response.status_code
        if 200 <= status < 300:
            try:
                sid = response.json()["sid"]
            except (ValueError, KeyError, TypeError):
                return TransientSmsError(f"twilio: unreadable answer (HTTP {status})")
            return SubmitResult(provider_message_ids=(str(sid),))

        code, text = _error(response)
        reason = f"twilio {code}: {text}" if code else f"twilio: HTTP {status}"
        if status == 401 or code in ROUTE_DOWN_CODES:
            batch.fail_route(f"twilio: authentication failed ({reason})")
            return TransientSmsError(batch.reason)
        if status == 429 or code in THROTTLED_CODES:
            return ThrottledError(reason)
        if status >= 500 or code in TRANSIENT_CODES:
            return TransientSmsError(reason)
        return PermanentSmsError(reason)


def _error(response: requests.Response) -> tuple[int | None, str]:
    """``(code, message)`` of a Twilio error body; ``(None, text)`` when it is not JSON."""
    try:
        body = response.json()
        code = int(body["code"]) if body.get("code") is not None else None
        return code, snippet(str(body.get("message") or ""))
    except (ValueError, TypeError, AttributeError):
        return None, snippet(response.text)


def parse_callback(form: Mapping[str, Any]) -> Receipt | None:
    """The receipt in a Twilio status callback form, or None if it is not one.

    Reads ``MessageSid`` / ``MessageStatus`` (falling back to the legacy ``SmsSid`` /
    ``SmsStatus``) and ``ErrorCode``. Authenticate the request with ``validate_signature``
    first.
    """
    message_sid = form_field(form, "MessageSid") or form_field(form, "SmsSid")
    status = (form_field(form, "MessageStatus") or form_field(form, "SmsStatus")).lower()
    if not message_sid:
        return None
    if status in DELIVERED_STATUSES:
        return Receipt(provider_message_id=message_sid, state="delivered")
    if status in FAILED_STATUSES:
        return Receipt(provider_message_id=message_sid, state="failed", error=form_field(form, "ErrorCode") or status)
    if status in PENDING_STATUSES:
        return Receipt(provider_message_id=message_sid, state="sent")
    return None  # inbound states (receiving, received) or unknown


def validate_signature(
    auth_token: str, url: str, params: Mapping[str, str | Iterable[str]] | None, signature: str
) -> bool:
    """True when ``signature`` (the X-Twilio-Signature header) signs this POST.

    ``url`` is the full URL Twilio requested, query string included, exactly as configured
    (scheme, host case, credentials); ``params`` the POSTed form fields (a QueryDict works;
    repeated fields as lists). As in Twilio's own libraries, the URL is checked both without
    its port and with the scheme's default port added, since proxies rewrite either way.
    """
    if not signature:
        return False
    expected = signature.strip().encode("utf-8", "surrogatepass")
    for candidate in {_without_port(url), _with_port(url)}:
        if hmac.compare_digest(_signature(auth_token, candidate, params), expected):
            return True
    return False


def _signature(auth_token: str, url: str, params: Mapping[str, str | Iterable[str]] | None) -> bytes:
    # The signed string is the URL followed by each parameter name and value, names in
    # byte order, a repeated name's values sorted too.
    signed = url
    for name in sorted(set(params or ())):
        for value in sorted(set(_values(params, name))):
            signed += name + value
    digest = hmac.new(auth_token.encode("utf-8"), signed.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest)


def _values(params: Mapping[str, Any], name: str) -> list[str]:
    if hasattr(params, "getlist"):  # Django QueryDict, Werkzeug MultiDict
        return [str(v) for v in params.getlist(name)]
    value = params[name]
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _split_netloc(netloc: str) -> tuple[str, str, str]:
    """``(userinfo@, host, port)`` without lower-casing the host (the signature keeps case)."""
    userinfo, at, hostport = netloc.rpartition("@")
    if hostport.startswith("["):  # IPv6 literal
        host, _, rest = hostport.partition("]")
        host += "]"
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = hostport.partition(":")
    return userinfo + at, host, port


def _without_port(url: str) -> str:
    parts = urlsplit(url)
    userinfo, host, port = _split_netloc(parts.netloc)
    if not port:
        return url
    return urlunsplit(parts._replace(netloc=userinfo + host))


def _with_port(url: str) -> str:
    parts = urlsplit(url)
    userinfo, host, port = _split_netloc(parts.netloc)
    if port:
        return url
    default = 443 if parts.scheme.lower() == "https" else 80
    return urlunsplit(parts._replace(netloc=f"{userinfo}{host}:{default}"))
