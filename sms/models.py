from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Tenant
from notifications.core.models import OutboxRow
from softafrik.crypto import EncryptedTextField


class SenderStatus(models.TextChoices):
    PENDING = "pending", "Awaiting approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class SenderName(models.Model):
    """A sender id a tenant may use once a platform admin approved it."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="sms_senders")
    name = models.CharField(max_length=16)
    status = models.CharField(max_length=10, choices=SenderStatus.choices, default=SenderStatus.PENDING)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("sender name")
        verbose_name_plural = _("sender names")
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="sender_unique_per_tenant")]

    def __str__(self) -> str:
        return self.name


class RouteKind(models.TextChoices):
    SMPP = "smpp", "SMPP"
    AFRICASTALKING = "africastalking", "Africa's Talking"
    TWILIO = "twilio", "Twilio"
    LOG = "log", "Log (development)"


class SmsRoute(models.Model):
    """A way out to operators, shared by all tenants. A destination takes the active
    routes whose countries include it (empty: any country), lowest priority first; when
    one fails or is down the next takes over."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=RouteKind.choices)
    countries = models.CharField(max_length=500, blank=True, default="", help_text="ISO codes, e.g. TG,CI; empty: all")
    priority = models.IntegerField(default=100, help_text="Lower goes first")
    is_active = models.BooleanField(default=True)
    # SMPP: host/port/system_id + secret (password). Africa's Talking: username + secret
    # (API key). Twilio: username (account SID) + secret (auth token). base_url overrides
    # the HTTP provider's endpoint.
    host = models.CharField(max_length=200, blank=True, default="")
    port = models.IntegerField(null=True, blank=True)
    system_id = models.CharField(max_length=100, blank=True, default="")
    username = models.CharField(max_length=100, blank=True, default="")
    base_url = models.CharField(max_length=300, blank=True, default="")
    secret = EncryptedTextField(blank=True, default="")
    tps = models.FloatField(null=True, blank=True, help_text="Parts per second; empty: unlimited")
    window = models.IntegerField(default=10, help_text="SMPP: outstanding submits")
    # Part of the delivery-receipt callback URL, so a provider's callback proves which route it is.
    callback_token = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "id"]
        verbose_name = _("SMS route")
        verbose_name_plural = _("SMS routes")

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def country_list(self) -> list[str]:
        return [c.strip().upper() for c in self.countries.split(",") if c.strip()]


class SmsKind(models.TextChoices):
    SINGLE = "single", "Single"
    BULK = "bulk", "Bulk"
    CAMPAIGN = "campaign", "Spread campaign"


class SmsState(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    ACTIVE = "active", "Sending"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


class SmsMessage(models.Model):
    """One SMS send as an API accepted it (a single SMS, a bulk, a spread campaign)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="sms_messages")
    dialect = models.CharField(max_length=20)
    kind = models.CharField(max_length=10, choices=SmsKind.choices)
    sender = models.CharField(max_length=16)
    text = models.TextField()
    encoding = models.CharField(max_length=5)
    parts = models.SmallIntegerField(help_text="Parts per recipient")
    campaign_name = models.CharField(max_length=200, blank=True, default="", db_index=True)
    category = models.CharField(max_length=100, blank=True, default="")
    state = models.CharField(max_length=10, choices=SmsState.choices, default=SmsState.ACTIVE)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    # Spread campaign (ION MULDESP): between window_start and window_end, at most per_day
    # messages a day, a batch every interval_minutes. Beat releases the batches.
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    per_day = models.IntegerField(null=True, blank=True)
    interval_minutes = models.IntegerField(null=True, blank=True)
    next_batch_at = models.DateTimeField(null=True, blank=True)
    released_day = models.DateField(null=True, blank=True)
    released_today = models.IntegerField(default=0)
    total_recipients = models.IntegerField(default=0)
    credits = models.IntegerField(default=0, help_text="Parts charged: parts x accepted recipients")
    # What the send reserved, in minor units of the tenant's account unit (billing).
    amount = models.BigIntegerField(default=0)
    # A spread campaign whose next batch the balance could not pay: beat tries again.
    suspended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("SMS send")
        verbose_name_plural = _("SMS sends")
        indexes = [
            models.Index(fields=["next_batch_at"], name="sms_campaign_due", condition=models.Q(state="active")),
            models.Index(fields=["tenant", "category"], name="sms_tenant_category"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk}"


class SmsRecipient(OutboxRow):
    """One number of a send: the SMS channel's outbox row (status, claim, timers:
    ``notifications.core.models.OutboxRow``). ``next_attempt_at`` is NULL while a spread
    campaign has not released the number yet."""

    # No index of its own: (message, status) below leads with it. Every status change
    # writes an entry into each index of this table, so each one costs on the hot path.
    message = models.ForeignKey(SmsMessage, on_delete=models.CASCADE, related_name="recipients", db_index=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    number = models.CharField(max_length=32)
    parts = models.SmallIntegerField(default=1)
    parts_delivered = models.SmallIntegerField(default=0)
    # The amount reserved for this number (billing): settled when the network takes it,
    # released if it never leaves. 0 until a spread campaign releases (and pays) its batch.
    price = models.BigIntegerField(default=0)
    route = models.ForeignKey(SmsRoute, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta(OutboxRow.Meta):
        ordering = ["id"]
        verbose_name = _("SMS recipient")
        verbose_name_plural = _("SMS recipients")
        indexes = [
            *OutboxRow.Meta.indexes,
            models.Index(fields=["message", "status"], name="sms_recipient_message_status"),
        ]

    def __str__(self) -> str:
        return f"{self.number} ({self.status})"


class SmsProviderId(models.Model):
    """The provider's id for one submitted part: how a delivery receipt finds its recipient."""

    # (route, provider_message_id) is unique: that index serves lookups by route too.
    route = models.ForeignKey(SmsRoute, on_delete=models.CASCADE, related_name="+", db_index=False)
    provider_message_id = models.CharField(max_length=100)
    recipient = models.ForeignKey(SmsRecipient, on_delete=models.CASCADE, related_name="provider_ids")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["route", "provider_message_id"], name="sms_provider_id_unique_per_route")
        ]

    def __str__(self) -> str:
        return self.provider_message_id


class SmsReceipt(models.Model):
    """Every delivery receipt as it arrived; applied to its recipient once matched (a
    receipt can beat the write of its submit's id, so unmatched ones wait here)."""

    # sms_receipt_lookup (route, provider_message_id) serves lookups by route too.
    route = models.ForeignKey(SmsRoute, on_delete=models.CASCADE, related_name="+", db_index=False)
    provider_message_id = models.CharField(max_length=100)
    state = models.CharField(max_length=10)
    error = models.CharField(max_length=100, blank=True, default="")
    applied = models.BooleanField(default=False)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["route", "provider_message_id"], name="sms_receipt_lookup"),
            models.Index(fields=["received_at"], name="sms_receipt_unapplied", condition=models.Q(applied=False)),
        ]

    def __str__(self) -> str:
        return f"{self.provider_message_id}: {self.state}"


class BlacklistedNumber(models.Model):
    """A number that must never receive this tenant's SMS (an opt-out)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="sms_blacklist")
    number = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("blacklisted number")
        verbose_name_plural = _("blacklisted numbers")
        constraints = [models.UniqueConstraint(fields=["tenant", "number"], name="blacklist_unique_per_tenant")]

    def __str__(self) -> str:
        return self.number
