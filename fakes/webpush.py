"""A fake Web Push service (RFC 8030) that speaks the real protocol on loopback.

It plays both sides a real deployment has:

* the browser: ``new_subscription()`` makes a P-256 key pair and a 16-byte auth
  secret and returns the PushSubscription JSON a page would POST to us;
* the vendor's push service: ``POST /push/<id>`` checks the VAPID header (RFC 8292)
  with an independent JWT implementation (PyJWT, not py_vapid), requires ``TTL`` and
  ``Content-Encoding: aes128gcm``, decrypts the body (RFC 8291) with the
  subscription's private key and records the plaintext in ``received``.

Status codes follow RFC 8030/8292 and what FCM, Mozilla autopush and Apple return:
201 accepted, 400 malformed, 401 bad VAPID JWT, 403 JWT signed by another key than
the subscription's applicationServerKey, 404 unknown subscription, 410 expired,
413 payload over 4096 bytes, 415 wrong encoding, plus injected 404/413/429/500/503
(or any status: an injected 204 comes without a body, as HTTP requires).

It is served by an asyncio loop (``fakes.http1``: HTTP/1.1 with keep-alive, as the push
services), in a background thread or on the caller's loop. The full checks cost about
0.27 ms of CPU per push, half of it the VAPID signature verification and a third the
decryption (cProfile, 2026-12-01); ``lean=True`` verifies each distinct VAPID header
once and skips the decryption, for the benchmarks. ``bench/fake_webpush_cost.py``
measured, in one run of 20,000 pushes from the platform's client (2026-12-01): 588 us of
CPU per push for the threaded fake this replaced, 386 us here, 50 us lean. ``GET /_stats``
reports the requests served and the CPU spent.
"""

from __future__ import annotations

import asyncio
import base64
import html
import http.server
import json
import os
import re
import struct
import threading
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fakes.http1 import Answer, Http1Fake, Http1Server, Request

# RFC 8291 §4: a push service MUST accept 4096 octets of (encrypted) payload;
# FCM, autopush and Apple all reject larger bodies with 413.
MAX_BODY_BYTES = 4096
# RFC 8292 §2: the JWT ``exp`` MUST NOT be more than 24 hours from the request.
MAX_JWT_LIFETIME = 24 * 60 * 60
URGENCIES = frozenset({"very-low", "low", "normal", "high"})
TOPIC_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
# Default Retry-After (seconds) on an injected 429/503 when the test gives none.
DEFAULT_RETRY_AFTER = 60
STATS_PATH = "/_stats"  # GET: the fake's own counters and CPU, for the benchmarks
PUSH_PATH_RE = re.compile(r"/push/([0-9a-f]{32})")
# RFC 8188 §2.1 header of an aes128gcm body: salt (16), record size (4), key id length (1),
# then the key id, for Web Push the sender's 65-byte P-256 point (RFC 8291 §4).
ECE_HEADER_BYTES = 21
ECE_KEY_ID_BYTES = 65
AES_GCM_TAG_BYTES = 16
# Distinct VAPID headers the lean fake remembers as verified: the platform signs one per
# push service origin and renews it every 11 hours, so a handful is the norm.
VAPID_CACHE_MAX = 1024
# How long stop() lets pushes held by ``delay`` answer 503 before dropping connections.
STOP_GRACE_SECONDS = 1.0


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class ReceivedPush:
    subscription_id: str
    endpoint: str
    payload: Any  # parsed JSON when the plaintext is JSON, else the raw bytes; None if lean
    ttl: int
    topic: str | None
    urgency: str | None
    vapid_public_key: str  # the ``k`` of the Authorization header
    vapid_token: str  # the ``t``: the signed JWT as sent
    vapid_claims: dict[str, Any]
    message_id: str  # last path segment of the Location we answered


@dataclass
class _Subscription:
    id: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes
    application_server_key: str | None  # b64url point; None = any VAPID key is accepted
    expired: bool = False
    fail_status: int | None = None
    fail_times: int | None = None  # None = until cleared
    fail_retry_after: str | None = None


