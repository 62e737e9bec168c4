"""Signing webhook deliveries: Standard Webhooks headers, and today's X-SoftAfrik-Signature
beside them for receivers written against the status callback.

- ``webhook-id``: the message's id, the same across retries (receivers deduplicate on it);
- ``webhook-timestamp``: the attempt's time, Unix seconds;
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>``, made by the
  ``standardwebhooks`` package. An endpoint's key is its secret ``whsec_<base64>`` decoded;
  the legacy status callback's key is the tenant's callback secret as UTF-8 bytes;
- ``X-SoftAfrik-Signature``: ``sha256=<hex HMAC-SHA256(secret, body)>`` with the secret as
  the receiver holds it (the whole ``whsec_…`` string, or the callback secret).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from standardwebhooks import Webhook

SIGNATURE_HEADER = "X-SoftAfrik-Signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
SECRET_BYTES = 24  # 192 bits, as Svix and the Standard Webhooks examples use


def secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def legacy_signature(secret: str, body: bytes) -> str:
    """Today's status-callback signature: ``sha256=<hex HMAC-SHA256(secret, body)>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signing_key(*, secret: str, legacy: bool) -> bytes | str:
    """What ``standardwebhooks.Webhook`` is built with, here and by the receiver."""
    return secret.encode() if legacy else secret


def signed_headers(*, secret: str, legacy: bool, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The signature headers of one attempt. An empty secret (a legacy callback that never
    had one set) signs nothing, as before: the receiver gets the id and timestamp only."""
    headers = {"webhook-id": message_id, "webhook-timestamp": str(timestamp)}
    if secret:
        signer = Webhook(signing_key(secret=secret, legacy=legacy))
        headers["webhook-signature"] = signer.sign(message_id, datetime.fromtimestamp(timestamp, UTC), body.decode())
        headers[SIGNATURE_HEADER] = legacy_signature(secret, body)
    return headers
