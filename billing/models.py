"""The money side: one account per tenant, a double-entry ledger, tariffs, invoices.

Every amount is an integer of the account unit's minor unit (``billing.money``).

The ledger keeps four books per account, and every transfer moves an amount from one
book to another (two entries summing to zero, so the four books always sum to zero):

- ``available``: what the tenant may still spend (prepaid: its balance; postpaid: minus
  what it owes, bounded by its credit limit);
- ``reserved``: the price of sends accepted but not yet handed to the network;
- ``spent``: what the network took (settled), lifetime;
- ``external``: money in and out of the platform (top-ups, trial credit, payments of
  invoices, adjustments), lifetime, negative.

A send reserves (available -> reserved) when accepted, then each recipient settles
(reserved -> spent) when handed to the network or is released (reserved -> available)
when it never left the platform. The account row caches each book's balance; the sum of
a book's entries always equals it.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Tenant


class AccountType(models.TextChoices):
    PREPAID = "prepaid", "Prepaid"
    POSTPAID = "postpaid", "Postpaid"


class Book(models.TextChoices):
    AVAILABLE = "available", "Available"
    RESERVED = "reserved", "Reserved"
    SPENT = "spent", "Spent"
    EXTERNAL = "external", "External"


class EntryKind(models.TextChoices):
    RESERVE = "reserve", "Reservation of a send"
    SETTLE = "settle", "Settled: handed to the network"
    RELEASE = "release", "Released: never left the platform"
    TOPUP = "topup", "Top-up"
    TRIAL = "trial", "Trial credit"
    ADJUSTMENT = "adjustment", "Adjustment"
    PAYMENT = "payment", "Invoice paid"


class BillingAccount(models.Model):
    """A tenant's account; its balance columns cache the ledger's books."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="billing_account")
    type = models.CharField(max_length=10, choices=AccountType.choices, default=AccountType.PREPAID)
    unit = models.CharField(max_length=10, default="credits", help_text='"credits" or an ISO 4217 code (XOF, EUR...)')
    # The books, in minor units (see the module docstring).
    balance = models.BigIntegerField(default=0, help_text="Available: prepaid balance, postpaid minus what is owed")
    reserved = models.BigIntegerField(default=0)
    spent = models.BigIntegerField(default=0)
    external = models.BigIntegerField(default=0)
    # Postpaid: how far below zero the balance may go; empty: no limit.
    credit_limit = models.BigIntegerField(null=True, blank=True)
    low_balance_threshold = models.BigIntegerField(default=0)
    # Set when the balance crossed below the threshold (one alert per crossing); cleared
    # when a top-up lifts it back above.
    low_balance_alerted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant_id"]
        verbose_name = _("billing account")
        verbose_name_plural = _("billing accounts")

    def __str__(self) -> str:
        return f"{self.tenant} ({self.type}, {self.unit})"


class LedgerEntry(models.Model):
    """One leg of one transfer: immutable. ``balance_after`` is its book's balance on the
    account once it was written."""

    account = models.ForeignKey(BillingAccount, on_delete=models.CASCADE, related_name="entries", db_index=False)
    transfer = models.UUIDField(default=uuid.uuid4, help_text="The two legs of one transfer share it")
    book = models.CharField(max_length=10, choices=Book.choices)
    kind = models.CharField(max_length=10, choices=EntryKind.choices)
    amount = models.BigIntegerField()
    balance_after = models.BigIntegerField()
    # What caused it: "sms:<send id>", "push:<message id>", "topup:<id>", "invoice:<id>"...
    reference = models.CharField(max_length=120)
    quantity = models.IntegerField(default=0, help_text="Numbers, parts or deliveries it covers")
    note = models.CharField(max_length=300, blank=True, default="")
    # No index of its own (nor on created_at): every index entry costs on the accept path,
    # and entries are read per account by id.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        indexes = [
            models.Index(fields=["account", "id"], name="ledger_account_id"),
            # What a send reserved, found by its reference (one leg per reservation).
            models.Index(
                fields=["account", "reference"],
                condition=models.Q(kind="reserve", book="reserved"),
                name="ledger_reservation",
            ),
        ]
        constraints = [
            # Money from outside comes in once per reference (a retried command, a payment
            # provider's id, an invoice). A reservation is once per send by the send's own
            # primary key, written in the same transaction; settlements and releases once
            # per recipient by Charge.
            models.UniqueConstraint(
                fields=["account", "book", "kind", "reference"],
                condition=models.Q(kind__in=["topup", "trial", "payment"]),
                name="ledger_once_per_reference",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.book} {self.amount}"


class Charge(models.Model):
    """A recipient's settlement or release, once: its (channel, recipient) is the
    reference that makes a repeated status event harmless."""

    channel = models.CharField(max_length=10)
    recipient_id = models.BigIntegerField()
    account = models.ForeignKey(BillingAccount, on_delete=models.CASCADE, related_name="+", db_index=False)
    send_id = models.UUIDField()
    settled = models.BooleanField(help_text="True: handed to the network and charged; False: released")
    amount = models.BigIntegerField()
    quantity = models.IntegerField(default=1, help_text="SMS parts; 1 for a push")
    # What an invoice line groups by: the destination's country, the SMS sender or push app.
    country = models.CharField(max_length=2, blank=True, default="")
    sender = models.CharField(max_length=100, blank=True, default="")
    at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "recipient_id"], name="charge_once_per_recipient")]
        indexes = [models.Index(fields=["account", "at"], name="charge_account_at")]

    def __str__(self) -> str:
        return f"{self.channel}:{self.recipient_id}"


