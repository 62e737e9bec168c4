"""Webhook endpoints, their deliveries (an outbox row per endpoint and event) and every
attempt at one."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Tenant
from notifications.core.models import OutboxRow
from softafrik.crypto import EncryptedTextField


class EndpointKind(models.TextChoices):
    STANDARD = "standard", "Webhook endpoint"
    # The tenant's status_callback_url: its URL and secret stay on the tenant; this row
    # carries its deliveries, its enabled flag (a 410 disables it) and its attempts.
    LEGACY = "legacy", "Status callback URL (legacy)"


class WebhookEndpoint(models.Model):
    """Where a tenant wants its status events POSTed, signed with ``secret``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="webhook_endpoints")
    kind = models.CharField(max_length=10, choices=EndpointKind.choices, default=EndpointKind.STANDARD)
    url = models.URLField(max_length=500)
    # "whsec_<base64 of 24 random bytes>", shown once at creation. Empty for the legacy
    # endpoint, which signs with the tenant's callback_secret.
    secret = EncryptedTextField(blank=True, default="")
    # The event types it wants (notifications.webhooks.event_types); empty: all of them.
    event_types = models.JSONField(default=list, blank=True)
    is_enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant"], condition=models.Q(kind="legacy"), name="webhook_one_legacy_endpoint_per_tenant"
            )
        ]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(OutboxRow):
    """One event for one endpoint. Its body and ``message_id`` (the ``webhook-id``) are
    fixed when the event is consumed, so every attempt sends the same signed message;
    ``attempts`` counts the attempts made, ``next_attempt_at`` is the next one's time."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    # The status event's id: events are purged after their retention, deliveries are not.
    event_id = models.BigIntegerField()
    event_type = models.CharField(max_length=40)
    # The same for every endpoint of one event, and across retries and replays.
    message_id = models.UUIDField()
    payload = models.TextField(help_text="The exact JSON body every attempt sends and signs")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(OutboxRow.Meta):
        ordering = ["-id"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [models.UniqueConstraint(fields=["endpoint", "event_id"], name="webhook_delivery_once")]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint_id} ({self.status})"

    @property
    def webhook_id(self) -> str:
        return webhook_id(self.message_id)


def webhook_id(message_id: uuid.UUID) -> str:
    return f"msg_{message_id.hex}"


class WebhookAttempt(models.Model):
    """One POST of one delivery: what the receiver answered, or why nothing came back."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_rows")
    number = models.SmallIntegerField(help_text="1 for the first attempt")
    at = models.DateTimeField()
    url = models.CharField(max_length=500)
    status_code = models.SmallIntegerField(null=True, blank=True)
    response = models.CharField(max_length=300, blank=True, default="", help_text="The body's first characters")
    error = models.CharField(max_length=300, blank=True, default="")
    duration_ms = models.IntegerField(default=0)

    class Meta:
        ordering = ["id"]
        verbose_name = _("attempt")
        verbose_name_plural = _("attempts")

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.status_code or self.error}"
