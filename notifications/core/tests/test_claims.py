"""Claiming outbox rows (``notifications.core.claims``), on SMS recipients."""

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from notifications.core.claims import claim_pending_rows, claimed_rows, due_chunks
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


LEASE = timedelta(seconds=300)
postgres_only = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="advisory locks: PostgreSQL only")


def written_claimed(rows, *, age=timedelta(0)) -> uuid.UUID:
    """The rows as a fan-out page writes them: 'sending' under a claim of their own."""
    claim = uuid.uuid4()
    SmsRecipient.objects.filter(pk__in=[row.pk for row in rows]).update(
        status=DeliveryStatus.SENDING, claim=claim, claimed_at=timezone.now() - age
    )
    return claim


def test_rows_written_claimed_are_taken_with_their_related_columns_in_order(rows):
    claim = written_claimed(rows[:3])
    ids = [rows[2].pk, rows[0].pk, rows[4].pk]  # rows[4] is pending: not this claim's

    with claimed_rows(SmsRecipient, ids, ["pk", "message__sender", "attempts"], claim, lease=LEASE) as (held, got):
        assert got == [(rows[2].pk, "SoftAfrik", 0), (rows[0].pk, "SoftAfrik", 0)]
        held_rows = SmsRecipient.objects.filter(pk__in=ids, claim=held, status=DeliveryStatus.SENDING)
        assert set(held_rows.values_list("pk", flat=True)) == {rows[0].pk, rows[2].pk}
    if connection.vendor == "postgresql":
        assert held == claim  # nothing was written to take them
    else:
        assert held != claim  # claimed anew, from the page's claim


def test_rows_the_sweeper_made_pending_again_are_not_taken_under_their_old_claim(rows):
    claim = written_claimed(rows, age=LEASE + timedelta(seconds=1))  # the page's task was lost
    due_chunks(SmsRecipient, lease=LEASE, grace=timedelta(seconds=30), limit=100, chunk=100)

    with claimed_rows(SmsRecipient, [row.pk for row in rows], ["pk"], claim, lease=LEASE) as (_, got):
        assert got == []


def test_rows_claimed_long_ago_get_their_lease_renewed_before_they_are_sent(rows):
    claim = written_claimed(rows, age=LEASE * 3 / 4)  # a page that waited long in the queue
    before = timezone.now()

    with claimed_rows(SmsRecipient, [row.pk for row in rows], ["pk"], claim, lease=LEASE) as (_, got):
        assert len(got) == 6
        assert all(row.claimed_at >= before for row in SmsRecipient.objects.all())
        # Half a lease later the sweeper still leaves them to this send.
        due_chunks(SmsRecipient, lease=LEASE / 2, grace=timedelta(seconds=30), limit=100, chunk=100)
        assert set(SmsRecipient.objects.values_list("status", flat=True)) == {DeliveryStatus.SENDING}


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_second_copy_of_the_task_gets_nothing_while_the_first_sends(rows):
    claim = written_claimed(rows)
    ids = [row.pk for row in rows]
    seen: list[list] = []

    def second_copy():
        try:
            with claimed_rows(SmsRecipient, ids, ["pk"], claim, lease=LEASE) as (_, got):
                seen.append(got)
        finally:
            connection.close()

    with claimed_rows(SmsRecipient, ids, ["pk"], claim, lease=LEASE) as (_, got):
        assert len(got) == 6
        thread = threading.Thread(target=second_copy)
        thread.start()
        thread.join()
    assert seen == [[]]
    # Once the first lets go without recording (its worker died), a redelivered copy takes the page.
    thread = threading.Thread(target=second_copy)
    thread.start()
    thread.join()
    assert [len(got) for got in seen] == [0, 6]
