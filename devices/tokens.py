"""What a device token is, per platform: its canonical stored form and its identity."""

from __future__ import annotations

import hashlib
import json
import re

from devices.models import Platform

_APNS_TOKEN = re.compile(r"^[0-9a-fA-F]{64,200}$")
_FCM_TOKEN = re.compile(r"^[\w:.\-]{20,4096}$")


class InvalidToken(ValueError):
    pass


def web_subscription_parse(raw) -> dict:
    """A PushSubscription (object or JSON string) as {"endpoint", "keys": {"p256dh", "auth"}}."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise InvalidToken("must be a PushSubscription JSON object: {endpoint, keys: {p256dh, auth}}") from exc
    if not isinstance(raw, dict):
        raise InvalidToken("must be a PushSubscription JSON object: {endpoint, keys: {p256dh, auth}}")
    endpoint = raw.get("endpoint")
    keys = raw.get("keys") or {}
    if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
        raise InvalidToken("endpoint must be an http(s) URL")
    if not isinstance(keys, dict) or not all(isinstance(keys.get(k), str) and keys.get(k) for k in ("p256dh", "auth")):
        raise InvalidToken("keys.p256dh and keys.auth are required")
    return {"endpoint": endpoint, "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]}}


def token_canonical(platform: str, raw) -> tuple[str, str]:
    """(stored token, token_hash) for a token as a client sent it. Raises InvalidToken."""
    if platform == Platform.WEB:
        subscription = web_subscription_parse(raw)
        return json.dumps(subscription, separators=(",", ":")), token_hash(subscription["endpoint"])
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidToken("must be a non-empty string")
    token = raw.strip()
    if platform == Platform.IOS and not _APNS_TOKEN.match(token):
        raise InvalidToken("an APNs device token is 64+ hexadecimal characters")
    if platform == Platform.ANDROID and not _FCM_TOKEN.match(token):
        raise InvalidToken("not an FCM registration token")
    return token, token_hash(token)


def token_hash(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()


def token_lookup_hash(raw) -> str:
    """The token_hash for a token given without its platform (unregister, to-device)."""
    if isinstance(raw, dict) or (isinstance(raw, str) and raw.lstrip().startswith("{")):
        return token_hash(web_subscription_parse(raw)["endpoint"])
    if isinstance(raw, str) and raw.startswith(("https://", "http://")):
        return token_hash(raw)  # a Web Push endpoint alone identifies its subscription
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidToken("must be a non-empty string or a PushSubscription object")
    return token_hash(raw.strip())
