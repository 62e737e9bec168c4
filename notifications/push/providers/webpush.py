"""Web Push adapter: RFC 8030 delivery, RFC 8291 aes128gcm payloads, RFC 8292 VAPID.

Each target's token is the browser's PushSubscription JSON. Payload encryption is
pywebpush's ``WebPusher`` (a fresh ephemeral ECDH key per message, as RFC 8291
requires); the VAPID ``Authorization`` header is signed here and cached per push
service origin, because pywebpush's ``webpush()`` re-signs a JWT for every push.

Two pywebpush defaults are traps and are always overridden here: ``TTL: 0`` (the
service drops the message unless the browser is online at that instant) and no HTTP
timeout (``webpush()``) or a 10 000 s one (``WebPusher.send``).
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import json
import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02, VapidException
from pywebpush import WebPusher
from requests.adapters import HTTPAdapter

from notifications.push.providers.base import (
    Outcome,
    PermanentProviderError,
    PushMessage,
    PushResult,
    PushTarget,
)

logger = logging.getLogger(__name__)

# Concurrent POSTs per provider instance. Each worker holds one keep-alive connection
# to a push service. Per push the client spends ~0.15 ms encrypting (ephemeral ECDH +
# HKDF + AES-GCM) and ~1 ms in requests; the rest is network wait, so 32 workers
# send a 500-target chunk in ~16 round trips.
WEBPUSH_MAX_WORKERS = 32
# Distinct push service hosts whose connections are pooled (FCM, Mozilla, Apple, WNS...).
WEBPUSH_POOLED_HOSTS = 16
# VAPID JWT lifetime. RFC 8292 caps ``exp`` at 24 h; 12 h (pywebpush's own choice)
# leaves room for clock skew at the push service. Caching saves an ECDSA signature
# (~56 us) per push: a few percent of the client's CPU, measured.
VAPID_TOKEN_LIFETIME = 12 * 60 * 60
# Re-sign this long before ``exp`` so a cached token never expires in flight.
VAPID_TOKEN_REFRESH_MARGIN = 60 * 60
# Origins are few in practice; the bound only stops hostile endpoints growing the cache.
VAPID_CACHE_MAX_ORIGINS = 256
# RFC 8291 §4: push services accept 4096 octets of encrypted body. aes128gcm adds a 86-byte
# header (salt 16, rs 4, idlen 1, keyid 65), a 1-byte delimiter and a 16-byte tag.
MAX_PLAINTEXT_BYTES = 4096 - 86 - 1 - 16
# RFC 8030 §5.4: a Topic is at most 32 characters of the URL-safe base64 alphabet.
TOPIC_MAX_LENGTH = 32
TOPIC_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
URGENCY = "normal"

INVALID_SUBSCRIPTION = "invalid subscription"


def generate_vapid_keypair() -> tuple[str, str]:
    """Return ``(private_key, public_key)`` for a new VAPID identity.

    ``private_key`` is the raw 32-byte P-256 scalar, base64url without padding (43
    chars): the format ``pywebpush.webpush(vapid_private_key=...)``,
    ``py_vapid.Vapid.from_string`` and Node's ``web-push generate-vapid-keys`` use.
    ``public_key`` is the 65-byte uncompressed point, base64url without padding: the
    ``applicationServerKey`` a page passes to ``pushManager.subscribe``.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    private_raw = key.private_numbers().private_value.to_bytes(32, "big")
    return _b64url_encode(private_raw), _public_key_b64url(key)


