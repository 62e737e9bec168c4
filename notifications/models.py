from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Tenant
from devices.models import App, Device, EndUser
from notifications.core.models import OutboxRow
from notifications.core.status import DeliveryStatus

__all__ = ["Delivery", "DeliveryStatus", "InboxEntry", "Message", "MessageKind", "MessageState"]


class MessageKind(models.TextChoices):
    TO_USER = "to_user", "To a user"
    TO_DEVICE = "to_device", "To a device"
    BROADCAST = "broadcast", "Broadcast"


class MessageState(models.TextChoices):
    QUEUED = "queued", "Queued"  # accepted, fan-out not finished
    DISPATCHED = "dispatched", "Dispatched"  # every delivery row exists


class Message(models.Model):
    """One push send as the API accepted it; its deliveries say what happened per device."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="push_messages")
    kind = models.CharField(max_length=12, choices=MessageKind.choices)
    app = models.ForeignKey(App, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    end_user = models.ForeignKey(EndUser, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    device = models.ForeignKey(Device, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Broadcast filters: {"country": "TG", "platform": "android"}.
    filters = models.JSONField(default=dict, blank=True)
    title = models.CharField(max_length=500)
    body = models.TextField()
    data = models.JSONField(default=dict, blank=True)
    # How the push is shown (``notifications.push.providers.base.PushMessage``):
    # {"data_only": true, "badge": 3, "sound": "ping.caf", "image": "https://..."}.
    options = models.JSONField(default=dict, blank=True)
    # A to-user push narrowed to one platform of its app (an omni push step); empty: any.
    platform = models.CharField(max_length=10, blank=True, default="")
    state = models.CharField(max_length=12, choices=MessageState.choices, default=MessageState.QUEUED)
    # Fan-out resumes after this device id if its worker dies mid-way.
    fanout_cursor = models.BigIntegerField(default=0)
    # A worker's claim on the fan-out; a claim older than the lease is taken over.
    claim = models.UUIDField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    total_deliveries = models.IntegerField(default=0)
    # Billing: the price of one delivery, and how many deliveries the accepted send paid
    # for (NULL: unpriced, no cap). The fan-out writes at most that many.
    unit_price = models.BigIntegerField(default=0)
    paid_deliveries = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("push message")
        verbose_name_plural = _("push messages")
        indexes = [
            models.Index(fields=["created_at"], name="message_queued", condition=models.Q(state="queued")),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.title[:40]}"


class Delivery(OutboxRow):
    """One message to one device: the push channel's outbox row (status, claim, timers:
    ``notifications.core.models.OutboxRow``)."""

    # No index of its own: delivery_once_per_device (message, device) leads with it, and
    # every delivery row is written three times (fan-out, claim, result).
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="deliveries")
    provider_message_id = models.CharField(max_length=200, blank=True, default="")

    class Meta(OutboxRow.Meta):
        ordering = ["id"]
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [models.UniqueConstraint(fields=["message", "device"], name="delivery_once_per_device")]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.status})"


class InboxEntry(models.Model):
    """What a user's inbox keeps: every message sent to the user, phone on or off."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    # No index of its own: inbox_user_newest (end_user, -id) leads with it.
    end_user = models.ForeignKey(EndUser, on_delete=models.CASCADE, related_name="inbox", db_index=False)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    title = models.CharField(max_length=500)
    body = models.TextField()
    data = models.JSONField(default=dict, blank=True)
    is_read = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("inbox entry")
        verbose_name_plural = _("inbox entries")
        # Newest-first pages for one user: an index range scan, whatever the table size.
        indexes = [models.Index(fields=["end_user", "-id"], name="inbox_user_newest")]

    def __str__(self) -> str:
        return self.title
