"""Web Push adapter: RFC 8030 delivery, RFC 8291 aes128gcm payloads, RFC 8292 VAPID.

Each target's token is the browser's PushSubscription JSON. Payload encryption is
``http_ece`` (pywebpush's encryption: a fresh ephemeral ECDH key per message, as RFC
8291 requires), done in the calling thread; the VAPID ``Authorization`` header is
signed here and cached per push service origin, because pywebpush's ``webpush()``
re-signs a JWT for every push. The requests go out through ``webpush_aiohttp``: aiohttp
on the process's shared event loop, one keep-alive connector per push service origin,
a whole chunk in flight at once.

Two pywebpush defaults are traps and are avoided here: ``TTL: 0`` (the service drops
the message unless the browser is online at that instant) and no HTTP timeout
(``webpush()``) or a 10 000 s one (``WebPusher.send``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import threading
import time
from urllib.parse import urlsplit

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02, VapidException

from notifications.push.providers.base import (
    Outcome,
    PermanentProviderError,
    PushMessage,
    PushResult,
    PushTarget,
)
from notifications.push.providers.webpush_aiohttp import (
    CONNECTIONS_PER_ORIGIN,
    POOLED_ORIGINS,
    PushRequest,
    WebPushTransport,
    parse_retry_after,
)

__all__ = [
    "WebPushProvider",
    "collapse_id_to_topic",
    "encrypt_payload",
    "generate_vapid_keypair",
    "parse_retry_after",
    "parse_subscription",
    "push_payload",
]

logger = logging.getLogger(__name__)

# VAPID JWT lifetime. RFC 8292 caps ``exp`` at 24 h; 12 h (pywebpush's own choice)
# leaves room for clock skew at the push service. Caching saves an ECDSA signature
# (~50 us) per push: a third of the encryption's cost, measured.
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
CONTENT_ENCODING = "aes128gcm"

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

    ``timeout`` bounds each request's connect and each read. Each push service origin
    gets up to ``connections_per_origin`` keep-alive connections (as many requests in
    flight to it); an instance built before a fork sends from each child on the
    child's own connections.

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
        connections_per_origin: int = CONNECTIONS_PER_ORIGIN,
        pooled_origins: int = POOLED_ORIGINS,
    ) -> None:
        self._vapid = _load_vapid_key(vapid_private_key)
        self._subject = vapid_subject
        try:  # fail at startup, not on the first push, if ``sub`` is not mailto:/https:
            self._vapid.sign({"aud": "https://push.invalid", "sub": vapid_subject})
        except VapidException as exc:
            raise PermanentProviderError(f"invalid VAPID subject {vapid_subject!r}") from exc
        self.vapid_public_key = _public_key_b64url(self._vapid.private_key)
        self._schemes = ("https", "http") if allow_http else ("https",)
        self._vapid_cache: dict[str, tuple[dict[str, str], float]] = {}
        self._vapid_lock = threading.Lock()
        self._transport = WebPushTransport(
            timeout=timeout, connections_per_origin=connections_per_origin, pooled_origins=pooled_origins
        )

    def send(self, message: PushMessage, targets: list[PushTarget]) -> list[PushResult]:
        """Return one ``PushResult`` per target, in the order of ``targets``."""
        payload = json.dumps(push_payload(message), ensure_ascii=False, separators=(",", ":")).encode()
        if len(payload) > MAX_PLAINTEXT_BYTES:
            reason = f"payload too large ({len(payload)} > {MAX_PLAINTEXT_BYTES} bytes)"
            return [PushResult(t.delivery_id, Outcome.PERMANENT, error=reason) for t in targets]
        headers = {"TTL": str(max(0, message.ttl)), "Urgency": URGENCY, "Content-Encoding": CONTENT_ENCODING}
        topic = collapse_id_to_topic(message.collapse_id)
        if topic:
            headers["Topic"] = topic
        return self._send_targets(targets, payload, headers)

    def close(self) -> None:
        """Close pooled connections; idempotent."""
        self._transport.close()

    def _send_targets(self, targets: list[PushTarget], payload: bytes, headers: dict[str, str]) -> list[PushResult]:
        # Encrypted here, in the calling thread, before anything goes to the loop: the
        # loop stays free for the other providers' I/O, and the bench measured no saving
        # in doing it there (bench/webpush_transport_cost.py, aiohttp-encrypt-on-loop).
        prepared = [self._prepare(target, payload, headers) for target in targets]
        requests = [item for item in prepared if isinstance(item, PushRequest)]
        answers = iter(self._transport.send(requests))
        return [next(answers) if isinstance(item, PushRequest) else item for item in prepared]

    def _prepare(self, target: PushTarget, payload: bytes, headers: dict[str, str]) -> PushRequest | PushResult:
        """The encrypted, signed request for ``target``, or its result if it cannot be sent."""
        subscription = parse_subscription(target.token, schemes=self._schemes)
        if subscription is None:
            return PushResult(target.delivery_id, Outcome.INVALID_ENDPOINT, error=INVALID_SUBSCRIPTION)
        endpoint = subscription["endpoint"]
        url = urlsplit(endpoint)
        origin = f"{url.scheme}://{url.netloc}"
        try:
            body = encrypt_payload(subscription, payload)
        except Exception as exc:
            # Encryption failing on a subscription that passed validation: retrying
            # the same bytes cannot help.
            logger.exception("web push to delivery %s failed", target.delivery_id)
            return PushResult(target.delivery_id, Outcome.PERMANENT, error=f"error: {type(exc).__name__}")
        return PushRequest(target.delivery_id, origin, endpoint, {**headers, **self._vapid_headers(origin)}, body)

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


def encrypt_payload(subscription: dict, payload: bytes) -> bytes:
    """The RFC 8291 aes128gcm body of ``payload`` for ``subscription`` (as
    ``parse_subscription`` returns it), under a fresh ephemeral P-256 key: what
    pywebpush's ``WebPusher.encode`` does, without its copies of the subscription."""
    keys = subscription["keys"]
    return http_ece.encrypt(
        payload,
        private_key=ec.generate_private_key(ec.SECP256R1()),
        dh=_b64url_decode(keys["p256dh"]),
        auth_secret=_b64url_decode(keys["auth"]),
        version=CONTENT_ENCODING,
    )


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
