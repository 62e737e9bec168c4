"""Reads of a tenant's webhook endpoints, always scoped by tenant."""

from __future__ import annotations

import uuid

from accounts.models import Tenant
from notifications.webhooks.models import EndpointKind, WebhookEndpoint
from softafrik.errors import NotFound


def endpoint_list(*, tenant: Tenant) -> list[WebhookEndpoint]:
    """The tenant's API-managed endpoints (its legacy callback URL is set on the tenant)."""
    return list(WebhookEndpoint.objects.filter(tenant=tenant, kind=EndpointKind.STANDARD).order_by("created_at"))


def endpoint_get(*, tenant: Tenant, endpoint_id: str) -> WebhookEndpoint:
    """Raises NotFound for an unknown id, a malformed one, or another tenant's."""
    try:
        pk = uuid.UUID(endpoint_id)
    except (ValueError, TypeError, AttributeError):
        raise NotFound("No such webhook endpoint.", field="id") from None
    endpoint = WebhookEndpoint.objects.filter(tenant=tenant, kind=EndpointKind.STANDARD, pk=pk).first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint.", field="id")
    return endpoint
