"""Reads for tenants and API keys, including the request hot path: key -> tenant."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from accounts.models import ApiKey, Tenant

LAST_USED_RESOLUTION = timedelta(minutes=5)  # write last_used_at at most this often

_cache: dict[str, tuple[float, ApiKey]] = {}
_cache_lock = threading.Lock()


def api_key_cache_clear() -> None:
    with _cache_lock:
        _cache.clear()


def api_key_authenticate(*, plaintext: str) -> ApiKey | None:
    """The usable key ``plaintext`` names (with its tenant and its ``scopes`` loaded:
    the scope check of every request reads them from here, without a query), or None.

    A hit is cached in-process for API_KEY_CACHE_SECONDS: revocation, expiry, or a new
    list of networks or rate limits in another process takes effect within that time
    (immediately in this one). A key's scopes are fixed when it is issued (to change
    them, issue another key). ``last_used_at`` is written only here, on a cache miss, and
    at most once per LAST_USED_RESOLUTION: never a write per request.
    """
    if not plaintext.startswith("sk_") or plaintext.count("_") < 2:
        return None
    digest = hashlib.sha256(plaintext.encode()).hexdigest()
    now = time.monotonic()
    cached = _cache.get(digest)
    if cached is not None and now - cached[0] < settings.API_KEY_CACHE_SECONDS:
        api_key = cached[1]
        return api_key if api_key.is_usable else None
    prefix = plaintext[3:].split("_", 1)[0]
    api_key = ApiKey.objects.select_related("tenant").filter(prefix=prefix).first()
    if api_key is None or not hmac.compare_digest(api_key.digest, digest):
        return None
    if not api_key.is_usable or not api_key.tenant.is_active:
        return None
    stamp = timezone.now()
    if api_key.last_used_at is None or stamp - api_key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=stamp)
        api_key.last_used_at = stamp
    with _cache_lock:
        _cache[digest] = (now, api_key)
    return api_key


def tenant_get_by_name(*, name: str) -> Tenant | None:
    return Tenant.objects.filter(name=name).first()