class FakeWebPushServer(Http1Fake):
    """HTTP/1.1 fake push service on 127.0.0.1, served by an asyncio loop.

    ``with FakeWebPushServer() as server:`` or ``start()``/``stop()`` run the loop in a
    background thread; ``await start_serving()``/``stop_serving()`` serve on the running
    loop instead (``bench/fake_webpush_server.py``). ``delay`` (seconds) holds each push
    before it is checked and answered, to test timeouts (other connections are served
    meanwhile; a push still held when the server stops gets 503).

    ``lean=True`` verifies each distinct VAPID ``Authorization`` header once (its expiry
    still on every push) and does not decrypt bodies, only checks that they have an
    aes128gcm header: a valid push gets the same answer as with the full checks and is
    recorded with ``payload`` None; an undecryptable one may be accepted. ``record=False``
    keeps only the counters (``accepted``), for runs of many thousand pushes. Tests keep
    the defaults.
    """

    thread_name = "fake-webpush"

    def __init__(self, *, lean: bool = False, record: bool = True) -> None:
        super().__init__()
        self.lean = lean
        self.record = record
        self.delay: float = 0.0
        # Counters, written by the loop only.
        self.requests = 0  # every request served, but GET /_stats
        self.accepted = 0  # pushes answered 201, counted even with record=False
        self.vapid_verifications = 0  # JWT signatures checked (once per push unless lean)
        self.decryptions = 0
        self._push_requests = 0
        self._connections_before = 0  # of servers stopped since: the count survives stop()
        self._lock = threading.Lock()
        self._subscriptions: dict[str, _Subscription] = {}
        self._received: list[ReceivedPush] = []
        self._verified_vapid: dict[str, tuple[str, str, dict[str, Any]]] = {}  # header -> (k, t, claims)
        self._stopping: asyncio.Event | None = None

    # -- lifecycle: fakes.http1.Http1Fake ------------------------------------------

    async def _serving(self) -> None:
        self._stopping = asyncio.Event()

    async def _closing(self, http_server: Http1Server) -> None:
        self._stopping.set()  # wakes pushes held by ``delay``: they answer 503
        if http_server.tasks:
            await asyncio.wait(list(http_server.tasks), timeout=STOP_GRACE_SECONDS)
        self._connections_before += http_server.connections_made

    @property
    def url(self) -> str:
        if not self._base_url:
            raise RuntimeError("FakeWebPushServer was never started")
        return self._base_url

    def _counters(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "push_requests": self._push_requests,
            "accepted": self.accepted,
            "connections": self.connection_count,
            "vapid_verifications": self.vapid_verifications,
            "decryptions": self.decryptions,
        }

    # -- the browser side ------------------------------------------------------------

    def new_subscription(self, *, application_server_key: str | None = None) -> dict:
        """Subscribe a new "browser"; return its PushSubscription JSON (as a dict).

        With ``application_server_key`` (the b64url VAPID public key the page passed to
        ``pushManager.subscribe``), pushes signed by any other key get 403, as in Chrome.
        """
        sub = _Subscription(
            id=uuid.uuid4().hex,
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth_secret=os.urandom(16),
            application_server_key=application_server_key,
        )
        with self._lock:
            self._subscriptions[sub.id] = sub
        public = sub.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": f"{self.url}/push/{sub.id}",
            "keys": {
                "p256dh": b64url_encode(public),
                "auth": b64url_encode(sub.auth_secret),
            },
        }

    # -- error injection ---------------------------------------------------------------

    def expire(self, subscription: dict | str) -> None:
        """Every later push to this subscription gets 410 Gone (the user unsubscribed)."""
        with self._lock:
            self._subscriptions[_subscription_id(subscription)].expired = True

    def fail_subscription(
        self,
        subscription: dict | str,
        status: int,
        *,
        times: int | None = None,
        retry_after: int | str | None = None,
    ) -> None:
        """Answer ``status`` to the next ``times`` valid pushes (forever if None).

        429 and 503 carry ``Retry-After`` (``retry_after``, default 60 seconds).
        ``status=None`` clears an injected failure.
        """
        if retry_after is None and status in (429, 503):
            retry_after = DEFAULT_RETRY_AFTER
        with self._lock:
            sub = self._subscriptions[_subscription_id(subscription)]
            sub.fail_status = status
            sub.fail_times = times
            sub.fail_retry_after = None if retry_after is None else str(retry_after)

    def clear_failures(self) -> None:
        """Forget every ``expire``, ``fail_subscription`` and ``delay`` (between tests)."""
        self.delay = 0.0
        with self._lock:
            for sub in self._subscriptions.values():
                sub.expired = False
                sub.fail_status = sub.fail_times = sub.fail_retry_after = None

    # -- inspection --------------------------------------------------------------------

    @property
    def received(self) -> list[ReceivedPush]:
        """A snapshot of the pushes accepted so far, in arrival order (empty if not ``record``)."""
        with self._lock:
            return list(self._received)

    @property
    def request_count(self) -> int:
        """Every push (POST) that reached the server, accepted or not."""
        return self._push_requests

    @property
    def connection_count(self) -> int:
        """TCP connections accepted so far (keep-alive reuse keeps this low)."""
        http_server = self._http
        return self._connections_before + (http_server.connections_made if http_server is not None else 0)

    # -- the push service side (on the loop) -------------------------------------------

    def _handle(self, request: Request) -> Answer | Awaitable[Answer]:
        method = request.method
        if method == "POST":
            self.requests += 1
            self._push_requests += 1
            if self.delay:
                return self._answer_held(request, self.delay)
            return self._answer_push(request)
        if method == "GET" and request.target == STATS_PATH:
            return 200, "application/json", {}, json.dumps(self.stats()).encode()
        self.requests += 1
        if method == "GET":
            return _text(405, "method not allowed")
        return _unsupported_method(method)

    async def _answer_held(self, request: Request, delay: float) -> Answer:
        try:
            await asyncio.wait_for(self._stopping.wait(), delay)
        except TimeoutError:
            return self._answer_push(request)
        return _text(503, "shutting down")

    def _answer_push(self, request: Request) -> Answer:
        target = request.target
        if target.startswith("/push/") and len(target) == 38:  # the endpoints we hand out
            sub = self._subscriptions.get(target[6:])
        else:
            match = PUSH_PATH_RE.fullmatch(urlsplit(target).path)
            sub = self._subscriptions.get(match.group(1)) if match else None
        if sub is None:
            return _text(404, "no such subscription")
        if sub.expired:
            return _text(410, "subscription expired")

        headers = request.headers
        try:
            vapid_key, token, claims = self._check_vapid(headers.get("authorization", ""), sub)
        except _Refused as refused:
            return refused.answer

        ttl = headers.get("ttl")
        if ttl is None or not ttl.isdigit():
            return _text(400, "missing or invalid TTL header")
        topic = headers.get("topic")
        if topic is not None and not TOPIC_RE.match(topic):
            return _text(400, "Topic must be at most 32 URL-safe base64 characters")
        urgency = headers.get("urgency")
        if urgency is not None and urgency not in URGENCIES:
            return _text(400, "invalid Urgency")
        body = request.body
        if len(body) > MAX_BODY_BYTES:
            return _text(413, "payload too large")
        if body and headers.get("content-encoding") != "aes128gcm":
            return _text(415, "Content-Encoding must be aes128gcm")

        if self.lean:
            refusal = _check_ece_header(body)
            if refusal is not None:
                return _text(400, f"cannot decrypt payload: {refusal}")
            plaintext = None
        else:
            try:
                plaintext = (
                    http_ece.decrypt(
                        body, private_key=sub.private_key, auth_secret=sub.auth_secret, version="aes128gcm"
                    )
                    if body
                    else b""
                )
            except (http_ece.ECEException, ValueError, struct.error) as exc:
                return _text(400, f"cannot decrypt payload: {exc}")
            self.decryptions += 1

        if sub.fail_status is not None:
            injected = self._take_injected_failure(sub)
            if injected is not None:
                return injected

        message_id = uuid.uuid4().hex
        self.accepted += 1
        if self.record:
            payload: Any = None
            if plaintext is not None:
                try:
                    payload = json.loads(plaintext)
                except ValueError:
                    payload = plaintext
            push = ReceivedPush(
                subscription_id=sub.id,
                endpoint=f"{self._base_url}/push/{sub.id}",
                payload=payload,
                ttl=int(ttl),
                topic=topic,
                urgency=urgency,
                vapid_public_key=vapid_key,
                vapid_token=token,
                vapid_claims=claims,
                message_id=message_id,
            )
            with self._lock:
                self._received.append(push)
        return 201, "", {"Location": f"{self._base_url}/message/{message_id}"}, b""

    def _check_vapid(self, header: str, sub: _Subscription) -> tuple[str, str, dict[str, Any]]:
        """(k, t, claims) of a valid ``Authorization: vapid`` header for ``sub``; raises
        ``_Refused`` with the 401 or 403 otherwise."""
        verified = self._verified_vapid.get(header) if self.lean else None
        if verified is None or verified[2]["exp"] <= time.time():  # PyJWT's expiry test, no leeway
            verified = self._verify_vapid(header)
            if self.lean:
                if len(self._verified_vapid) >= VAPID_CACHE_MAX:
                    self._verified_vapid.clear()
                self._verified_vapid[header] = verified
        if sub.application_server_key is not None and verified[0] != sub.application_server_key:
            raise _Refused(_text(403, "VAPID key does not match the subscription's key"))
        return verified

    def _verify_vapid(self, header: str) -> tuple[str, str, dict[str, Any]]:
        scheme, _, params = header.partition(" ")
        if scheme.lower() != "vapid":
            raise _Refused(_text(401, "missing vapid Authorization"))
        values = dict(part.strip().split("=", 1) for part in params.split(",") if "=" in part)
        token, key = values.get("t", ""), values.get("k", "")
        self.vapid_verifications += 1
        try:
            public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
            claims = jwt.decode(
                token,
                public_key,
                algorithms=["ES256"],
                audience=self._base_url,
                options={"require": ["exp", "aud", "sub"]},
            )
        except (ValueError, jwt.PyJWTError) as exc:
            raise _Refused(_text(401, f"invalid VAPID token: {exc}")) from None
        if claims["exp"] > time.time() + MAX_JWT_LIFETIME:
            raise _Refused(_text(401, "VAPID exp more than 24 hours ahead"))
        return key, token, claims

    def _take_injected_failure(self, sub: _Subscription) -> Answer | None:
        with self._lock:
            if sub.fail_status is None:
                return None
            status, retry_after = sub.fail_status, sub.fail_retry_after
            if sub.fail_times is not None:
                sub.fail_times -= 1
                if sub.fail_times <= 0:
                    sub.fail_status = None
        answer = _text(status, "injected failure")
        if retry_after is not None:
            answer[2]["Retry-After"] = retry_after
        return answer


