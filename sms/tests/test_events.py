"""Every status change of an SMS number writes its status event, once, in the transaction
of the change: sent and failed by a send, delivered and failed by receipts (see
test_receipts.py), failed at accept (blacklist), by a cancel and by a campaign window
that closed. And a send whose numbers are all final is done."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.core.models import StatusEvent
from notifications.core.status import DeliveryStatus
from sms import campaigns, delivery
from sms.models import BlacklistedNumber, SmsMessage, SmsRecipient, SmsState
from sms.providers.base import PermanentSmsError
from sms.providers.log import LogRoute
from sms.services import BLACKLISTED, CampaignSpec, sms_cancel, sms_submit

pytestmark = pytest.mark.django_db(transaction=True)

TG = "+22890123456"
TG2 = "+22891234567"


def submit(owner, numbers, **kw):
    return sms_submit(
        tenant=owner.tenant, dialect="test", sender="SoftAfrik", numbers=numbers, text="Code 1234", **kw
    ).message


def send_all(message):
    for chunk in delivery.sms_dispatch(message_id=str(message.pk)):
        delivery.sms_send_chunk(recipient_ids=chunk)


def events():
    return list(StatusEvent.objects.order_by("id").values_list("tenant_id", "type", "recipient_id", "status", "reason"))


def recipient_ids(message):
    return dict(SmsRecipient.objects.filter(message=message).values_list("number", "pk"))


def test_a_send_writes_sms_recipient_sent_per_number(owner, sender, log_route):
    message = submit(owner, [TG, TG2])
    send_all(message)
    ids = recipient_ids(message)
    assert sorted(events()) == sorted((owner.tenant.pk, "sms.recipient.sent", ids[n], "sent", "") for n in (TG, TG2))
    assert set(StatusEvent.objects.values_list("send_id", "channel")) == {(message.pk, "sms")}


def test_a_refused_number_writes_sms_recipient_failed_with_the_reason(owner, sender, log_route, monkeypatch):
    monkeypatch.setattr(
        LogRoute, "submit_batch", lambda self, submits: [PermanentSmsError("invalid destination")] * len(submits)
    )
    message = submit(owner, [TG])
    send_all(message)
    assert events() == [
        (owner.tenant.pk, "sms.recipient.failed", recipient_ids(message)[TG], "failed", "invalid destination")
    ]


def test_a_blacklisted_number_writes_its_failed_event_at_accept(owner, sender):
    BlacklistedNumber.objects.create(tenant=owner.tenant, number=TG2)
    message = submit(owner, [TG, TG2])
    assert events() == [(owner.tenant.pk, "sms.recipient.failed", recipient_ids(message)[TG2], "failed", BLACKLISTED)]


def test_a_cancel_writes_one_failed_event_per_waiting_number(owner, sender):
    message = submit(owner, [TG, TG2], scheduled_at=timezone.now() + timedelta(hours=1))
    assert sms_cancel(message=message) == 2
    ids = recipient_ids(message)
    assert sorted(events()) == sorted(
        (owner.tenant.pk, "sms.recipient.failed", ids[n], "failed", "cancelled") for n in (TG, TG2)
    )


def test_a_closed_campaign_window_writes_failed_events_for_the_unreleased(owner, sender, log_route):
    now = timezone.now()
    spec = CampaignSpec(window_start=now, window_end=now + timedelta(hours=1), per_day=1, interval_minutes=60)
    message = sms_submit(
        tenant=owner.tenant, dialect="test", sender="SoftAfrik", numbers=[TG, TG2], text="x", campaign=spec
    ).message
    (released,) = campaigns.campaign_release(message_id=str(message.pk))
    SmsMessage.objects.filter(pk=message.pk).update(next_batch_at=now, window_end=now)
    campaigns.campaign_release(message_id=str(message.pk))
    (unreleased,) = set(recipient_ids(message).values()) - {released}
    assert events() == [(owner.tenant.pk, "sms.recipient.failed", unreleased, "failed", campaigns.WINDOW_CLOSED)]


def test_a_send_whose_numbers_all_went_out_is_done(owner, sender, log_route):
    message = submit(owner, [TG, TG2])
    assert SmsMessage.objects.get(pk=message.pk).state == SmsState.ACTIVE
    chunk = sorted(recipient_ids(message).values())
    delivery.sms_send_chunk(recipient_ids=chunk[:1])
    assert SmsMessage.objects.get(pk=message.pk).state == SmsState.ACTIVE  # one number still waits
    delivery.sms_send_chunk(recipient_ids=chunk[1:])
    assert SmsMessage.objects.get(pk=message.pk).state == SmsState.DONE


def test_a_send_with_every_number_blacklisted_is_done_at_once(owner, sender):
    BlacklistedNumber.objects.create(tenant=owner.tenant, number=TG)
    message = submit(owner, [TG])
    assert SmsMessage.objects.get(pk=message.pk).state == SmsState.DONE
    assert SmsRecipient.objects.get().status == DeliveryStatus.FAILED
