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


def api_key_create(
    *,
    tenant: Tenant,
    name: str = "default",
    expires_at: datetime | None = None,
    scopes: list[str] | tuple[str, ...] | None = None,
) -> IssuedKey:
    """Issue a key; ``scopes`` limits it (``accounts.scopes``; empty: every right).
    Raises DomainError for an unknown scope, and then creates nothing."""
    scopes = api_key_scopes_clean(scopes)
    prefix, plaintext = _new_key_material()
    api_key = ApiKey.objects.create(
        tenant=tenant,
        name=name,
        prefix=prefix,
        digest=api_key_digest(plaintext),
        expires_at=expires_at,
        scopes=scopes,
    )
    return IssuedKey(api_key=api_key, plaintext=plaintext)


def api_key_issue_for(*, api_key: ApiKey) -> str:
    """Give an unsaved ApiKey (from the admin form) fresh key material; returns the key.
    Its scopes are checked as ``api_key_create`` checks them (DomainError)."""
    api_key.scopes = api_key_scopes_clean(api_key.scopes)
    prefix, plaintext = _new_key_material()
    api_key.prefix = prefix
    api_key.digest = api_key_digest(plaintext)
    return plaintext


def api_key_revoke(*, api_key: ApiKey) -> None:
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key_cache_clear()


def api_key_regenerate(*, api_key: ApiKey) -> IssuedKey:
    """Revoke ``api_key`` and issue a replacement with the same name, expiry and scopes."""
    with transaction.atomic():
        api_key_revoke(api_key=api_key)
        return api_key_create(
            tenant=api_key.tenant, name=api_key.name, expires_at=api_key.expires_at, scopes=api_key.scopes
        )
