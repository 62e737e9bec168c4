"""Omni scenarios: a flow of channels tried one after the other until a message is
delivered (push first, then an SMS to the same person when no device confirmed in time).

A ``Scenario`` is a tenant's saved flow. An ``OmniMessage`` is one send through a flow
(a saved scenario, or the one-step flow of Delevera's push and SMS products, or the
SoftAfrik to-user fallback), with one ``OmniDestination`` per person and one ``OmniStep``
row per step that ran for that person. A step row is written when the step starts
(unique per destination and index: a step can never run twice); a started step with a
timeout is a timer (``due_at``), dispatched by beat (``scenarios.engine``).
"""

from __future__ import annotations

import secrets
import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Tenant
from devices.models import App, Device, EndUser
from notifications.core.status import DeliveryStatus

KEY_BYTES = 12  # Delevera's keys are 24 hex digits


def new_key() -> str:
    return secrets.token_hex(KEY_BYTES)


class FlowChannel(models.TextChoices):
    PUSH = "push", "Push"
    SMS = "sms", "SMS"


class Scenario(models.Model):
    """A saved flow: ``[{"channel": "push", "from": ..., "appCode": ..., "timeout": 50}, {"channel": "sms", ...}]``."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="scenarios")
    key = models.CharField(max_length=24, unique=True, default=new_key, editable=False)
    name = models.CharField(max_length=200)
    flow = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("scenario")
        verbose_name_plural = _("scenarios")

    def __str__(self) -> str:
        return self.name


class Product(models.TextChoices):
    """The API that accepted an omni message."""

    OMNI = "omni", "Delevera omni"
    PUSH = "push", "Delevera push"
    SMS = "sms", "Delevera SMS"
    SOFTAFRIK = "softafrik", "SoftAfrik to-user fallback"


class OmniState(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"  # its first step starts at start_at (beat)
    RUNNING = "running", "Running"


class OmniMessage(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="omni_messages")
    product = models.CharField(max_length=10, choices=Product.choices)
    scenario = models.ForeignKey(Scenario, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages")
    # The steps as this message runs them, copied at accept: editing or deleting the
    # scenario later changes nothing for a message already sent.
    flow = models.JSONField(default=list)
    app = models.ForeignKey(App, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    platform = models.CharField(max_length=10, blank=True, default="")
    sender = models.CharField(max_length=100, blank=True, default="")  # the message's "from"
    push_content = models.JSONField(default=dict, blank=True)  # {"text", "from", "actions"}
    sms_content = models.JSONField(default=dict, blank=True)  # {"text", "from"}
    state = models.CharField(max_length=10, choices=OmniState.choices, default=OmniState.RUNNING)
    start_at = models.DateTimeField(null=True, blank=True)
    devices_count = models.IntegerField(default=0)
    destinations_count = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("omni message")
        verbose_name_plural = _("omni messages")
        indexes = [
            models.Index(fields=["start_at"], name="omni_message_scheduled", condition=models.Q(state="scheduled"))
        ]

    def __str__(self) -> str:
        return f"{self.product} {self.pk}"


class OmniDestination(models.Model):
    """One person (or device, or bare number) of an omni message, and where it stands:
    its current step, that step's channel, and its state (pending, sent, delivered,
    failed: the core's status names; Delevera shows them as 2, 1, 4, 3)."""

    message = models.ForeignKey(OmniMessage, on_delete=models.CASCADE, related_name="destinations", db_index=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    given = models.JSONField(default=dict, blank=True)  # as the client named it: {"uid": ...}
    end_user = models.ForeignKey(EndUser, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    device = models.ForeignKey(Device, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    phone = models.CharField(max_length=32, blank=True, default="")  # E.164, for SMS steps
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    step = models.SmallIntegerField(default=0)  # index of the current (or last) step
    channel = models.CharField(max_length=10, choices=FlowChannel.choices)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("omni destination")
        verbose_name_plural = _("omni destinations")
        indexes = [models.Index(fields=["message", "id"], name="omni_destination_message")]

    def __str__(self) -> str:
        return f"{self.given} ({self.status})"


class StepState(models.TextChoices):
    STARTED = "started", "Started"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    TIMED_OUT = "timed_out", "Timed out"


class OmniStep(models.Model):
    """One step that ran for one destination: its push or SMS send and how it ended."""

    destination = models.ForeignKey(OmniDestination, on_delete=models.CASCADE, related_name="steps", db_index=False)
    message = models.ForeignKey(OmniMessage, on_delete=models.CASCADE, related_name="+", db_index=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    index = models.SmallIntegerField()
    channel = models.CharField(max_length=10, choices=FlowChannel.choices)
    state = models.CharField(max_length=10, choices=StepState.choices, default=StepState.STARTED)
    # The send this step made: the push message (one per destination), or the SMS send
    # and this destination's number in it. Events find their step by these.
    send_id = models.UUIDField(null=True, blank=True)
    recipient_id = models.BigIntegerField(null=True, blank=True)
    # The step's timer: a started step times out at due_at (NULL: waits for its outcome).
    due_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)  # its send went out (state 1 Sent)
    reason = models.CharField(max_length=300, blank=True, default="")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["destination_id", "index"]
        verbose_name = _("omni step")
        verbose_name_plural = _("omni steps")
        constraints = [models.UniqueConstraint(fields=["destination", "index"], name="omni_step_once")]
        indexes = [
            models.Index(fields=["due_at"], name="omni_step_due", condition=models.Q(state="started")),
            models.Index(fields=["send_id"], name="omni_step_send", condition=models.Q(state="started")),
            models.Index(fields=["message", "channel", "state"], name="omni_step_message"),
        ]

    def __str__(self) -> str:
        return f"step {self.index} {self.channel} ({self.state})"
