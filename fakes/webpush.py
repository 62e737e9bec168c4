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
413 payload over 4096 bytes, 415 wrong encoding, plus injected 404/413/429/500/503.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import re
import struct
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import urlsplit

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

# RFC 8291 §4: a push service MUST accept 4096 octets of (encrypted) payload;
# FCM, autopush and Apple all reject larger bodies with 413.
MAX_BODY_BYTES = 4096
# RFC 8292 §2: the JWT ``exp`` MUST NOT be more than 24 hours from the request.
MAX_JWT_LIFETIME = 24 * 60 * 60
URGENCIES = frozenset({"very-low", "low", "normal", "high"})
TOPIC_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
# Default Retry-After (seconds) on an injected 429/503 when the test gives none.
DEFAULT_RETRY_AFTER = 60


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class ReceivedPush:
    subscription_id: str
    endpoint: str
    payload: Any  # parsed JSON when the plaintext is JSON, else the raw bytes
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


@dataclass
class _Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class FakeWebPushServer:
    """Threaded HTTP/1.1 fake push service on 127.0.0.1; use as a context manager.

    ``delay`` (seconds) is slept before answering each request, to test timeouts.
    """

    def __init__(self) -> None:
        self.delay: float = 0.0
        self._lock = threading.Lock()
        self._subscriptions: dict[str, _Subscription] = {}
        self._received: list[ReceivedPush] = []
        self._request_count = 0
        self._connection_count = 0
        self._stopping = threading.Event()
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._url = ""  # kept after stop(): handler threads may still be finishing
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> Self:
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        self._httpd = _Server(("127.0.0.1", 0), handler)
        host, port = self._httpd.server_address[:2]
        self._url = f"http://{host}:{port}"
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()  # wakes handlers sleeping on ``delay``
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The push service origin, e.g. ``http://127.0.0.1:41234`` (no trailing slash)."""
        if not self._url:
            raise RuntimeError("FakeWebPushServer was never started")
        return self._url

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
        """A snapshot of the pushes accepted so far, in arrival order."""
        with self._lock:
            return list(self._received)

    @property
    def request_count(self) -> int:
        """Every HTTP request that reached the server, accepted or not."""
        with self._lock:
            return self._request_count

    @property
    def connection_count(self) -> int:
        """TCP connections accepted so far (keep-alive reuse keeps this low)."""
        with self._lock:
            return self._connection_count

    def _connection_opened(self) -> None:
        with self._lock:
            self._connection_count += 1

    # -- the push service side (called from handler threads) ---------------------------

    def _handle_push(self, path: str, headers: Any, body: bytes) -> _Response:
        with self._lock:
            self._request_count += 1
        if self.delay and self._stopping.wait(self.delay):
            return _text(503, "shutting down")

        match = re.fullmatch(r"/push/([0-9a-f]{32})", path)
        with self._lock:
            sub = self._subscriptions.get(match.group(1)) if match else None
        if sub is None:
            return _text(404, "no such subscription")
        if sub.expired:
            return _text(410, "subscription expired")

        auth = self._check_vapid(headers.get("Authorization", ""), sub)
        if isinstance(auth, _Response):
            return auth
        vapid_key, token, claims = auth

        ttl = headers.get("TTL")
        if ttl is None or not ttl.isdigit():
            return _text(400, "missing or invalid TTL header")
        topic = headers.get("Topic")
        if topic is not None and not TOPIC_RE.match(topic):
            return _text(400, "Topic must be at most 32 URL-safe base64 characters")
        urgency = headers.get("Urgency")
        if urgency is not None and urgency not in URGENCIES:
            return _text(400, "invalid Urgency")
        if len(body) > MAX_BODY_BYTES:
            return _text(413, "payload too large")
        if body and headers.get("Content-Encoding") != "aes128gcm":
            return _text(415, "Content-Encoding must be aes128gcm")

        try:
            plaintext = (
                http_ece.decrypt(
                    body,
                    private_key=sub.private_key,
                    auth_secret=sub.auth_secret,
                    version="aes128gcm",
                )
                if body
                else b""
            )
        except (http_ece.ECEException, ValueError, struct.error) as exc:
            return _text(400, f"cannot decrypt payload: {exc}")

        injected = self._take_injected_failure(sub)
        if injected is not None:
            return injected

        try:
            payload: Any = json.loads(plaintext)
        except ValueError:
            payload = plaintext
        message_id = uuid.uuid4().hex
        push = ReceivedPush(
            subscription_id=sub.id,
            endpoint=f"{self.url}/push/{sub.id}",
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
        return _Response(201, {"Location": f"{self.url}/message/{message_id}"})

    def _check_vapid(self, header: str, sub: _Subscription) -> tuple[str, str, dict[str, Any]] | _Response:
        scheme, _, params = header.partition(" ")
        if scheme.lower() != "vapid":
            return _text(401, "missing vapid Authorization")
        values = dict(part.strip().split("=", 1) for part in params.split(",") if "=" in part)
        token, key = values.get("t", ""), values.get("k", "")
        try:
            public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
            claims = jwt.decode(
                token,
                public_key,
                algorithms=["ES256"],
                audience=self.url,
                options={"require": ["exp", "aud", "sub"]},
            )
        except (ValueError, jwt.PyJWTError) as exc:
            return _text(401, f"invalid VAPID token: {exc}")
        if claims["exp"] > time.time() + MAX_JWT_LIFETIME:
            return _text(401, "VAPID exp more than 24 hours ahead")
        if sub.application_server_key is not None and key != sub.application_server_key:
            return _text(403, "VAPID key does not match the subscription's key")
        return key, token, claims

    def _take_injected_failure(self, sub: _Subscription) -> _Response | None:
        with self._lock:
            if sub.fail_status is None:
                return None
            status, retry_after = sub.fail_status, sub.fail_retry_after
            if sub.fail_times is not None:
                sub.fail_times -= 1
                if sub.fail_times <= 0:
                    sub.fail_status = None
        response = _text(status, "injected failure")
        if retry_after is not None:
            response.headers["Retry-After"] = retry_after
        return response


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # A batch opens up to 32 connections at once; the default backlog of 5 would
    # drop SYNs and cost a 1 s retransmit.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up is expected (the timeout tests do it).
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    fake: FakeWebPushServer
    protocol_version = "HTTP/1.1"  # keep-alive, like real push services
    disable_nagle_algorithm = True  # headers and body are separate writes
    timeout = 30  # close idle keep-alive connections eventually

    def setup(self) -> None:
        super().setup()
        self.fake._connection_opened()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        self._send(self.fake._handle_push(path, self.headers, body))

    def do_GET(self) -> None:
        self._send(_text(405, "method not allowed"))

    def _send(self, response: _Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per push would drown test output and slow batches


def _text(status: int, message: str) -> _Response:
    return _Response(status, {"Content-Type": "text/plain"}, message.encode())


def _subscription_id(subscription: dict | str) -> str:
    """Accept the subscription dict, its endpoint URL or its bare id."""
    endpoint = subscription["endpoint"] if isinstance(subscription, dict) else subscription
    return endpoint.rstrip("/").rsplit("/", 1)[-1]
