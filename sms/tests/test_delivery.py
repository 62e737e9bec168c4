"""Sending through real loopback providers: SMPP SMSC, Africa's Talking, Twilio; receipts,
fallback, retries and campaigns. In-process (no worker). The tenant's status callback is
tested with the webhooks (notifications/webhooks/tests/test_legacy_callback.py)."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from notifications.models import DeliveryStatus
from sms import campaigns, delivery
from sms.models import SmsMessage, SmsProviderId, SmsRecipient, SmsState
from sms.receipts import receipt_sink
from sms.routing import callback_url
from sms.services import CampaignSpec, sms_submit

pytestmark = pytest.mark.django_db(transaction=True)

TG = "+22890123456"
TG2 = "+22891234567"
CI = "+2250701020304"


def submit(owner, numbers, text="Votre code est 1234", **kw):
    return sms_submit(tenant=owner.tenant, dialect="test", sender="SoftAfrik", numbers=numbers, text=text, **kw).message


def send_all(message):
    for chunk in delivery.sms_dispatch(message_id=str(message.pk)):
        delivery.sms_send_chunk(recipient_ids=chunk)


# What the SMSC took: sent, or delivered once the fake SMSC's immediate receipt came back.
HANDED = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED)


def statuses(message):
    return dict(SmsRecipient.objects.filter(message=message).values_list("number", "status"))


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        receipt_sink().flush()
        if predicate():
            return True
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_smpp_send_records_sent_with_the_smscs_message_id(owner, sender, smsc, smpp_route):
    message = submit(owner, [TG])
    send_all(message)
    (got,) = smsc.received
    assert (got.source, got.destination, got.data_coding, got.payload) == (
        "SoftAfrik",
        TG[1:],
        0,
        b"Votre code est 1234",
    )
    row = SmsRecipient.objects.get()
    assert (row.status in HANDED, row.route_id) == (True, smpp_route.pk)
    assert list(SmsProviderId.objects.values_list("provider_message_id", flat=True)) == [got.message_id]


def test_smpp_receipt_marks_recipient_delivered(owner, sender, smsc, smpp_route):
    message = submit(owner, [TG])
    send_all(message)
    wait_for(lambda: statuses(message) == {TG: DeliveryStatus.DELIVERED})


def test_multipart_needs_every_part_delivered(owner, sender, smsc, smpp_route):
    message = submit(owner, [TG], text="x" * 300)
    send_all(message)
    assert len(smsc.received) == 2
    assert all(r.esm_class & 0x40 for r in smsc.received)
    wait_for(lambda: SmsRecipient.objects.get().status == DeliveryStatus.DELIVERED)
    assert SmsRecipient.objects.get().parts_delivered == 2


def test_undeliverable_receipt_fails_recipient_with_reason(owner, sender, smsc, smpp_route):
    smsc.undeliverable(TG[1:])
    message = submit(owner, [TG])
    send_all(message)
    wait_for(lambda: statuses(message) == {TG: DeliveryStatus.FAILED})
    assert "UNDELIV" in SmsRecipient.objects.get().error


def test_invalid_destination_fails_at_once(owner, sender, smsc, smpp_route):
    smsc.reject(TG[1:], 0x0B)
    message = submit(owner, [TG, CI])
    send_all(message)
    got = statuses(message)
    assert (got[TG], got[CI] in HANDED) == (DeliveryStatus.FAILED, True)
    assert SmsRecipient.objects.get(number=TG).error == "ESME_RINVDSTADR"


def test_route_down_falls_back_to_the_next_route(owner, sender, smsc, smpp_route, at_route, fake_at):
    at_route.priority = 200
    at_route.save()
    smsc.stop()  # nothing listens on the SMPP route any more
    message = submit(owner, [TG])
    send_all(message)
    row = SmsRecipient.objects.get()
    assert (row.status, row.route_id) == (DeliveryStatus.SENT, at_route.pk)
    assert [r.to for r in fake_at.received] == [TG]


def test_country_picks_the_route(owner, sender, at_route, twilio_route, fake_at, fake_twilio):
    at_route.countries = "TG"
    at_route.save()
    twilio_route.countries = "CI"
    twilio_route.save()
    send_all(submit(owner, [TG, CI]))
    assert [r.to for r in fake_at.received] == [TG]
    assert [r.to for r in fake_twilio.received] == [CI]


def test_number_without_a_route_fails_with_the_reason(owner, sender, at_route):
    at_route.countries = "CI"
    at_route.save()
    message = submit(owner, [TG])
    send_all(message)
    row = SmsRecipient.objects.get()
    assert row.status == DeliveryStatus.FAILED
    assert row.error.startswith("no SMS route serves")


def test_transient_error_retries_later_then_sends(owner, sender, at_route, fake_at):
    fake_at.fail_number(TG, 500, times=1)
    message = submit(owner, [TG])
    send_all(message)
    row = SmsRecipient.objects.get()
    assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 1)
    assert row.next_attempt_at > timezone.now()
    SmsRecipient.objects.update(next_attempt_at=timezone.now())
    (chunk,) = delivery.recipients_due()
    delivery.sms_send_chunk(recipient_ids=chunk)
    assert statuses(message) == {TG: DeliveryStatus.SENT}
    assert len(fake_at.received) == 1


def test_throttled_number_waits_without_using_an_attempt(owner, sender, at_route, fake_at):
    fake_at.throttle(1)
    message = submit(owner, [TG])
    send_all(message)
    row = SmsRecipient.objects.get()
    assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 0)


def test_a_repeated_chunk_sends_nothing_twice(owner, sender, smsc, smpp_route):
    message = submit(owner, [TG, CI])
    (chunk,) = delivery.sms_dispatch(message_id=str(message.pk))
    delivery.sms_send_chunk(recipient_ids=chunk)
    assert delivery.sms_send_chunk(recipient_ids=chunk) == {}
    assert len(smsc.received) == 2


def test_a_chunk_records_every_outcome_and_releases_its_claim(owner, sender, smsc, smpp_route):
    numbers = [TG, TG2, CI, "+22890000007", "+22890000008"]
    smsc.reject("22890000007", 0x0B)
    message = submit(owner, numbers)
    (chunk,) = delivery.sms_dispatch(message_id=str(message.pk))

    assert delivery.sms_send_chunk(recipient_ids=chunk) == {"sent": 4, "failed": 1}
    accepted = [n[1:] for n in numbers if n != "+22890000007"]  # the fake lists what it accepted
    assert sorted(r.destination for r in smsc.received) == sorted(accepted)
    got = statuses(message)
    assert got.pop("+22890000007") == DeliveryStatus.FAILED
    assert sorted(got) == sorted(n for n in numbers if n != "+22890000007")
    assert set(got.values()) <= {DeliveryStatus.SENT, DeliveryStatus.DELIVERED}  # a receipt may be in already
    assert SmsProviderId.objects.count() == 4
    assert not SmsRecipient.objects.filter(claim__isnull=False).exists()


def test_twilio_callback_marks_delivered_and_checks_signature(
    owner, sender, twilio_route, fake_twilio, live_server, settings
):
    settings.PUBLIC_BASE_URL = live_server.url
    message = submit(owner, [TG])
    send_all(message)
    (got,) = fake_twilio.received
    url = callback_url(twilio_route) + "/twilio"
    assert got.status_callback == url
    assert fake_twilio.send_receipt(got.message_id, "delivered", url) == 204
    assert statuses(message) == {TG: DeliveryStatus.DELIVERED}


def test_africastalking_callback_with_unknown_token_is_404(owner, sender, at_route, fake_at, live_server):
    url = f"{live_server.url}/sms/callbacks/not-a-token/africastalking"
    assert fake_at.send_receipt("ATXid_1", "Success", url) == 404


def test_africastalking_failed_callback_fails_recipient(owner, sender, at_route, fake_at, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    message = submit(owner, [TG])
    send_all(message)
    (got,) = fake_at.received
    assert (
        fake_at.send_receipt(
            got.message_id, "Failed", callback_url(at_route) + "/africastalking", failure_reason="InsufficientCredit"
        )
        == 200
    )
    row = SmsRecipient.objects.get()
    assert (row.status, row.error) == (DeliveryStatus.FAILED, "InsufficientCredit")


def test_campaign_releases_batches_within_the_daily_cap(owner, sender, log_route):
    now = timezone.now()
    spec = CampaignSpec(
        window_start=now - timedelta(minutes=1), window_end=now + timedelta(days=3), per_day=4, interval_minutes=360
    )
    numbers = [f"+2289012{n:04d}" for n in range(10)]
    message = submit(owner, numbers, campaign=spec)
    assert message.kind == "campaign"
    assert SmsRecipient.objects.filter(next_attempt_at__isnull=True).count() == 10
    assert campaigns.campaign_batch_size(per_day=4, interval_minutes=360) == 1
    released = campaigns.campaign_release(message_id=str(message.pk))
    assert len(released) == 1
    assert campaigns.campaign_release(message_id=str(message.pk)) == []  # not due again yet
    # Four intervals later the day's cap (4) is reached and the next batch waits for tomorrow.
    for _ in range(3):
        SmsMessage.objects.filter(pk=message.pk).update(next_batch_at=timezone.now())
        assert len(campaigns.campaign_release(message_id=str(message.pk))) == 1
    message.refresh_from_db()
    assert message.released_today == 4
    tomorrow = datetime.combine(timezone.now().date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    assert message.next_batch_at >= tomorrow


def test_campaign_window_closing_fails_the_unreleased(owner, sender, log_route):
    now = timezone.now()
    spec = CampaignSpec(window_start=now, window_end=now + timedelta(hours=1), per_day=1, interval_minutes=60)
    message = submit(owner, [TG, TG2], campaign=spec)
    campaigns.campaign_release(message_id=str(message.pk))
    SmsMessage.objects.filter(pk=message.pk).update(next_batch_at=now, window_end=now)
    campaigns.campaign_release(message_id=str(message.pk))
    message.refresh_from_db()
    assert message.state == SmsState.DONE
    assert SmsRecipient.objects.filter(error=campaigns.WINDOW_CLOSED).count() == 1


def test_scheduled_send_goes_out_when_due(owner, sender, smsc, smpp_route):
    message = submit(owner, [TG], scheduled_at=timezone.now() + timedelta(hours=1))
    assert delivery.recipients_due() == []
    SmsRecipient.objects.update(next_attempt_at=timezone.now())
    (chunk,) = delivery.recipients_due()
    delivery.sms_send_chunk(recipient_ids=chunk)
    assert statuses(message).keys() == {TG} and statuses(message)[TG] in HANDED
    assert SmsMessage.objects.get().state == SmsState.DONE  # its one number went out: finished