class TariffChannel(models.TextChoices):
    SMS = "sms", "SMS (per part)"
    PUSH = "push", "Push (per delivery)"


class Tariff(models.Model):
    """A price: the platform's (no tenant) or a tenant's own. SMS prices are per part by
    destination prefix (E.164 digits without "+"; the longest matching prefix wins; an
    empty prefix is the default); push prices are per delivery handed to FCM, APNs or a
    Web Push service. A tenant's prices win over the platform's for its destinations."""

    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="tariffs")
    channel = models.CharField(max_length=10, choices=TariffChannel.choices)
    unit = models.CharField(max_length=10, default="credits")
    prefix = models.CharField(
        max_length=15, blank=True, default="", help_text='E.164 digits: "228", "22890"; empty: any'
    )
    price = models.BigIntegerField(help_text="Minor units of the unit")
    label = models.CharField(max_length=100, blank=True, default="", help_text='"Togo", "Togocel"...')
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["channel", "unit", "prefix"]
        verbose_name = _("tariff")
        verbose_name_plural = _("tariffs")
        # One price per (tenant, channel, unit, prefix) and one platform price (tenant
        # NULL) per (channel, unit, prefix): two partial constraints rather than
        # nulls_distinct=False, which SQLite does not support.
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "channel", "unit", "prefix"],
                condition=models.Q(tenant__isnull=False),
                name="tariff_unique",
            ),
            models.UniqueConstraint(
                fields=["channel", "unit", "prefix"],
                condition=models.Q(tenant__isnull=True),
                name="tariff_unique_platform",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.prefix or '*'} {self.price} {self.unit}"


class AccountChange(models.Model):
    """The audit trail: every change to an account (type, unit, limits, top-up,
    adjustment, payment), with who and why."""

    account = models.ForeignKey(BillingAccount, on_delete=models.CASCADE, related_name="changes")
    field = models.CharField(max_length=30)
    old_value = models.CharField(max_length=100, blank=True, default="")
    new_value = models.CharField(max_length=100, blank=True, default="")
    reason = models.CharField(max_length=300, blank=True, default="")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    via = models.CharField(max_length=20, default="admin", help_text="admin, command, api, system")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("account change")
        verbose_name_plural = _("account changes")

    def __str__(self) -> str:
        return f"{self.field}: {self.old_value} -> {self.new_value}"


class SwitchStatus(models.TextChoices):
    PENDING = "pending", "Awaiting decision"
    APPROVED = "approved", "Approved"
    REFUSED = "refused", "Refused"


class SwitchRequest(models.Model):
    """A tenant's staff asks to switch its account type; a platform admin decides."""

    account = models.ForeignKey(BillingAccount, on_delete=models.CASCADE, related_name="switch_requests")
    requested_type = models.CharField(max_length=10, choices=AccountType.choices)
    reason = models.CharField(max_length=300, blank=True, default="")
    status = models.CharField(max_length=10, choices=SwitchStatus.choices, default=SwitchStatus.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("switch request")
        verbose_name_plural = _("switch requests")
        constraints = [
            models.UniqueConstraint(
                fields=["account"], condition=models.Q(status="pending"), name="switch_request_one_pending"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account} -> {self.requested_type} ({self.status})"


class InvoiceStatus(models.TextChoices):
    DUE = "due", "Due"
    PAID = "paid", "Paid"
    STATEMENT = "statement", "Statement (prepaid, nothing due)"


class Invoice(models.Model):
    """A month closed for one account: postpaid, an amount due; prepaid, a statement."""

    account = models.ForeignKey(BillingAccount, on_delete=models.CASCADE, related_name="invoices")
    number = models.CharField(max_length=40, unique=True)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    unit = models.CharField(max_length=10)
    total = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=InvoiceStatus.choices)
    pdf = models.BinaryField(editable=False)
    csv = models.TextField(editable=False)
    paid_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-period_start"]
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        constraints = [models.UniqueConstraint(fields=["account", "period_start"], name="invoice_once_per_period")]

    def __str__(self) -> str:
        return self.number


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    channel = models.CharField(max_length=10)
    country = models.CharField(max_length=2, blank=True, default="")
    sender = models.CharField(max_length=100, blank=True, default="", help_text="SMS sender or push app")
    quantity = models.IntegerField()
    amount = models.BigIntegerField()

    class Meta:
        ordering = ["channel", "country", "sender"]
        verbose_name = _("invoice line")
        verbose_name_plural = _("invoice lines")

    def __str__(self) -> str:
        return f"{self.channel} {self.country} {self.sender}: {self.amount}"
