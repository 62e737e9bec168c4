from __future__ import annotations

import functools
import zoneinfo

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.networks import validate_networks
from softafrik.crypto import EncryptedTextField


@functools.cache
def _time_zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())  # scans the tz database: once


def validate_time_zone(value: str) -> None:
    """An IANA time zone name ("Africa/Lome", "UTC"); raises ValidationError otherwise."""
    if value not in _time_zone_names():
        raise ValidationError(f"{value!r} is not an IANA time zone name (e.g. Africa/Lome, UTC).", code="invalid")


class Tenant(models.Model):
    """A client of the platform. Everything a tenant owns points here."""

    name = models.CharField(max_length=100, unique=True)
    # Region used to read national phone numbers ("90 12 34 56" in Togo), ISO 3166 alpha-2.
    default_region = models.CharField(max_length=2, blank=True, default="")
    # IANA name; the tenant's dates without a time or an offset (ION's MULDESP dateDebut
    # and dateFin) are read in it.
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    is_active = models.BooleanField(default=True)
    # Every status change of the tenant's messages is POSTed here, signed with
    # HMAC-SHA256(callback_secret, body) in X-SoftAfrik-Signature.
    status_callback_url = models.URLField(max_length=500, blank=True, default="")
    callback_secret = EncryptedTextField(blank=True, default="")
    # Shown in the dashboard's header (the admin), next to the tenant's name.
    logo = models.ImageField(upload_to="tenant-logos/", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("tenant")
        verbose_name_plural = _("tenants")

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A person who logs into the admin: a tenant's staff (tenant set) or a platform
    superuser (tenant empty, sees every tenant)."""

    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="staff")


class ApiKey(models.Model):
    """A tenant's API key. Only a digest is stored; the key is shown once at creation.

    The key reads ``sk_<prefix>_<secret>``; ``prefix`` finds the row, the SHA-256
    digest of the whole key proves it (keys carry 240 random bits, so a fast hash is
    enough: there is nothing to brute-force).
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, default="default")
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    # What the key may do (``accounts.scopes``); empty: every right. A key an app ships
    # in its binary carries only "deliveries:confirm".
    scopes = models.JSONField(default=list, blank=True)
    # The networks (CIDRs, IPv4 or IPv6) calls may come from (``accounts.networks``);
    # empty: anywhere.
    allowed_networks = models.JSONField(default=list, blank=True, validators=[validate_networks])
    # Requests a second and a minute (``accounts.ratelimit``); empty: the platform's
    # API_RATE_PER_SECOND / API_RATE_PER_MINUTE; 0: no limit in that window.
    rate_per_second = models.PositiveIntegerField(
        null=True, blank=True, help_text="Requests a second; empty: the platform default; 0: no limit."
    )
    rate_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Requests a minute; empty: the platform default; 0: no limit."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.name} (sk_{self.prefix}_…)"

    @property
    def is_usable(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class IdempotentRequest(models.Model):
    """A sending POST made with an ``Idempotency-Key`` header, and the answer it got
    (``softafrik.idempotency``): the same key and body within the retention answer it
    again, sending nothing."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=255)
    # SHA-256 of the method, the path and the body: the same key with another request is a 422.
    fingerprint = models.CharField(max_length=64)
    # NULL while the first request with this key is still being processed (another one: 409).
    status_code = models.SmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True, default="")
    body = models.BinaryField(default=b"")
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="idempotency_key_per_tenant")]

    def __str__(self) -> str:
        return self.key
