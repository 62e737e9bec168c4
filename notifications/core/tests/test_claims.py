"""Claiming outbox rows (``notifications.core.claims``), on SMS recipients."""

import pytest

from notifications.core.claims import claim_pending_rows
from notifications.core.status import DeliveryStatus
from sms.models import SmsMessage, SmsRecipient

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(owner):
    message = SmsMessage.objects.create(
        tenant=owner.tenant, dialect="test", kind="bulk", sender="SoftAfrik", text="x", encoding="gsm7", parts=1
    )
    return SmsRecipient.objects.bulk_create(
        SmsRecipient(message=message, tenant=owner.tenant, number=f"+2289000000{i}", attempts=i % 2) for i in range(6)
    )


def test_claim_takes_pending_rows_in_the_order_given(rows):
    SmsRecipient.objects.filter(pk=rows[2].pk).update(status=DeliveryStatus.SENT)
    ids = [rows[i].pk for i in (4, 0, 2, 5)]

    claim, got = claim_pending_rows(SmsRecipient, ids, ["pk", "number", "attempts"])

    assert claim is not None
    assert got == [(rows[4].pk, "+22890000004", 1), (rows[0].pk, "+22890000000", 1), (rows[5].pk, "+22890000005", 2)]
    claimed = SmsRecipient.objects.filter(claim=claim)
    assert sorted(claimed.values_list("pk", flat=True)) == sorted([rows[0].pk, rows[4].pk, rows[5].pk])
    assert set(claimed.values_list("status", flat=True)) == {DeliveryStatus.SENDING}
    assert all(row.claimed_at is not None for row in claimed)
    assert SmsRecipient.objects.get(pk=rows[2].pk).status == DeliveryStatus.SENT  # not pending: untouched


def test_claimed_rows_are_not_claimed_again(rows):
    ids = [row.pk for row in rows]
    first, _ = claim_pending_rows(SmsRecipient, ids, ["pk"])

    second, got = claim_pending_rows(SmsRecipient, ids, ["pk"])

    assert first is not None
    assert (second, got) == (None, [])
    assert SmsRecipient.objects.filter(claim=first).count() == 6


def test_a_claim_answers_columns_of_the_rows_its_rows_point_to(rows):
    ids = [rows[1].pk, rows[0].pk]

    claim, got = claim_pending_rows(SmsRecipient, ids, ["pk", "message__sender", "attempts", "message__parts"])

    assert claim is not None
    assert got == [(rows[1].pk, "SoftAfrik", 2, 1), (rows[0].pk, "SoftAfrik", 1, 1)]
    assert SmsRecipient.objects.filter(claim=claim).count() == 2
