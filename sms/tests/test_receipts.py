"""Applying delivery receipts (``sms.receipts``) straight on the database: PostgreSQL runs
one statement per batch, SQLite the same rules in Python; these tests hold both to them."""

import threading

import pytest
from django.db import close_old_connections, connection

from notifications.core.models import StatusEvent
from notifications.core.status import DeliveryStatus
from sms import receipts
from sms.models import SmsMessage, SmsProviderId, SmsReceipt, SmsRecipient
from sms.providers.base import Receipt
from sms.receipts import receipts_apply_pending, receipts_ingest, receipts_sweep

pytestmark = pytest.mark.django_db(transaction=True)

TG = "+22890123456"


@pytest.fixture
def route(log_route):
    return log_route


def recipient(owner, route, *, parts=1, status=DeliveryStatus.SENT, provider_ids=("m-1",)):
    """A recipient whose submit is recorded (status sent, its parts' provider ids written)."""
    message = SmsMessage.objects.create(
        tenant=owner.tenant, dialect="test", kind="single", sender="SoftAfrik", text="x", encoding="gsm7", parts=parts
    )
    row = SmsRecipient.objects.create(message=message, tenant=owner.tenant, number=TG, parts=parts, status=status)
    SmsProviderId.objects.bulk_create(
        SmsProviderId(route=route, provider_message_id=pmid, recipient=row) for pmid in provider_ids
    )
    return row


def state(row):
    row.refresh_from_db()
    return row.status, row.parts_delivered, row.error


def ingest(route, *pairs):
    receipts_ingest(items=[(route.pk, Receipt(pmid, st, error)) for pmid, st, error in pairs])


def test_delivered_receipt_marks_recipient_delivered(owner, route):
    row = recipient(owner, route)
    ingest(route, ("m-1", "delivered", ""))
    assert state(row) == (DeliveryStatus.DELIVERED, 1, "")
    assert list(SmsReceipt.objects.values_list("provider_message_id", "state", "applied")) == [
        ("m-1", "delivered", True)
    ]


def test_failed_receipt_fails_recipient_with_its_error(owner, route):
    row = recipient(owner, route)
    ingest(route, ("m-1", "failed", "UNDELIV"))
    assert state(row) == (DeliveryStatus.FAILED, 0, "UNDELIV")


def test_failed_receipt_without_error_says_undelivered(owner, route):
    row = recipient(owner, route)
    ingest(route, ("m-1", "failed", ""))
    assert state(row) == (DeliveryStatus.FAILED, 0, "undelivered")


def test_multipart_is_delivered_once_every_part_is(owner, route):
    row = recipient(owner, route, parts=3, provider_ids=("p-1", "p-2", "p-3"))
    ingest(route, ("p-1", "delivered", ""), ("p-2", "delivered", ""))
    assert state(row) == (DeliveryStatus.SENT, 2, "")
    ingest(route, ("p-3", "delivered", ""))
    assert state(row) == (DeliveryStatus.DELIVERED, 3, "")


def test_final_recipient_keeps_its_first_verdict(owner, route):
    row = recipient(owner, route)
    ingest(route, ("m-1", "delivered", ""))
    ingest(route, ("m-1", "failed", "EXPIRED"))
    assert state(row) == (DeliveryStatus.DELIVERED, 1, "")
    assert SmsReceipt.objects.filter(applied=True).count() == 2


def test_intermediate_receipt_is_kept_and_changes_nothing(owner, route):
    row = recipient(owner, route)
    ingest(route, ("m-1", "sent", ""))
    assert state(row) == (DeliveryStatus.SENT, 0, "")
    assert list(SmsReceipt.objects.values_list("state", "applied")) == [("sent", True)]


def test_receipt_before_its_submit_is_recorded_waits_then_applies(owner, route):
    row = recipient(owner, route, status=DeliveryStatus.SENDING, provider_ids=())
    ingest(route, ("early", "delivered", ""))
    assert state(row) == (DeliveryStatus.SENDING, 0, "")
    assert SmsReceipt.objects.get().applied is False
    # The sender records the submit, then applies what waited for it.
    SmsRecipient.objects.filter(pk=row.pk).update(status=DeliveryStatus.SENT)
    SmsProviderId.objects.create(route=route, provider_message_id="early", recipient=row)
    receipts_apply_pending(provider_message_ids=[(route.pk, "early")])
    assert state(row) == (DeliveryStatus.DELIVERED, 1, "")
    assert SmsReceipt.objects.get().applied is True


