"""Accepting sends: senders, numbers, blacklist, pricing, scheduling, cancel."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.core.status import DeliveryStatus
from sms import selectors
from sms.models import BlacklistedNumber, SenderName, SmsMessage, SmsRecipient, SmsState
from sms.services import BLACKLISTED, sms_cancel, sms_submit
from softafrik.errors import DomainError

pytestmark = pytest.mark.django_db

TG = "+22890123456"
CI = "+2250701020304"


def submit(owner, numbers, text="Votre code est 1234", **kw):
    return sms_submit(
        tenant=owner.tenant, dialect="test", sender=kw.pop("sender", "SoftAfrik"), numbers=numbers, text=text, **kw
    )


def test_bulk_normalises_numbers_and_reports_invalid_ones(owner, sender):
    accepted = submit(owner, ["90 12 34 56", CI, "12", CI])
    assert accepted.accepted == [TG, CI]
    assert accepted.rejected == [("12", "too short")] or accepted.rejected[0][0] == "12"
    assert sorted(SmsRecipient.objects.values_list("number", flat=True)) == sorted([TG, CI])
    assert accepted.message.credits == 2


def test_single_send_with_invalid_number_is_refused_and_writes_nothing(owner, sender):
    with pytest.raises(DomainError) as refused:
        submit(owner, ["+228123"], single=True)
    assert refused.value.field == "number"
    assert SmsMessage.objects.count() == 0


def test_unapproved_sender_is_refused(owner, sender):
    SenderName.objects.create(tenant=owner.tenant, name="Pending1")
    with pytest.raises(DomainError) as refused:
        submit(owner, [TG], sender="Pending1")
    assert (refused.value.field, refused.value.code) == ("sender", "sender_not_approved")
    assert SmsMessage.objects.count() == 0


def test_another_tenants_approved_sender_is_refused(owner, outsider, sender):
    with pytest.raises(DomainError):
        sms_submit(tenant=outsider.tenant, dialect="t", sender="SoftAfrik", numbers=[TG], text="x")


def test_no_sender_uses_the_tenants_default(owner, sender):
    assert submit(owner, [TG], sender=None).message.sender == "SoftAfrik"


def test_multipart_text_counts_parts_times_recipients(owner, sender):
    accepted = submit(owner, [TG, CI], text="a" * 161)
    assert (accepted.message.parts, accepted.message.credits) == (2, 4)
    assert set(SmsRecipient.objects.values_list("parts", flat=True)) == {2}


def test_ucs2_text_uses_70_char_parts(owner, sender):
    accepted = submit(owner, [TG], text="é" * 0 + "ç" * 71)
    assert (accepted.message.encoding, accepted.message.parts) == ("ucs2", 2)


def test_too_many_parts_is_refused(owner, sender, settings):
    settings.SMS_MAX_PARTS = 2
    with pytest.raises(DomainError) as refused:
        submit(owner, [TG], text="a" * 400)
    assert refused.value.field == "text"


def test_blacklisted_number_fails_with_reason_and_costs_nothing(owner, sender):
    BlacklistedNumber.objects.create(tenant=owner.tenant, number=CI)
    accepted = submit(owner, [TG, CI])
    assert accepted.blacklisted == [CI]
    assert accepted.message.credits == 1
    row = SmsRecipient.objects.get(number=CI)
    assert (row.status, row.error) == (DeliveryStatus.FAILED, BLACKLISTED)


def test_another_tenants_blacklist_does_not_apply(owner, outsider, sender):
    BlacklistedNumber.objects.create(tenant=outsider.tenant, number=TG)
    assert submit(owner, [TG]).blacklisted == []


@pytest.mark.parametrize("chunk", [5000, 2], ids=["short-list", "long-list"])
def test_blacklist_of_any_length_blocks_exactly_its_numbers(owner, outsider, sender, monkeypatch, chunk):
    monkeypatch.setattr(selectors, "BLACKLIST_LOOKUP_CHUNK", chunk)
    listed = ["+22890000001", "+22890000002", "+22890000003", "+22890000004", "+22890000005"]
    BlacklistedNumber.objects.bulk_create(BlacklistedNumber(tenant=owner.tenant, number=n) for n in listed)
    BlacklistedNumber.objects.create(tenant=outsider.tenant, number=TG)
    numbers = [TG, listed[4], "+22890000009", listed[0], listed[2]]
    assert submit(owner, numbers).blacklisted == sorted([listed[0], listed[2], listed[4]])


def test_scheduled_send_waits_for_its_date(owner, sender):
    when = timezone.now() + timedelta(hours=2)
    accepted = submit(owner, [TG], scheduled_at=when)
    assert accepted.message.state == SmsState.SCHEDULED
    assert SmsRecipient.objects.get().next_attempt_at == when


def test_cancel_fails_pending_numbers(owner, sender):
    accepted = submit(owner, [TG, CI], scheduled_at=timezone.now() + timedelta(hours=1))
    assert sms_cancel(message=accepted.message) == 2
    assert set(SmsRecipient.objects.values_list("error", flat=True)) == {"cancelled"}
    with pytest.raises(DomainError):
        sms_cancel(message=accepted.message)
