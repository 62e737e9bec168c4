"""The reports' housekeeping: what the consumer keeps only for a while."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from reports.models import CountedStatus, RecentFailure

PURGE_BATCH = 5000  # rows one DELETE removes: bounds its locks and WAL
PURGE_MAX_BATCHES = 100  # per table and beat run; the next run goes on


def _purge(queryset, model) -> int:
    total = 0
    for _ in range(PURGE_MAX_BATCHES):
        keys = list(queryset.order_by("pk").values_list("pk", flat=True)[:PURGE_BATCH])
        if not keys:
            break
        total += model.objects.filter(pk__in=keys).delete()[0]
        if len(keys) < PURGE_BATCH:
            break
    return total


def reports_purge() -> int:
    """Delete counted keys older than REPORTS_COUNTED_DAYS (a repeated event comes within
    minutes; a push's receipt within days) and failures older than REPORTS_FAILURES_DAYS
    (the dashboard lists the last ones). The aggregates stay. Returns how many rows."""
    now = timezone.now()
    counted = CountedStatus.objects.filter(at__lt=now - timedelta(days=settings.REPORTS_COUNTED_DAYS))
    failures = RecentFailure.objects.filter(occurred_at__lt=now - timedelta(days=settings.REPORTS_FAILURES_DAYS))
    return _purge(counted, CountedStatus) + _purge(failures, RecentFailure)