class WebPushProvider:
    """Sends one message to a batch of PushSubscriptions, concurrently.

    Per-target outcomes: 200/201/202 SENT (``provider_message_id`` = the Location
    header); 404/410 INVALID_ENDPOINT; 413 and other 4xx PERMANENT; 429, 5xx, timeouts
    and connection errors TRANSIENT with ``retry_after`` from Retry-After. ``send``
    itself never raises for a per-target failure. The constructor raises
    ``PermanentProviderError`` for an unusable VAPID key or subject.

    ``allow_http`` accepts ``http://`` endpoints (the loopback fake in tests). It is
    off by default: browsers only hand out https endpoints, and POSTing to whatever
    URL a subscriber registered over plain http is an SSRF and leak risk.
    """

    def __init__(
        self,
        *,
        vapid_private_key: str,
        vapid_subject: str = "mailto:ops@softafrik.local",
        timeout: float = 10.0,
        allow_http: bool = False,
    ) -> None:
        self._vapid = _load_vapid_key(vapid_private_key)
        self._subject = vapid_subject
        try:  # fail at startup, not on the first push, if ``sub`` is not mailto:/https:
            self._vapid.sign({"aud": "https://push.invalid", "sub": vapid_subject})
        except VapidException as exc:
            raise PermanentProviderError(f"invalid VAPID subject {vapid_subject!r}") from exc
        self.vapid_public_key = _public_key_b64url(self._vapid.private_key)
        self._timeout = timeout
        self._schemes = ("https", "http") if allow_http else ("https",)
        self._vapid_cache: dict[str, tuple[dict[str, str], float]] = {}
        self._vapid_lock = threading.Lock()

        self._session = requests.Session()
        self._session.max_redirects = 0  # a push service never redirects; refuse to follow
        adapter = HTTPAdapter(
            pool_connections=WEBPUSH_POOLED_HOSTS,
            pool_maxsize=WEBPUSH_MAX_WORKERS,
            max_retries=0,  # the caller retries TRANSIENT outcomes with backoff
        )
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._pool = ThreadPoolExecutor(max_workers=WEBPUSH_MAX_WORKERS, thread_name_prefix="webpush")

    def send(self, message: PushMessage, targets: list[PushTarget]) -> list[PushResult]:
        """Return one ``PushResult`` per target, in the order of ``targets``."""
        payload = json.dumps(push_payload(message), ensure_ascii=False, separators=(",", ":")).encode()
        if len(payload) > MAX_PLAINTEXT_BYTES:
            reason = f"payload too large ({len(payload)} > {MAX_PLAINTEXT_BYTES} bytes)"
            return [PushResult(t.delivery_id, Outcome.PERMANENT, error=reason) for t in targets]
        headers = {"Urgency": URGENCY}
        topic = collapse_id_to_topic(message.collapse_id)
        if topic:
            headers["Topic"] = topic
        ttl = max(0, message.ttl)
        futures = [self._pool.submit(self._send_one, target, payload, headers, ttl) for target in targets]
        return [future.result() for future in futures]

    def close(self) -> None:
        """Stop the worker pool and close pooled connections; idempotent."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._session.close()

    def _send_one(self, target: PushTarget, payload: bytes, headers: dict[str, str], ttl: int) -> PushResult:
        subscription = parse_subscription(target.token, schemes=self._schemes)
        if subscription is None:
            return PushResult(target.delivery_id, Outcome.INVALID_ENDPOINT, error=INVALID_SUBSCRIPTION)
        url = urlsplit(subscription["endpoint"])
        request_headers = {
            **headers,
            **self._vapid_headers(f"{url.scheme}://{url.netloc}"),
        }
        try:
            response = WebPusher(subscription, requests_session=self._session).send(
                payload,
                request_headers,
                ttl=ttl,
                content_encoding="aes128gcm",
                timeout=self._timeout,
            )
        except requests.TooManyRedirects as exc:
            status = exc.response.status_code if exc.response is not None else 0
            return PushResult(target.delivery_id, Outcome.PERMANENT, error=f"HTTP {status}")
        except requests.Timeout:
            return PushResult(target.delivery_id, Outcome.TRANSIENT, error="timeout")
        # Reasons name the error class only: requests' messages quote the endpoint URL,
        # a bearer capability for the subscriber, which must not land in delivery rows.
        except requests.ConnectionError:
            return PushResult(target.delivery_id, Outcome.TRANSIENT, error="connection error")
        except requests.RequestException as exc:
            return PushResult(target.delivery_id, Outcome.TRANSIENT, error=f"request error: {type(exc).__name__}")
        except Exception as exc:
            # Encryption failing on a subscription that passed validation: retrying
            # the same bytes cannot help.
            logger.exception("web push to delivery %s failed", target.delivery_id)
            return PushResult(target.delivery_id, Outcome.PERMANENT, error=f"error: {type(exc).__name__}")
        return _result_for_response(target.delivery_id, response)

    def _vapid_headers(self, origin: str) -> dict[str, str]:
        """The ``Authorization: vapid t=..., k=...`` header for ``origin``, cached."""
        now = time.time()
        with self._vapid_lock:
            cached = self._vapid_cache.get(origin)
            if cached is not None and now < cached[1]:
                return cached[0]
            expires = int(now) + VAPID_TOKEN_LIFETIME
            headers = self._vapid.sign({"aud": origin, "exp": expires, "sub": self._subject})
            if len(self._vapid_cache) >= VAPID_CACHE_MAX_ORIGINS:
                self._vapid_cache.clear()
            self._vapid_cache[origin] = (headers, expires - VAPID_TOKEN_REFRESH_MARGIN)
            return headers


def push_payload(message: PushMessage) -> dict:
    """The JSON document the service worker's ``push`` event decrypts.

    A notification: ``{"title", "body", "data"}`` plus ``"image"`` (an https URL, the
    ``image`` option of ``showNotification``) and ``"app_badge"`` (the count, for
    ``navigator.setAppBadge``) when set. The count is not called ``badge`` because a
    Notification's ``badge`` is an icon URL: a worker passing the payload on as
    ``showNotification`` options would ask for an image named "3". ``sound`` is not
    sent: browsers play no custom notification sounds.

    Data-only: ``{"data_only": true, "data"}`` with title and body inside ``data`` unless
    it has those keys (as FCM's data messages), and no display field, so the worker knows
    to run its own code. Chrome subscribes with ``userVisibleOnly`` and shows a generic
    notification when the worker shows none: what to show is then the worker's choice.
    """
    if message.data_only:
        return {"data_only": True, "data": message.data_with_text()}
    payload: dict = {"title": message.title, "body": message.body, "data": message.data}
    if message.image:
        payload["image"] = message.image
    if message.badge is not None:
        payload["app_badge"] = message.badge
    return payload


def parse_subscription(token: str, *, schemes: tuple[str, ...] = ("https",)) -> dict | None:
    """Return the PushSubscription dict WebPusher takes, or None if it is unusable.

    Usable means: JSON object, an ``endpoint`` URL with one of ``schemes`` and a host
    (no userinfo), ``keys.p256dh`` a valid uncompressed P-256 point and ``keys.auth``
    16 bytes, both base64url.
    """
    try:
        subscription = json.loads(token)
    except (TypeError, ValueError):
        return None
    if not isinstance(subscription, dict):
        return None
    endpoint, keys = subscription.get("endpoint"), subscription.get("keys")
    if not isinstance(endpoint, str) or not isinstance(keys, dict):
        return None
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    if not isinstance(p256dh, str) or not isinstance(auth, str):
        return None
    try:
        url = urlsplit(endpoint)
        if url.scheme not in schemes or not url.hostname or url.username is not None:
            return None
        if url.port == 0:  # ``.port`` also raises ValueError on a malformed port
            return None
        point, secret = _b64url_decode(p256dh), _b64url_decode(auth)
        if len(point) != 65 or len(secret) != 16:
            return None
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except (ValueError, binascii.Error):
        return None
    return {
        "endpoint": endpoint,
        "keys": {"p256dh": _b64url_encode(point), "auth": _b64url_encode(secret)},
    }


def collapse_id_to_topic(collapse_id: str) -> str:
    """Map a collapse id to a valid RFC 8030 Topic, deterministically ("" for none).

    A collapse id that is already a valid Topic is used as is; any other is hashed,
    so two distinct ids never share a Topic by truncation or character stripping.
    """
    if not collapse_id:
        return ""
    if TOPIC_RE.match(collapse_id):
        return collapse_id
    digest = hashlib.sha256(collapse_id.encode()).digest()
    return _b64url_encode(digest)[:TOPIC_MAX_LENGTH]


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _result_for_response(delivery_id: int, response: requests.Response) -> PushResult:
    status = response.status_code
    if status in (200, 201, 202):
        return PushResult(
            delivery_id,
            Outcome.SENT,
            provider_message_id=response.headers.get("Location", ""),
        )
    error = f"HTTP {status}"
    if status in (404, 410):
        return PushResult(delivery_id, Outcome.INVALID_ENDPOINT, error=error)
    if status == 429 or status >= 500:
        return PushResult(
            delivery_id,
            Outcome.TRANSIENT,
            error=error,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    return PushResult(delivery_id, Outcome.PERMANENT, error=error)


def _load_vapid_key(private_key: str) -> Vapid02:
    """Accept the raw base64url scalar (``generate_vapid_keypair``), base64url DER or PEM."""
    try:
        if "-----BEGIN" in private_key:
            key = serialization.load_pem_private_key(private_key.encode(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
                raise ValueError("not a P-256 key")
            return Vapid02(key)
        vapid = Vapid02.from_string(private_key)
        if vapid.private_key.curve.name != "secp256r1":
            raise ValueError("not a P-256 key")
        return vapid
    except (ValueError, TypeError, AttributeError) as exc:
        raise PermanentProviderError("invalid VAPID private key") from exc


def _public_key_b64url(key: ec.EllipticCurvePrivateKey) -> str:
    return _b64url_encode(
        key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    text = text.rstrip("=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
