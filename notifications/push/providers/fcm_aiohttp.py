"""Firebase Cloud Messaging (HTTP v1) adapter sending through aiohttp on the process's
shared event loop (``FCM_TRANSPORT=aiohttp``, the default).

firebase-admin's ``send_each`` spends ~2 ms of CPU per message on requests, urllib3 and
a thread per target; the messages themselves cost a fraction of that. So this
transport keeps from firebase-admin and google-auth what they do well: the service
account, the OAuth2 token exchange (``fcm.FcmCredentials``) and the v1 message JSON,
built with ``messaging.Message`` and encoded and validated by firebase-admin's own
encoder. It sends the requests itself: one ``aiohttp.ClientSession`` per provider on
``aioloop``'s loop, at most ``POOL_SIZE`` keep-alive HTTP/1.1 connections, every
target of a batch in flight at once.

HTTP/1.1 rather than HTTP/2 (FCM takes both): it costs the least CPU per message with
the libraries installed. ``bench/fcm_transport_cost.py``, one run on this 2-core VM:
this transport 0.105 ms, bare aiohttp over HTTP/1.1 0.109 ms, httpx over HTTP/2 0.70 ms
(httpx over HTTP/1.1 3.3 ms), the ``h2`` state machine driven directly on asyncio
0.118 ms with none of a client's timeouts, pooling or error handling yet; firebase-admin's
``send_each`` 0.87 ms. aiohttp parses HTTP/1.1 in C; every HTTP/2 path here runs
framing and HPACK in pure Python.

Outcomes are the firebase-admin transport's, read from the same answers (see
``fcm``'s docstring): FCM's ``errorCode`` detail, else the google.rpc ``status``,
else the HTTP status decides the code; UNREGISTERED and SENDER_ID_MISMATCH are dead
tokens; other 4xx are PERMANENT with FCM's message; 429 and 5xx are TRANSIENT with
Retry-After; a timeout is TRANSIENT "DEADLINE_EXCEEDED"; no connection to FCM for any
target raises ``TransientProviderError``. A 401 gets the token exchanged again and
the request resent, up to twice, as google-auth's session does, except when FCM
says the app's APNs or Web Push credentials are at fault (THIRD_PARTY_AUTH_ERROR).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
from typing import Any

import aiohttp
import firebase_admin
from firebase_admin import _utils, messaging
from multidict import CIMultiDict
from yarl import URL

from notifications.push.providers import aioloop
from notifications.push.providers.base import (
    Outcome,
    PermanentProviderError,
    PushMessage,
    PushResult,
    PushTarget,
    TransientProviderError,
)
from notifications.push.providers.fcm import (
    _INVALID_TOKEN_CODES,
    DEFAULT_HTTP_TIMEOUT,
    FCM_CHUNK,
    GOOGLE_FCM_URL,
    POOL_SIZE,
    FcmCredentials,
    empty_token_result,
    fcm_message_parts,
    retry_after_seconds,
)

logger = logging.getLogger(__name__)

# Close a connection idle this long: below the idle timeout of Google's front ends,
# so a reused connection is not one the server is closing at that moment.
KEEPALIVE_TIMEOUT = 30.0
# 401 answers that are not about our OAuth2 token: a new token would not help.
_THIRD_PARTY_AUTH_CODES = frozenset({"THIRD_PARTY_AUTH_ERROR", "APNS_AUTH_ERROR"})
_MAX_TOKEN_REFRESHES = 2  # google-auth's AuthorizedSession: refresh and resend twice at most
# What firebase-admin sends with every FCM request (messaging._MessagingService).
_FCM_HEADERS = {
    "X-GOOG-API-FORMAT-VERSION": "2",
    "X-FIREBASE-CLIENT": f"fire-admin-python/{firebase_admin.__version__}",
    "Content-Type": "application/json; charset=UTF-8",
}
# aiohttp's automatic headers FCM has no use for (its answers are small JSON bodies).
_SKIPPED_HEADERS = frozenset({"Accept", "Accept-Encoding", "User-Agent"})
# How a request without an HTTP answer failed: "connect" (never sent), "timeout", "read".
_CONNECT, _TIMEOUT, _READ = "connect", "timeout", "read"


def encode_fcm_message(parts: dict[str, Any]) -> dict[str, Any]:
    """The v1 ``message`` JSON object firebase-admin would send for ``Message(**parts)``
    (no target yet); raises ValueError for what firebase-admin refuses to encode."""
    encode = getattr(messaging._MessagingService, "encode_message", None)
    if encode is None:
        raise RuntimeError(
            f"firebase-admin {firebase_admin.__version__} has no _MessagingService.encode_message; "
            "update encode_fcm_message"
        )
    fcm_message = messaging.Message(**parts)
    # A placeholder target, set after construction (firebase-admin 7.7 warns on
    # Message(token=...)): the encoder validates the rest, the real token goes in per target.
    fcm_message.token = "-"  # noqa: S105 - a placeholder device token, not a secret
    encoded = encode(fcm_message)
    encoded.pop("token", None)
    return encoded


class _BodyTemplate:
    """The request body of one message, serialized once: per target only the token is
    spliced in (json.dumps of a 500-target batch would otherwise be most of our CPU)."""

    __slots__ = ("_head", "_tail")

    def __init__(self, encoded: dict[str, Any]) -> None:
        rest = json.dumps(encoded, separators=(",", ":"))
        self._head = b'{"message":{"token":'
        self._tail = (("}" if rest == "{}" else "," + rest[1:]) + "}").encode()

    def body(self, token: str) -> bytes:
        return self._head + json.dumps(token).encode() + self._tail


class _Answer:
    """What one request got: an HTTP answer or how it failed without one."""

    __slots__ = ("content", "exception", "failure", "headers_retry_after", "status", "token_used")

    def __init__(
        self,
        *,
        status: int = 0,
        retry_after: str | None = None,
        content: bytes = b"",
        failure: str = "",
        exception: BaseException | None = None,
        token_used: str | None = None,
    ) -> None:
        self.status = status
        self.headers_retry_after = retry_after
        self.content = content
        self.failure = failure
        self.exception = exception
        self.token_used = token_used


def _error_code_and_message(status: int, content: bytes) -> tuple[str, str]:
    """FCM's ``errorCode`` detail, else the google.rpc ``status``, else the HTTP status's
    code, with FCM's message: what firebase-admin's FirebaseError would say."""
    text = content.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    error = error if isinstance(error, dict) else {}
    message = error.get("message") or f"Unexpected HTTP response with status: {status}; body: {text}"
    details = error.get("details")
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("fcm.v1.FcmError"):
            if detail.get("errorCode"):
                return str(detail["errorCode"]), str(message)
            break
    code = error.get("status") or _utils._http_status_to_error_code(status)
    # firebase-admin turns a status it does not know into UnknownError, code UNKNOWN.
    if code not in _utils._ERROR_CODE_TO_EXCEPTION_TYPE:
        code = "UNKNOWN"
    return str(code), str(message)


def _result(delivery_id: int, answer: _Answer) -> PushResult:
    if answer.failure:
        if isinstance(answer.exception, TimeoutError):
            return PushResult(delivery_id, Outcome.TRANSIENT, error="DEADLINE_EXCEEDED")
        if isinstance(answer.exception, aiohttp.ClientConnectionError):
            return PushResult(delivery_id, Outcome.TRANSIENT, error="UNAVAILABLE")
        return PushResult(delivery_id, Outcome.TRANSIENT, error="UNKNOWN")
    if answer.status == 200:
        try:
            name = json.loads(answer.content)["name"]
        except (ValueError, KeyError, TypeError):
            return PushResult(delivery_id, Outcome.TRANSIENT, error="UNKNOWN")
        return PushResult(delivery_id, Outcome.SENT, provider_message_id=str(name))
    code, message = _error_code_and_message(answer.status, answer.content)
    if code in _INVALID_TOKEN_CODES:
        return PushResult(delivery_id, Outcome.INVALID_ENDPOINT, error=code)
    if answer.status == 429 or answer.status >= 500:
        return PushResult(
            delivery_id, Outcome.TRANSIENT, error=code, retry_after=retry_after_seconds(answer.headers_retry_after)
        )
    return PushResult(delivery_id, Outcome.PERMANENT, error=f"{code}: {message}"[:500])


def _needs_new_token(answer: _Answer) -> bool:
    if answer.status != 401:
        return False
    code, _ = _error_code_and_message(answer.status, answer.content)
    return code not in _THIRD_PARTY_AUTH_CODES


class AiohttpFcmProvider:
    """Push through FCM HTTP v1 with one service account, over aiohttp.

    The same contract as ``fcm.FcmProvider``: ``send``/``send_many`` take at most
    ``FCM_CHUNK`` targets (ValueError above it) and return one result per target in
    order; the constructor raises PermanentProviderError for an unusable service
    account. The session is created on the shared loop at the first send and again
    in a forked child, so an instance built before Celery forks is safe in each child.
    """

    def __init__(
        self,
        *,
        service_account: dict,
        api_url: str | None = None,
        name: str,
        http_timeout: float = DEFAULT_HTTP_TIMEOUT,
        pool_size: int = POOL_SIZE,
    ) -> None:
        base_url = (api_url or GOOGLE_FCM_URL).rstrip("/")
        self._auth = FcmCredentials(service_account, api_url=base_url, http_timeout=http_timeout)
        if not self._auth.project_id:
            raise PermanentProviderError("invalid FCM service account: no project_id")
        self.name = name
        self._url = URL(f"{base_url}/v1/projects/{self._auth.project_id}/messages:send")
        self._pool_size = pool_size
        # No total: a request queued for one of pool_size connections is not failing.
        # Connect and each read get http_timeout, as firebase-admin's requests did.
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=http_timeout, sock_read=http_timeout)
        # Whole-batch ceiling: FCM_CHUNK targets in waves of pool_size, each wave at worst
        # a connect and a read timeout.
        self._batch_deadline = 2 * http_timeout * math.ceil(FCM_CHUNK / pool_size) + 10
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._session_lock = threading.Lock()
        self._closed = False

    def send(self, message: PushMessage, targets: list[PushTarget]) -> list[PushResult]:
        """One result per target, in the order of ``targets``."""
        return self.send_many([(message, target) for target in targets])

    def send_many(self, items: list[tuple[PushMessage, PushTarget]]) -> list[PushResult]:
        """Each target its own message, all in flight at once; one result per item, in order."""
        if len(items) > FCM_CHUNK:
            raise ValueError(f"{type(self).__name__} takes at most {FCM_CHUNK} targets a call, got {len(items)}")
        sendable = [index for index, (_, target) in enumerate(items) if target.token]
        if not sendable:
            return [empty_token_result(target.delivery_id) for _, target in items]
        templates: dict[int, _BodyTemplate] = {}
        bodies: dict[int, bytes] = {}
        for index in sendable:
            message, target = items[index]
            template = templates.get(id(message))
            if template is None:
                try:
                    encoded = encode_fcm_message(fcm_message_parts(message))
                except ValueError as exc:  # firebase-admin refused to encode the message
                    raise PermanentProviderError(f"FCM message rejected before sending: {exc}") from exc
                template = templates[id(message)] = _BodyTemplate(encoded)
            bodies[index] = template.body(target.token)
        self._auth.ensure_access_token()
        answers = self._send_round(bodies)
        for _ in range(_MAX_TOKEN_REFRESHES):
            rejected = {index: answer for index, answer in answers.items() if _needs_new_token(answer)}
            if not rejected:
                break
            self._auth.refresh_rejected(next(iter(rejected.values())).token_used)
            answers.update(self._send_round({index: bodies[index] for index in rejected}))
        if all(answer.failure == _CONNECT for answer in answers.values()):
            raise TransientProviderError(f"FCM unreachable: {answers[sendable[0]].exception!r}")
        return [
            _result(target.delivery_id, answers[index]) if index in answers else empty_token_result(target.delivery_id)
            for index, (_, target) in enumerate(items)
        ]

    def close(self) -> None:
        """Close the connections; idempotent. After a fork the parent's are left alone."""
        with self._session_lock:
            if self._closed:
                return
            self._closed = True
            session, loop = self._session, self._session_loop
            self._session = self._session_loop = None
        if session is not None and loop is aioloop.current_loop() and not aioloop.in_loop_thread():
            try:
                aioloop.run(session.close(), timeout=5)
            except Exception:  # closing a broken connection must not fail close()
                logger.warning("FCM session %s did not close cleanly", self.name, exc_info=True)
        self._auth.close()

    # Event loop side

    def _send_round(self, bodies: dict[int, bytes]) -> dict[int, _Answer]:
        headers = dict(_FCM_HEADERS)
        self._auth.credential.apply(headers)
        headers = CIMultiDict(headers)  # what aiohttp would build from the dict for each request
        token_used = self._auth.credential.token
        try:
            return aioloop.run(self._send_all(bodies, headers, token_used), timeout=self._batch_deadline)
        except TimeoutError:
            raise TransientProviderError(f"FCM batch not answered within {self._batch_deadline:.0f} s") from None

    async def _send_all(
        self, bodies: dict[int, bytes], headers: dict[str, str], token: str | None
    ) -> dict[int, _Answer]:
        session = self._session_on_this_loop()
        indexes = list(bodies)
        answers = await asyncio.gather(*(self._post(session, bodies[index], headers, token) for index in indexes))
        return dict(zip(indexes, answers, strict=True))

    async def _post(
        self, session: aiohttp.ClientSession, body: bytes, headers: dict[str, str], token: str | None
    ) -> _Answer:
        try:
            async with session.post(self._url, data=body, headers=headers, allow_redirects=False) as response:
                content = await response.read()
                return _Answer(
                    status=response.status,
                    retry_after=response.headers.get("Retry-After"),
                    content=content,
                    token_used=token,
                )
        except (aiohttp.ConnectionTimeoutError, aiohttp.ClientConnectorError) as exc:  # nothing was sent
            return _Answer(failure=_CONNECT, exception=exc)
        except TimeoutError as exc:
            return _Answer(failure=_TIMEOUT, exception=exc)
        except aiohttp.ClientError as exc:  # reset, server disconnected, bad answer
            return _Answer(failure=_READ, exception=exc)

    def _session_on_this_loop(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session_loop is not loop:
            if self._closed:
                raise RuntimeError(f"FCM provider {self.name} is closed")
            # A session of another loop is the parent's, seen from a forked child: leave it.
            connector = aiohttp.TCPConnector(
                limit=self._pool_size, limit_per_host=0, keepalive_timeout=KEEPALIVE_TIMEOUT, ttl_dns_cache=300
            )
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, skip_auto_headers=_SKIPPED_HEADERS
            )
            self._session_loop = loop
        return self._session