class _Refused(Exception):
    def __init__(self, answer: Answer) -> None:
        super().__init__(answer[0])
        self.answer = answer


def _check_ece_header(body: bytes) -> str | None:
    """Why ``body`` cannot be an RFC 8291 aes128gcm payload, judged from its header and
    length only (what the lean fake checks instead of decrypting), or None."""
    if not body:
        return None
    if len(body) < ECE_HEADER_BYTES or body[20] != ECE_KEY_ID_BYTES:
        return "header is not salt, record size and a 65-byte key id"
    if len(body) <= ECE_HEADER_BYTES + ECE_KEY_ID_BYTES + AES_GCM_TAG_BYTES:
        return "no record after the header"
    return None


def _text(status: int, message: str) -> Answer:
    if status in (204, 205, 304):  # answers without content (RFC 9110 §15.3.5, 15.3.6, 15.4.5)
        return status, "", {}, b""
    return status, "text/plain", {}, message.encode()


def _unsupported_method(method: str) -> Answer:
    """What http.server (the fake's first transport) answered to a method it has no handler
    for: its HTML error page, and the connection closed."""
    message = f"Unsupported method ({method!r})"
    body = http.server.DEFAULT_ERROR_MESSAGE % {
        "code": 501,
        "message": html.escape(message, quote=False),
        "explain": "Server does not support this operation",
    }
    return 501, http.server.DEFAULT_ERROR_CONTENT_TYPE, {"Connection": "close"}, body.encode("utf-8", "replace")


def _subscription_id(subscription: dict | str) -> str:
    """Accept the subscription dict, its endpoint URL or its bare id."""
    endpoint = subscription["endpoint"] if isinstance(subscription, dict) else subscription
    return endpoint.rstrip("/").rsplit("/", 1)[-1]
