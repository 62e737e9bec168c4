"""What the consumer keeps only for a while is purged; the aggregates stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from reports.consumer import reports_consume
from reports.models import CountedStatus, DailyStat, RecentFailure
from reports.services import reports_purge
from reports.tests.factories import TG, record, sms_send

pytestmark = pytest.mark.django_db(transaction=True)


def test_old_keys_and_failures_are_purged_and_the_aggregates_stay(owner, settings):
    settings.REPORTS_COUNTED_DAYS, settings.REPORTS_FAILURES_DAYS = 60, 30
    now = timezone.now()
    _, [old, recent] = sms_send(owner.tenant, [TG, TG], at=now - timedelta(days=61))
    record(owner.tenant, "sms", [old], "failed", at=now - timedelta(days=61), reason="undelivered")
    record(owner.tenant, "sms", [recent], "failed", at=now - timedelta(days=1), reason="undelivered")
    reports_consume()
    assert reports_purge() == 2 + 1  # the old number's two keys (outcome, failed) and its failure
    assert sorted(k.split(":")[1] for k in CountedStatus.objects.values_list("key", flat=True)) == [str(recent.pk)] * 2
    assert list(RecentFailure.objects.values_list("recipient_id", flat=True)) == [recent.pk]
    assert sum(DailyStat.objects.values_list("failed", flat=True)) == 2