def test_a_stored_receipt_is_applied_once(owner, route):
    row = recipient(owner, route, parts=2, provider_ids=("p-1", "p-2"), status=DeliveryStatus.SENDING)
    ingest(route, ("p-1", "delivered", ""))
    SmsRecipient.objects.filter(pk=row.pk).update(status=DeliveryStatus.SENT)
    receipts_apply_pending(provider_message_ids=[(route.pk, "p-1"), (route.pk, "p-2")])
    receipts_apply_pending(provider_message_ids=[(route.pk, "p-1"), (route.pk, "p-2")])
    receipts_sweep()
    assert state(row) == (DeliveryStatus.SENT, 1, "")


def test_sweep_applies_waiting_receipts_past_ones_nobody_submitted(owner, route, monkeypatch):
    monkeypatch.setattr(receipts, "SWEEP_LIMIT", 2)
    ingest(route, *[(f"stranger-{i}", "delivered", "") for i in range(3)])  # not ours: never match
    row = recipient(owner, route, status=DeliveryStatus.SENDING, provider_ids=())
    ingest(route, ("late", "delivered", ""))
    SmsRecipient.objects.filter(pk=row.pk).update(status=DeliveryStatus.SENT)
    SmsProviderId.objects.create(route=route, provider_message_id="late", recipient=row)
    receipts_sweep()
    assert state(row) == (DeliveryStatus.DELIVERED, 1, "")
    assert SmsReceipt.objects.filter(applied=False).count() == 3


def test_receipts_of_another_route_do_not_match(owner, route, at_route):
    row = recipient(owner, route)
    ingest(at_route, ("m-1", "delivered", ""))
    assert state(row) == (DeliveryStatus.SENT, 0, "")
    assert SmsReceipt.objects.get().applied is False


def events():
    return list(
        StatusEvent.objects.order_by("id").values_list(
            "tenant_id", "channel", "type", "send_id", "recipient_id", "status", "reason"
        )
    )


def test_final_receipts_write_one_status_event_each_for_every_tenant(owner, outsider, route):
    mine = recipient(owner, route, provider_ids=("mine",))
    theirs = recipient(outsider, route, provider_ids=("theirs",))
    ingest(route, ("mine", "delivered", ""), ("theirs", "failed", "UNDELIV"))
    assert sorted(events()) == sorted(
        [
            (owner.tenant.pk, "sms", "sms.recipient.delivered", mine.message_id, mine.pk, "delivered", ""),
            (outsider.tenant.pk, "sms", "sms.recipient.failed", theirs.message_id, theirs.pk, "failed", "UNDELIV"),
        ]
    )


def test_intermediate_and_repeated_receipts_write_no_event(owner, route):
    row = recipient(owner, route)
    ingest(route, ("m-1", "sent", ""))
    assert events() == []
    ingest(route, ("m-1", "delivered", ""))
    ingest(route, ("m-1", "delivered", ""))  # the SMSC repeats itself: the first verdict stands
    assert events() == [(owner.tenant.pk, "sms", "sms.recipient.delivered", row.message_id, row.pk, "delivered", "")]


def test_a_receipt_applied_after_its_submit_writes_its_event_then(owner, route):
    row = recipient(owner, route, status=DeliveryStatus.SENDING, provider_ids=())
    ingest(route, ("early", "delivered", ""))  # beats the write of its submit's id
    assert events() == []
    SmsRecipient.objects.filter(pk=row.pk).update(status=DeliveryStatus.SENT)
    SmsProviderId.objects.create(route=route, provider_message_id="early", recipient=row)
    receipts_apply_pending(provider_message_ids=[(route.pk, "early")])
    receipts_sweep()  # already applied: nothing more
    assert events() == [(owner.tenant.pk, "sms", "sms.recipient.delivered", row.message_id, row.pk, "delivered", "")]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
def test_parts_applied_at_once_by_two_writers_both_count(owner, route):
    rows = [recipient(owner, route, parts=2, provider_ids=(f"a-{i}", f"b-{i}")) for i in range(50)]
    barrier = threading.Barrier(2)

    def flush(prefix):
        try:
            barrier.wait()
            ingest(route, *[(f"{prefix}-{i}", "delivered", "") for i in range(50)])
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=flush, args=(prefix,)) for prefix in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {state(row) for row in rows} == {(DeliveryStatus.DELIVERED, 2, "")}
