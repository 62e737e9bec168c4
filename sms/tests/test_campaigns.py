"""Spread campaigns count their daily cap in the tenant's own days."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from sms import campaigns
from sms.models import SmsMessage
from sms.services import CampaignSpec, sms_submit

pytestmark = pytest.mark.django_db

NUMBERS = ["+22890123456", "+22891234567", "+22892345678"]


def campaign(owner, zone: str):
    owner.tenant.timezone = zone
    owner.tenant.save()
    now = timezone.now()
    spec = CampaignSpec(window_start=now, window_end=now + timedelta(days=5), per_day=1, interval_minutes=60)
    return sms_submit(
        tenant=owner.tenant, dialect="test", sender="SoftAfrik", numbers=NUMBERS, text="x", campaign=spec
    ).message


@pytest.mark.parametrize("zone", ["UTC", "Asia/Riyadh", "America/Sao_Paulo"])
def test_a_full_day_waits_for_the_tenants_next_midnight(owner, sender, zone, monkeypatch):
    message = campaign(owner, zone)
    noon_utc = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    monkeypatch.setattr(campaigns.timezone, "now", lambda: noon_utc)
    SmsMessage.objects.filter(pk=message.pk).update(next_batch_at=noon_utc, window_start=noon_utc)
    assert len(campaigns.campaign_release(message_id=str(message.pk))) == 1
    local = noon_utc.astimezone(ZoneInfo(zone))
    next_midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=ZoneInfo(zone))
    message.refresh_from_db()
    assert message.next_batch_at == next_midnight
    assert message.released_day == local.date()
