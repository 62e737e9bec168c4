"""Tenant-scoped reads of the aggregates: the dashboard's figures and the reports.

Every read is a range of days of one tenant on ``DailyStat`` (its unique index leads
with (tenant, day)), grouped in the database, plus the newest failures (an index range
scan with a LIMIT): the dashboard costs the same at a thousand or ten million messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Sum
from django.utils import timezone

from accounts.models import Tenant
from reports.models import COUNTS, TTD_BOUNDS, TTD_FIELDS, DailyStat, RecentFailure

CHANNELS = ("push", "sms", "omni")
PERIODS = (("today", 1), ("7d", 7), ("30d", 30))  # (key, days including today)
TOP = 10  # countries and senders/apps a dashboard chart shows
FAILURES_SHOWN = 10
REPORT_MAX_DAYS = 366  # one report covers at most a year: a bounded range of the index
_SUMS = {name: Sum(name) for name in (*COUNTS, *TTD_FIELDS)}


def tenant_today(tenant: Tenant) -> date:
    return timezone.now().astimezone(ZoneInfo(tenant.timezone)).date()


def p50_seconds(histogram: list[int]) -> int | None:
    """The upper bound (seconds) of the bucket holding the median time to deliver; None
    when nothing was delivered, -1 for the open last bucket (slower than the last bound)."""
    total = sum(histogram)
    if not total:
        return None
    running = 0
    for index, count in enumerate(histogram):
        running += count
        if running * 2 >= total:
            return TTD_BOUNDS[index] if index < len(TTD_BOUNDS) else -1
    return -1


@dataclass
class Figures:
    """Sums over some rows of the aggregates."""

    outcomes: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    cost: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * len(TTD_FIELDS))

    def add(self, row: dict) -> None:
        self.outcomes += row["outcomes"] or 0
        self.sent += row["sent"] or 0
        self.delivered += row["delivered"] or 0
        self.failed += row["failed"] or 0
        self.cost += row["cost"] or 0
        for index, name in enumerate(TTD_FIELDS):
            self.histogram[index] += row[name] or 0

    @property
    def delivery_rate(self) -> float | None:
        """Delivered among the recipients (omni: destinations) that had an outcome."""
        return self.delivered / self.outcomes if self.outcomes else None

    @property
    def p50(self) -> int | None:
        return p50_seconds(self.histogram)


def _figures(row: dict) -> Figures:
    figures = Figures()
    figures.add(row)
    return figures


@dataclass
class Dashboard:
    today: date
    periods: dict[str, dict[str, Figures]]  # {"today": {"push": Figures, ...}, "7d": ..., "30d": ...}
    days: list[tuple[date, Figures]]  # the last 30 days, oldest first, every day present
    countries: list[tuple[str, Figures]]  # the top countries over 30 days, by outcomes
    senders: list[tuple[str, str, Figures]]  # (channel, app or sender, Figures), top over 30 days
    month_cost: int  # settled this calendar month (tenant's time zone), minor units
    failures: list[RecentFailure]


def dashboard_figures(*, tenant: Tenant) -> Dashboard:
    """What the admin's first page shows for ``tenant``: four aggregate queries over at
    most 31 days of its rows and one LIMITed read of its failures."""
    today = tenant_today(tenant)
    since = today - timedelta(days=PERIODS[-1][1] - 1)
    month_start = today.replace(day=1)
    rows = DailyStat.objects.filter(tenant=tenant, day__gte=min(since, month_start), day__lte=today)
    periods = {key: {channel: Figures() for channel in CHANNELS} for key, _ in PERIODS}
    per_day = {since + timedelta(days=n): Figures() for n in range(PERIODS[-1][1])}
    month_cost = 0
    for row in rows.values("channel", "day").annotate(**_SUMS).order_by():
        if row["day"] >= month_start:
            month_cost += row["cost"] or 0
        if row["day"] < since:
            continue
        for key, days in PERIODS:
            if row["day"] > today - timedelta(days=days) and row["channel"] in periods[key]:
                periods[key][row["channel"]].add(row)
        per_day[row["day"]].add(row)
    recent = rows.filter(day__gte=since)
    countries = [
        (row["country"], _figures(row))
        for row in recent.values("country").annotate(**_SUMS).order_by("-outcomes", "country")[:TOP]
    ]
    senders = [
        (row["channel"], row["app"] or row["sender"], _figures(row))
        for row in recent.values("channel", "app", "sender")
        .annotate(**_SUMS)
        .order_by("-outcomes", "app", "sender")[:TOP]
    ]
    failures = list(RecentFailure.objects.filter(tenant=tenant).order_by("-occurred_at", "-id")[:FAILURES_SHOWN])
    return Dashboard(today, periods, list(per_day.items()), countries, senders, month_cost, failures)


def report_rows(
    *, tenant: Tenant, start: date, end: date, group_by: list[str], channel: str = ""
) -> Iterator[tuple[dict, Figures]]:
    """The tenant's figures from ``start`` to ``end`` (days in its time zone, inclusive),
    one row per distinct value of ``group_by`` (columns of ``DailyStat``: "day", a
    dimension), in that order; ``channel`` narrows to one channel. Streams from a
    server-side cursor: a report of every day and campaign need not fit in memory."""
    rows = DailyStat.objects.filter(tenant=tenant, day__gte=start, day__lte=end)
    if channel:
        rows = rows.filter(channel=channel)
    grouped = rows.values(*group_by).annotate(**_SUMS).order_by(*group_by)
    for row in grouped.iterator(chunk_size=2000):
        yield {name: row[name] for name in group_by}, _figures(row)
