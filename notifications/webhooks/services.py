"""Changes to webhook endpoints and deliveries (the API and the admin both call these).

Consuming events and sending deliveries are services too, in ``consumer`` and
``delivery``: each module does one job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Tenant
from notifications.core.status import DeliveryStatus
from notifications.webhooks.event_types import EVENT_TYPES
from notifications.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from notifications.webhooks.signing import secret_generate
from notifications.webhooks.ssrf import url_refusal
from softafrik.errors import DomainError

REPLAYABLE = (DeliveryStatus.SENT, DeliveryStatus.FAILED)


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown this once


def endpoint_url_check(*, url: str) -> None:
    """Raises DomainError (field ``url``) for a URL webhooks may not reach (the SSRF rule)."""
    refusal = url_refusal(url)
    if refusal:
        raise DomainError(refusal, field="url", code="invalid")


def event_types_check(*, event_types: list[str]) -> list[str]:
    unknown = [name for name in event_types if name not in EVENT_TYPES]
    if unknown:
        raise DomainError(
            f"Unknown event type {unknown[0]!r}; known: {', '.join(EVENT_TYPES)}.", field="events", code="invalid"
        )
    return list(dict.fromkeys(event_types))


def endpoint_create(*, tenant: Tenant, url: str, event_types: list[str] | None = None) -> CreatedEndpoint:
    """A new enabled endpoint with a fresh secret; ``event_types`` empty or None: all.
    Raises DomainError naming ``url`` or ``events``; creates nothing then."""
    endpoint_url_check(url=url)
    types = event_types_check(event_types=event_types or [])
    secret = secret_generate()
    endpoint = WebhookEndpoint.objects.create(tenant=tenant, url=url, secret=secret, event_types=types)
    return CreatedEndpoint(endpoint=endpoint, secret=secret)


def endpoint_secret_issue(*, endpoint: WebhookEndpoint) -> str:
    """Give an endpoint being created in the admin its secret; returns it (shown once)."""
    endpoint.secret = secret_generate()
    return endpoint.secret


def endpoint_secret_rotate(*, endpoint: WebhookEndpoint) -> str:
    """A new signing secret for an endpoint, saved at once; returns it (shown once). Its
    receiver must take the new one: deliveries from now on are signed with it."""
    secret = secret_generate()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(secret=secret)
    endpoint.secret = secret
    return secret


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Remove an endpoint with its deliveries, sent or waiting (the caller found it
    through a tenant-scoped selector)."""
    endpoint.delete()


def endpoints_enable(*, endpoints: QuerySet[WebhookEndpoint]) -> int:
    return endpoints.filter(is_enabled=False).update(is_enabled=True, disabled_reason="", updated_at=timezone.now())


def deliveries_replay(*, deliveries: QuerySet[WebhookDelivery]) -> tuple[int, int]:
    """Send finished deliveries (failed, or sent) again, as they were (same webhook-id
    and body), on a fresh retry schedule. Deliveries of a disabled endpoint are left as
    they are. Returns (replayed, skipped)."""
    with transaction.atomic():
        candidates = deliveries.filter(status__in=REPLAYABLE)
        skipped = candidates.filter(endpoint__is_enabled=False).count()
        replayed = WebhookDelivery.objects.filter(
            pk__in=candidates.filter(endpoint__is_enabled=True).values("pk")
        ).update(
            status=DeliveryStatus.PENDING,
            attempts=0,
            error="",
            next_attempt_at=timezone.now(),
            claim=None,
            updated_at=timezone.now(),
        )
    return replayed, skipped


PURGE_BATCH = 5000  # deliveries (with their attempts) one DELETE removes
PURGE_MAX_BATCHES = 100  # per beat run; the next run goes on


def deliveries_purge(*, older_than: timedelta | None = None) -> int:
    """Delete finished deliveries (and their attempts) untouched for WEBHOOK_RETENTION_DAYS,
    in bounded batches. Returns how many deliveries."""
    cutoff = timezone.now() - (older_than or timedelta(days=settings.WEBHOOK_RETENTION_DAYS))
    old = WebhookDelivery.objects.filter(status__in=REPLAYABLE, updated_at__lt=cutoff)
    total = 0
    for _ in range(PURGE_MAX_BATCHES):
        ids = list(old.order_by("id").values_list("id", flat=True)[:PURGE_BATCH])
        if not ids:
            break
        WebhookAttempt.objects.filter(delivery_id__in=ids).delete()
        total += WebhookDelivery.objects.filter(pk__in=ids).delete()[0]
        if len(ids) < PURGE_BATCH:
            break
    return total
