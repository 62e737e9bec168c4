"""State changes for tenants and their API keys."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey, Tenant, validate_time_zone
from accounts.networks import networks_clean
from accounts.scopes import UnknownScope, scopes_validate
from accounts.selectors import api_key_cache_clear
from softafrik.errors import DomainError

KEY_PREFIX_BYTES = 6  # 8 url-safe characters: unique lookup handle, not a secret
KEY_SECRET_BYTES = 30  # 240 random bits


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    plaintext: str  # shown once, never stored


def api_key_digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _new_key_material() -> tuple[str, str]:
    prefix = secrets.token_urlsafe(KEY_PREFIX_BYTES).replace("_", "x").replace("-", "y")
    return prefix, f"sk_{prefix}_{secrets.token_urlsafe(KEY_SECRET_BYTES)}"


def tenant_create(*, name: str, default_region: str = "", time_zone: str = "UTC") -> tuple[Tenant, IssuedKey]:
    """Create a tenant with its first API key. Raises DomainError if the name is taken or
    the time zone is not an IANA name."""
    name = name.strip()
    if not name:
        raise DomainError("A tenant needs a name.", field="name")
    try:
        validate_time_zone(time_zone)
    except ValidationError as exc:
        raise DomainError(exc.messages[0], field="timezone") from exc
    with transaction.atomic():
        if Tenant.objects.filter(name=name).exists():
            raise DomainError(f"A tenant named {name!r} already exists.", field="name")
        tenant = Tenant.objects.create(name=name, default_region=default_region.upper(), timezone=time_zone)
        issued = api_key_create(tenant=tenant, name="default")
    return tenant, issued


def api_key_scopes_clean(scopes: list[str] | tuple[str, ...] | None) -> list[str]:
    """The scope names a key is limited to ([]: every right); raises DomainError naming
    an unknown one (field ``scopes``)."""
    try:
        return scopes_validate(scopes or ())
    except UnknownScope as exc:
        raise DomainError(str(exc), field="scopes") from exc


def api_key_networks_clean(networks: list[str] | tuple[str, ...] | None) -> list[str]:
    """The CIDRs a key is limited to, normalized ([]: anywhere); raises DomainError
    naming the first invalid one (field ``allowed_networks``)."""
    try:
        return networks_clean(networks or ())
    except ValueError as exc:
        raise DomainError(str(exc), field="allowed_networks") from exc


def api_key_rate_clean(value: int | None, *, field: str) -> int | None:
    """A per-key rate limit: None (the platform's), 0 (none) or a positive count."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise DomainError("A rate limit is a whole number of requests, 0 (no limit) or empty.", field=field)
    return value


def api_key_create(
    *,
    tenant: Tenant,
    name: str = "default",
    expires_at: datetime | None = None,
    scopes: list[str] | tuple[str, ...] | None = None,
    allowed_networks: list[str] | tuple[str, ...] | None = None,
    rate_per_second: int | None = None,
    rate_per_minute: int | None = None,
) -> IssuedKey:
    """Issue a key; ``scopes`` limits what it may call (``accounts.scopes``; empty: every
    right), ``allowed_networks`` where from (``accounts.networks``; empty: anywhere), the
    rates how often (``accounts.ratelimit``; None: the platform's). Raises DomainError
    for an unknown scope, an invalid network or rate, and then creates nothing."""
    scopes = api_key_scopes_clean(scopes)
    allowed_networks = api_key_networks_clean(allowed_networks)
    rate_per_second = api_key_rate_clean(rate_per_second, field="rate_per_second")
    rate_per_minute = api_key_rate_clean(rate_per_minute, field="rate_per_minute")
    prefix, plaintext = _new_key_material()
    api_key = ApiKey.objects.create(
        tenant=tenant,
        name=name,
        prefix=prefix,
        digest=api_key_digest(plaintext),
        expires_at=expires_at,
        scopes=scopes,
        allowed_networks=allowed_networks,
        rate_per_second=rate_per_second,
        rate_per_minute=rate_per_minute,
    )
    return IssuedKey(api_key=api_key, plaintext=plaintext)


def api_key_issue_for(*, api_key: ApiKey) -> str:
    """Give an unsaved ApiKey (from the admin form) fresh key material; returns the key.
    Its scopes and networks are checked as ``api_key_create`` checks them (DomainError)."""
    api_key.scopes = api_key_scopes_clean(api_key.scopes)
    api_key.allowed_networks = api_key_networks_clean(api_key.allowed_networks)
    prefix, plaintext = _new_key_material()
    api_key.prefix = prefix
    api_key.digest = api_key_digest(plaintext)
    return plaintext


def api_key_revoke(*, api_key: ApiKey) -> None:
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key_cache_clear()


def api_key_regenerate(*, api_key: ApiKey) -> IssuedKey:
    """Revoke ``api_key`` (the old secret stops working) and issue a replacement with the
    same name, expiry, scopes, networks and rate limits."""
    with transaction.atomic():
        api_key_revoke(api_key=api_key)
        return api_key_create(
            tenant=api_key.tenant,
            name=api_key.name,
            expires_at=api_key.expires_at,
            scopes=api_key.scopes,
            allowed_networks=api_key.allowed_networks,
            rate_per_second=api_key.rate_per_second,
            rate_per_minute=api_key.rate_per_minute,
        )
