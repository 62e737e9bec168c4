"""The reports' tables: daily aggregates of the status events, what was counted, and the
latest failures.

The "reports" consumer (``reports.consumer``) folds status events into ``DailyStat``:
one row per tenant, day in the tenant's time zone, channel and dimension (app, sender,
country, category, campaign, scenario), with counts per status, the cost and a
histogram of the time to deliver. The dashboard and the reports read only these rows
(and ``RecentFailure``, newest first), so their cost follows how many distinct
dimensions a tenant has, not how many messages it sent.
"""

from __future__ import annotations

from django.db import models

from accounts.models import Tenant

# Upper bounds (seconds) of the time-to-deliver histogram's buckets; the last bucket
# takes everything slower. The p50 is read as the bound of the bucket holding the median:
# twelve integers a row keep it additive (an upsert adds them) at a resolution of
# about 2x, which is what "how long do my messages take" needs.
TTD_BOUNDS = (1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 21600)
TTD_BUCKETS = len(TTD_BOUNDS) + 1
TTD_FIELDS = tuple(f"ttd_{i}" for i in range(TTD_BUCKETS))
# What a report can group by and filter on, besides the day.
DIMENSIONS = ("channel", "app", "sender", "country", "category", "campaign", "scenario")
COUNTS = ("outcomes", "sent", "delivered", "failed", "cost")


class DailyStat(models.Model):
    """One day of one tenant's messages with one set of dimensions (empty: not known or
    not relevant to the channel). ``outcomes`` counts recipients (omni: destinations)
    that reached their first outcome, ``sent`` those handed to the network, ``delivered``
    and ``failed`` those that reached that status, each recipient once per status;
    ``cost`` is what was settled (minor units of the tenant's account unit)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField(help_text="In the tenant's time zone")
    channel = models.CharField(max_length=10)
    app = models.CharField(max_length=100, blank=True, default="")
    sender = models.CharField(max_length=100, blank=True, default="")
    country = models.CharField(max_length=2, blank=True, default="")
    category = models.CharField(max_length=100, blank=True, default="")
    campaign = models.CharField(max_length=200, blank=True, default="")
    scenario = models.CharField(max_length=200, blank=True, default="")
    outcomes = models.BigIntegerField(default=0)
    sent = models.BigIntegerField(default=0)
    delivered = models.BigIntegerField(default=0)
    failed = models.BigIntegerField(default=0)
    cost = models.BigIntegerField(default=0)
    ttd_0 = models.BigIntegerField(default=0)
    ttd_1 = models.BigIntegerField(default=0)
    ttd_2 = models.BigIntegerField(default=0)
    ttd_3 = models.BigIntegerField(default=0)
    ttd_4 = models.BigIntegerField(default=0)
    ttd_5 = models.BigIntegerField(default=0)
    ttd_6 = models.BigIntegerField(default=0)
    ttd_7 = models.BigIntegerField(default=0)
    ttd_8 = models.BigIntegerField(default=0)
    ttd_9 = models.BigIntegerField(default=0)
    ttd_10 = models.BigIntegerField(default=0)
    ttd_11 = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # The upsert's conflict target; leading with (tenant, day), it also serves
            # every read, which is a range of days of one tenant.
            models.UniqueConstraint(fields=["tenant", "day", *DIMENSIONS], name="reports_daily_once")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.channel} {self.sent}/{self.delivered}/{self.failed}"


class CountedStatus(models.Model):
    """A (channel, recipient, status) the consumer has counted: a repeated event of the
    same change (a second receipt, a ``sent`` recorded after the app's ``delivered``)
    counts nothing. Purged after ``REPORTS_COUNTED_DAYS``."""

    key = models.CharField(max_length=40, primary_key=True)  # "sms:123:delivered"
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["at"], name="reports_counted_at")]

    def __str__(self) -> str:
        return self.key


class RecentFailure(models.Model):
    """A recipient's failure as the dashboard lists it, newest first per tenant (one index
    range scan with a LIMIT). Purged after ``REPORTS_FAILURES_DAYS``."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    channel = models.CharField(max_length=10)
    send_id = models.UUIDField()
    recipient_id = models.BigIntegerField()
    destination = models.CharField(max_length=100, blank=True, default="", help_text="Number, or the push app")
    country = models.CharField(max_length=2, blank=True, default="")
    reason = models.CharField(max_length=300, blank=True, default="")
    occurred_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "-occurred_at"], name="reports_failure_newest"),
            models.Index(fields=["occurred_at"], name="reports_failure_at"),
        ]

    def __str__(self) -> str:
        return f"{self.channel}:{self.recipient_id} {self.reason[:40]}"
