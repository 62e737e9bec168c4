"""Apple Push Notification service adapter: HTTP/2 with token (.p8, ES256 JWT) auth.

Apple wants providers to keep their connections open and to push many notifications
concurrently over each one, and it throttles providers that mint provider tokens
too often. So one ``ApnsProvider`` owns:

* one HTTP/2 connection (``apns_h2.Http2Client``: the ``h2`` state machine on the
  process's provider event loop, ``aioloop``); ``send()`` (synchronous, as Celery
  prefork workers call it) submits the whole batch to that loop, and the batch runs as
  up to ``MAX_IN_FLIGHT`` concurrent streams on the connection (fewer if APNs's
  SETTINGS_MAX_CONCURRENT_STREAMS says so), which is opened again after GOAWAY, after
  it is lost and after ``KEEPALIVE_EXPIRY`` idle;
* one provider token (JWT), reused by every request and re-minted only when it is
  ``TOKEN_REFRESH_AGE`` old or when APNs answers 403 ExpiredProviderToken (the
  request is then retried once with the new token).

Keep one instance per (key, team, topic, environment, url) per worker process and
share it: ``get_apns_provider`` does exactly that. The connection is created lazily on
the first ``send`` and again on the new loop after a fork, so an instance built before
Celery forks its children is safe to use in each child.

Measured in one run against the fake APNs (``bench/apns_transport_cost.py``), client CPU
per notification: 0.11 ms on ``apns_h2``, 1.06 ms on httpx over HTTP/2 (the transport
before it, kept as ``apns_httpx.HttpxApnsProvider`` to measure against), 0.41 ms on
aioapns (which also mints a token per connection and has no timeouts or token retry).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from notifications.push.providers import aioloop, apns_h2
from notifications.push.providers.base import (
    Outcome,
    PermanentProviderError,
    PushMessage,
    PushResult,
    PushTarget,
    TransientProviderError,
)

logger = logging.getLogger(__name__)

PRODUCTION_URL = "https://api.push.apple.com"
SANDBOX_URL = "https://api.sandbox.push.apple.com"
# Apple: refresh the provider token no more than once every 20 minutes (else 429
# TooManyProviderTokenUpdates) and at least once an hour (else 403 ExpiredProviderToken).
TOKEN_REFRESH_AGE = 40 * 60
# Concurrent streams on the one connection, unless APNs allows fewer (it advertises about
# 1000). A whole FANOUT_CHUNK in flight at once: over a 100 ms round trip to Apple that
# is 5,000 notifications/s from one connection; on loopback more costs no more CPU.
MAX_IN_FLIGHT = 500
# Apple: "The maximum size of a regular remote notification payload is 4 KB (4096 bytes)".
MAX_PAYLOAD_BYTES = 4096
MAX_COLLAPSE_ID_BYTES = 64
# connect: TCP and TLS; read: from the request written to its whole answer; write: flow
# control holding a body back; pool: waiting for a stream slot.
REQUEST_TIMEOUT = apns_h2.Timeout(connect=10.0, read=15.0, write=10.0, pool=30.0)
# Whole-batch ceiling: FANOUT_CHUNK targets in waves of MAX_IN_FLIGHT, plus the retries.
BATCH_DEADLINE = 120.0
# Open a new connection rather than use one unused this long: NATs and Apple drop idle
# connections silently, and a fresh handshake is cheaper than a batch of timeouts.
KEEPALIVE_EXPIRY = 600.0
# Stops a token with a "/" or spaces from reaching the request path.
DEVICE_TOKEN_RE = re.compile(r"[0-9a-fA-F]{1,512}")
# 400/410 reasons meaning the device token will never work for this app again.
INVALID_TOKEN_REASONS = frozenset({"BadDeviceToken", "DeviceTokenNotForTopic", "Unregistered", "ExpiredToken"})
EXPIRED_PROVIDER_TOKEN = "ExpiredProviderToken"  # noqa: S105 - an APNs reason, not a secret

_AUTH_FAILURE = "auth"  # 403: the provider token or key was refused
_TRANSPORT_FAILURE = "transport"  # no HTTP answer at all
_NOT_SENT = "not sent"  # refused locally, APNs never saw it


@dataclass(frozen=True)
class _Answer:
    result: PushResult
    failure: str = ""  # _AUTH_FAILURE, _TRANSPORT_FAILURE, _NOT_SENT or "" for any other HTTP answer


class ApnsProvider:
    """Sends one notification (an alert, or a background push when data-only) to many
    device tokens over one shared HTTP/2 connection.

    ``send`` returns one ``PushResult`` per target. It raises
    ``PermanentProviderError`` when APNs refuses the provider token for every target
    (wrong key, key id or team) and ``TransientProviderError`` when no target got an
    HTTP answer (APNs unreachable). The constructor raises ``PermanentProviderError``
    for a key that is not a P-256 private key in PEM form or missing ids.
    """

    def __init__(
        self,
        *,
        key_pem: str,
        key_id: str,
        team_id: str,
        topic: str,
        sandbox: bool,
        url: str | None = None,
        ca_file: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not (key_id and team_id and topic):
            raise PermanentProviderError("APNs key id, team id and topic are required")
        try:
            private_key = serialization.load_pem_private_key(key_pem.encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise PermanentProviderError(f"APNs key is not a PEM private key: {exc}") from None
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) or private_key.curve.name != "secp256r1":
            raise PermanentProviderError("APNs key is not a P-256 (ES256) key")
        self._private_key = private_key
        self.key_id = key_id
        self.team_id = team_id
        self.topic = topic
        self.url = (url or (SANDBOX_URL if sandbox else PRODUCTION_URL)).rstrip("/")
        self._ca_file = ca_file
        self._clock = clock
        self._jwt = ""
        self._jwt_issued_at = 0.0
        self._jwt_minted_for_expiry = False
        self._bearer_for: tuple[str, bytes] = ("", b"")  # (JWT, its authorization header value)
        # The transport, bound to the event loop it was created on (a new one after a fork).
        self._client: Any = None
        # time.monotonic() of the last HTTP answer. Unless the connection is known
        # good, a batch sends one request first, so an unreachable APNs costs one
        # connect attempt rather than one per target.
        self._answered_at = -math.inf

    # Public interface

    def send(self, message: PushMessage, targets: list[PushTarget]) -> list[PushResult]:
        if not targets:
            return []
        body = self._payload(message)
        if len(body) > MAX_PAYLOAD_BYTES:
            return [PushResult(t.delivery_id, Outcome.PERMANENT, error="PayloadTooLarge") for t in targets]
        headers = self._headers(message)
        try:
            answers = aioloop.run(self._send_batch(body, headers, targets), timeout=BATCH_DEADLINE + 10)
        except TimeoutError:
            raise TransientProviderError("APNs batch timed out") from None
        return self._results(answers)

    def close(self) -> None:
        """Close the connection; a later ``send`` opens a new one. The shared loop runs on."""
        client, self._client = self._client, None
        self._answered_at = -math.inf
        loop = aioloop.current_loop()
        if client is None or loop is None or client.loop is not loop:
            return  # never connected, or bound to a loop that is gone (the parent's, after a fork)
        try:
            aioloop.run(self._close_client(client), timeout=5)
        except Exception:  # closing a broken connection must not fail close()
            logger.warning("APNs client did not close cleanly", exc_info=True)

    # Request building

    def _payload(self, message: PushMessage) -> bytes:
        """The JSON body: the data keys at top level, beside ``aps``.

        An alert push is ``aps: {alert: {title, body}, sound, badge?, mutable-content: 1}``:
        ``sound`` is the message's or "default"; ``badge`` only when set (0 clears it).
        ``mutable-content`` is always 1, so the app's Notification Service Extension, if it
        has one, runs for every push and can confirm delivery with ``sa_message_id`` even
        when the app itself is not running; an app without one gets the alert unchanged.
        An image goes in a top-level ``image`` key (winning over a data key of that name)
        for that extension to download and attach: APNs itself shows no images.

        A data-only push is a background push, ``aps: {content-available: 1}`` with no
        alert, sound or badge (Apple's rule for background pushes), its headers set by
        ``_headers``; title and body travel as the top-level ``title`` and ``body`` keys
        unless the data has them. A data key named ``aps`` never replaces ``aps``.
        """
        if message.data_only:
            document = {**message.data_with_text(), "aps": {"content-available": 1}}
        else:
            aps: dict = {"alert": {"title": message.title, "body": message.body}, "sound": message.sound or "default"}
            if message.badge is not None:
                aps["badge"] = message.badge
            aps["mutable-content"] = 1
            document = {**message.data, "aps": aps}
            if message.image:
                document["image"] = message.image
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()

    def _headers(self, message: PushMessage) -> dict[str, str]:
        expiration = int(self._clock()) + message.ttl if message.ttl > 0 else 0  # 0: deliver now or never
        headers = {
            "apns-topic": self.topic,
            # Apple requires both for a background push (and refuses priority 10 for one).
            "apns-push-type": "background" if message.data_only else "alert",
            "apns-priority": "5" if message.data_only else "10",
            "apns-expiration": str(expiration),
        }
        if message.collapse_id:
            headers["apns-collapse-id"] = collapse_id_header(message.collapse_id)
        return headers

    def _bearer(self) -> str:
        """The current provider token, minted again once it is ``TOKEN_REFRESH_AGE`` old."""
        now = self._clock()
        if not self._jwt or now - self._jwt_issued_at >= TOKEN_REFRESH_AGE:
            self._mint_token(now)
        return self._jwt

    def _remint_after_expiry(self, rejected: str) -> None:
        """Mint a new token once for a token APNs called expired.

        Concurrent streams all report the same token, hence the identity check; and a
        token minted for this reason that is refused as expired again means our clock
        is wrong, so minting more would only earn 429 TooManyProviderTokenUpdates.
        """
        if rejected == self._jwt and not self._jwt_minted_for_expiry:
            logger.warning("APNs called provider token for key %s expired; minting a new one", self.key_id)
            self._mint_token(self._clock())
            self._jwt_minted_for_expiry = True

    def _mint_token(self, now: float) -> None:
        self._jwt = jwt.encode(
            {"iss": self.team_id, "iat": int(now)},
            self._private_key,
            algorithm="ES256",
            headers={"kid": self.key_id},
        )
        self._jwt_issued_at = now
        self._jwt_minted_for_expiry = False
        logger.info("APNs provider token minted for key %s", self.key_id)

    # Event loop side (runs on aioloop's thread only)

    def _transport(self) -> Any:
        """This loop's client, created on first use and again after a fork."""
        client = self._client
        if client is None or client.loop is not asyncio.get_running_loop():
            # After a fork the parent's client is bound to the parent's loop: drop it
            # without closing (its socket is the parent's connection too).
            client = self._client = self._new_client()
            self._answered_at = -math.inf
        return client

    def _new_client(self) -> Any:
        return apns_h2.Http2Client(
            self.url,
            timeouts=REQUEST_TIMEOUT,
            max_streams=MAX_IN_FLIGHT,
            keepalive_expiry=KEEPALIVE_EXPIRY,
            ca_file=self._ca_file,
        )

    async def _close_client(self, client: Any) -> None:
        await client.aclose()

    def _request_headers(self, headers: dict[str, str]) -> Any:
        """The batch's fixed headers in the transport's form, checked once for the batch."""
        encoded = [(name.encode(), value.encode()) for name, value in headers.items()]
        apns_h2.check_header_values(encoded)
        return encoded

    async def _post(self, client: Any, token: str, headers: Any, bearer: str, body: bytes) -> apns_h2.Response:
        jwt_value, authorization = self._bearer_for
        if jwt_value != bearer:
            authorization = f"bearer {bearer}".encode()
            self._bearer_for = (bearer, authorization)
        return await client.post(f"/3/device/{token}".encode(), [*headers, (b"authorization", authorization)], body)

    async def _send_batch(self, body: bytes, headers: dict[str, str], targets: list[PushTarget]) -> list[_Answer]:
        answers: dict[int, _Answer] = {}
        try:
            prepared = self._request_headers(headers)
        except apns_h2.LocalProtocolError as exc:  # as httpx had it: a transport failure
            return [_transport_failure(t, f"LocalProtocolError: {exc}") for t in targets]
        pending = []
        for index, target in enumerate(targets):
            if DEVICE_TOKEN_RE.fullmatch(target.token):
                pending.append((index, target))
            else:
                answers[index] = _Answer(
                    PushResult(target.delivery_id, Outcome.INVALID_ENDPOINT, error="BadDeviceToken"), _NOT_SENT
                )
        # Unless the connection answered within KEEPALIVE_EXPIRY, one request goes first.
        if pending and time.monotonic() - self._answered_at >= KEEPALIVE_EXPIRY:
            index, target = pending.pop(0)
            answers[index] = await self._send_one(body, prepared, target)
            if answers[index].failure == _TRANSPORT_FAILURE:
                reason = answers[index].result.error
                for index, target in pending:
                    answers[index] = _transport_failure(target, reason)
                pending = []
        tasks = {asyncio.ensure_future(self._send_one(body, prepared, target)): index for index, target in pending}
        if tasks:
            done, not_done = await asyncio.wait(tasks, timeout=BATCH_DEADLINE)
            for task in not_done:
                task.cancel()
            for task, index in tasks.items():
                if task in done:
                    answers[index] = task.result()
                else:
                    answers[index] = _transport_failure(targets[index], "batch deadline exceeded")
        return [answers[i] for i in range(len(targets))]

    async def _send_one(self, body: bytes, headers: Any, target: PushTarget) -> _Answer:
        client = self._transport()
        retried_token = retried_connection = False
        while True:
            bearer = self._bearer()
            try:
                response = await self._post(client, target.token, headers, bearer, body)
            except apns_h2.TimeoutException as exc:
                self._answered_at = -math.inf
                return _transport_failure(target, f"timeout ({type(exc).__name__})")
            except (apns_h2.ConnectError, apns_h2.WriteError) as exc:
                # The request never reached APNs, or APNs says it did not process it (GOAWAY,
                # refused stream): once more, on a fresh connection.
                self._answered_at = -math.inf
                if not retried_connection:
                    retried_connection = True
                    continue
                return _transport_failure(target, f"{type(exc).__name__}: {exc}")
            except apns_h2.TransportError as exc:
                # Read error or reset after the request went out: it may have been
                # delivered, so the caller decides (the collapse id dedups on device).
                self._answered_at = -math.inf
                return _transport_failure(target, f"{type(exc).__name__}: {exc}")
            self._answered_at = time.monotonic()
            reason = _reason(response)
            if response.status_code == 403 and reason == EXPIRED_PROVIDER_TOKEN and not retried_token:
                retried_token = True
                self._remint_after_expiry(bearer)
                continue
            return _answer(target, response, reason)

    @staticmethod
    def _results(answers: list[_Answer]) -> list[PushResult]:
        attempted = [a for a in answers if a.failure != _NOT_SENT]
        if attempted and all(a.failure == _AUTH_FAILURE for a in attempted):
            raise PermanentProviderError(f"APNs refused the provider token: {attempted[0].result.error}")
        if attempted and all(a.failure == _TRANSPORT_FAILURE for a in attempted):
            raise TransientProviderError(f"APNs unreachable: {attempted[0].result.error}")
        return [a.result for a in answers]


def collapse_id_header(collapse_id: str) -> str:
    """``collapse_id`` itself when it fits APNs' 64 bytes, else a stable 64-char digest of it."""
    if len(collapse_id.encode()) <= MAX_COLLAPSE_ID_BYTES:
        return collapse_id
    return hashlib.sha256(collapse_id.encode()).hexdigest()


def _reason(response: apns_h2.Response) -> str:
    if response.status_code == 200:
        return ""
    try:
        reason = json.loads(response.content).get("reason")
    except (ValueError, AttributeError):
        reason = None
    return reason if isinstance(reason, str) and reason else f"HTTP {response.status_code}"


def _answer(target: PushTarget, response: apns_h2.Response, reason: str) -> _Answer:
    status = response.status_code
    if status == 200:
        return _Answer(
            PushResult(target.delivery_id, Outcome.SENT, provider_message_id=response.headers.get("apns-id", ""))
        )
    if reason in INVALID_TOKEN_REASONS or status == 410:
        return _Answer(PushResult(target.delivery_id, Outcome.INVALID_ENDPOINT, error=reason))
    if status == 403:
        # Fatal when every target gets it (see _results); if others in the same batch
        # got through with the same token, this one is worth retrying.
        return _Answer(PushResult(target.delivery_id, Outcome.TRANSIENT, error=reason), _AUTH_FAILURE)
    if status == 429 or status >= 500:
        retry_after = _retry_after(response)
        return _Answer(PushResult(target.delivery_id, Outcome.TRANSIENT, error=reason, retry_after=retry_after))
    return _Answer(PushResult(target.delivery_id, Outcome.PERMANENT, error=reason))  # 400, 404, 405, 413


def _retry_after(response: apns_h2.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None


def _transport_failure(target: PushTarget, reason: str) -> _Answer:
    return _Answer(PushResult(target.delivery_id, Outcome.TRANSIENT, error=reason), _TRANSPORT_FAILURE)


# One provider per credentials per worker process.

_providers: dict[tuple, ApnsProvider] = {}
_providers_lock = threading.Lock()


def get_apns_provider(
    *,
    key_pem: str,
    key_id: str,
    team_id: str,
    topic: str,
    sandbox: bool,
    url: str | None = None,
    ca_file: str | None = None,
    transport: str = "h2",
) -> ApnsProvider:
    """The process-wide ``ApnsProvider`` for these credentials, built on first use.

    Keyed by (pid, transport, key id, team, topic, environment, url, CA file, key
    digest), so every call in one worker process shares one connection and one
    provider token, and a rotated key gets a fresh provider. ``transport``: "h2" (this
    module's client on ``apns_h2``) or "httpx" (``apns_httpx``, the one before, kept
    to measure against).
    """
    if transport not in ("h2", "httpx"):
        raise ValueError(f"unknown APNs transport {transport!r}")
    key = (
        os.getpid(),
        transport,
        key_id,
        team_id,
        topic,
        sandbox,
        url,
        ca_file,
        hashlib.sha256(key_pem.encode()).hexdigest(),
    )
    with _providers_lock:
        provider = _providers.get(key)
        if provider is None:
            if transport == "httpx":
                from notifications.push.providers.apns_httpx import HttpxApnsProvider as provider_class
            else:
                provider_class = ApnsProvider
            provider = provider_class(
                key_pem=key_pem, key_id=key_id, team_id=team_id, topic=topic, sandbox=sandbox, url=url, ca_file=ca_file
            )
            _providers[key] = provider
        return provider


def close_apns_providers() -> None:
    """Close every cached provider of this process (worker shutdown, tests)."""
    with _providers_lock:
        providers = [p for key, p in _providers.items() if key[0] == os.getpid()]
        _providers.clear()
    for provider in providers:
        provider.close()
