"""The core's tables: the abstract outbox row every channel's recipients extend, the
status events, and the cursors of the events' consumers."""

from __future__ import annotations

from django.db import models

from notifications.core.status import DeliveryStatus


class OutboxRow(models.Model):
    """One recipient of one send on some channel: a unit of work with a status.

    A worker claims pending rows (``notifications.core.claims``): status becomes
    'sending' with a fresh ``claim`` id, so a redelivered task never acts on one twice;
    a worker that dies leaves its rows 'sending' until ``claimed_at`` is older than the
    channel's lease. ``next_attempt_at`` is the row's timer (first send, scheduled date,
    retry): beat dispatches what is due, nothing waits in a broker.
    """

    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    error = models.CharField(max_length=300, blank=True, default="")
    attempts = models.SmallIntegerField(default=0)
    # When a pending row is due; NULL: not released yet (a spread campaign's turn).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claim = models.UUIDField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        # Partial: only the rows a sweeper looks for, so a status change of a row that
        # is neither pending nor sending costs no entry here.
        indexes = [
            models.Index(
                fields=["next_attempt_at"], name="%(app_label)s_%(class)s_due", condition=models.Q(status="pending")
            ),
            models.Index(
                fields=["claimed_at"], name="%(app_label)s_%(class)s_lease", condition=models.Q(status="sending")
            ),
        ]


class Channel(models.TextChoices):
    PUSH = "push", "Push"
    SMS = "sms", "SMS"
    OMNI = "omni", "Omni (scenario steps)"
    # An account's events (billing.alerts: account.balance_low): no recipient row, the
    # event carries its data (see notifications.webhooks.channels).
    ACCOUNT = "account", "Account (billing)"


class StatusEvent(models.Model):
    """One status change of one recipient of one send, written in the transaction of the
    change. Webhooks, scenarios, billing and reports read these, never each other's
    tables (``notifications.core.events``)."""

    # On PostgreSQL the id of the writing transaction (a database default), so consumers
    # read in commit-safe order: a lower id can commit after a higher one, a transaction
    # id below the oldest running one cannot (see events.events_consume). 0 on SQLite,
    # whose single writer commits in id order.
    txid = models.BigIntegerField(db_default=0, editable=False)
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    # "<channel>.<subject>.<status>": push.delivery.sent, sms.recipient.failed, ...; an
    # account's events are "account.<what>" (account.balance_low).
    type = models.CharField(max_length=40)
    send_id = models.UUIDField(help_text="The send: push message id, SMS ref")
    recipient_id = models.BigIntegerField(help_text="The channel's recipient row: push delivery, SMS number")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices)
    reason = models.CharField(max_length=300, blank=True, default="")
    occurred_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["txid", "id"], name="status_event_commit_order")]

    def __str__(self) -> str:
        return f"{self.type} {self.recipient_id}"


class EventCursor(models.Model):
    """How far one consumer of status events has got: the (txid, id) of its last event."""

    consumer = models.CharField(max_length=50, primary_key=True)
    txid = models.BigIntegerField(default=0)
    event_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.consumer} at {self.event_id}"
