"""The reports consumer folds status events into daily aggregates: each change once,
nothing twice after a crash, on the tenant's day, with the dimensions of its send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from accounts.models import Tenant
from notifications.core.models import EventCursor
from reports import consumer
from reports.consumer import reports_consume
from reports.models import CountedStatus, DailyStat, RecentFailure
from reports.tests.factories import CI, SN, TG, TG2, omni_send, push_app, push_send, record, sms_send
from sms import delivery
from sms.models import BlacklistedNumber
from sms.services import sms_submit

pytestmark = pytest.mark.django_db(transaction=True)  # consumers read only committed events

NOON = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def stats(**filters):
    return list(
        DailyStat.objects.filter(**filters)
        .order_by("day", "channel", "app", "sender", "country", "category", "campaign", "scenario")
        .values_list("day", "channel", "country", "outcomes", "sent", "delivered", "failed", "cost")
    )


def test_each_status_change_is_counted_once(owner):
    _, (tg, ci) = sms_send(owner.tenant, [TG, CI], at=NOON)
    record(owner.tenant, "sms", [tg, ci], "sent", at=NOON + timedelta(seconds=1))
    record(owner.tenant, "sms", [tg], "delivered", at=NOON + timedelta(seconds=4))
    record(owner.tenant, "sms", [tg], "delivered", at=NOON + timedelta(seconds=5))  # the receipt came twice
    record(owner.tenant, "sms", [ci], "failed", at=NOON + timedelta(seconds=9), reason="undelivered")
    assert reports_consume() == 5
    record(owner.tenant, "sms", [tg, ci], "sent", at=NOON + timedelta(seconds=10))  # a later, repeated hand-off
    assert reports_consume() == 2

    day = NOON.date()
    assert stats() == [(day, "sms", "CI", 1, 1, 0, 1, 100), (day, "sms", "TG", 1, 1, 1, 0, 100)]
    assert DailyStat.objects.get(country="TG").ttd_2 == 1  # delivered 4 s after the accept: the "<= 5 s" bucket
    assert list(RecentFailure.objects.values_list("recipient_id", "destination", "country", "reason")) == [
        (ci.pk, CI, "CI", "undelivered")
    ]


def test_a_receipt_that_beat_the_record_counts_the_hand_off_once(owner):
    app = push_app(owner.tenant)
    _, [delivery] = push_send(owner.tenant, app, ["SN"], unit_price=5, at=NOON)
    record(owner.tenant, "push", [delivery], "delivered", at=NOON + timedelta(seconds=1))
    record(owner.tenant, "push", [delivery], "sent", at=NOON + timedelta(seconds=2))
    reports_consume()
    assert stats() == [(NOON.date(), "push", "SN", 1, 1, 1, 0, 5)]
    assert DailyStat.objects.get().app == "MyFintechApp"


def test_a_number_that_failed_before_leaving_costs_nothing(owner):
    _, [number] = sms_send(owner.tenant, [TG], price=100, at=NOON)
    record(owner.tenant, "sms", [number], "failed", at=NOON, reason="blacklisted")
    reports_consume()
    assert stats() == [(NOON.date(), "sms", "TG", 1, 0, 0, 1, 0)]


def test_a_consumer_crash_mid_batch_counts_nothing_twice(owner, monkeypatch):
    _, numbers = sms_send(owner.tenant, [TG, TG2, CI], at=NOON)
    record(owner.tenant, "sms", numbers, "sent", at=NOON)
    record(owner.tenant, "sms", numbers[:1], "failed", at=NOON, reason="undelivered")

    def crash(**kwargs):  # the last write of the batch: counts and sums are already written
        raise RuntimeError("worker killed")

    monkeypatch.setattr(consumer, "rows_insert", _crash_on_failures(consumer.rows_insert, crash))
    with pytest.raises(RuntimeError):
        reports_consume()
    assert (DailyStat.objects.count(), CountedStatus.objects.count(), RecentFailure.objects.count()) == (0, 0, 0)
    assert not EventCursor.objects.filter(consumer="reports", event_id__gt=0).exists()

    monkeypatch.undo()
    assert reports_consume() == 4
    assert reports_consume() == 0
    assert stats() == [(NOON.date(), "sms", "CI", 1, 1, 0, 0, 100), (NOON.date(), "sms", "TG", 2, 2, 0, 1, 200)]
    assert RecentFailure.objects.count() == 1


def _crash_on_failures(real, crash):
    def rows_insert(**kwargs):
        if kwargs["table"] == RecentFailure._meta.db_table:
            crash(**kwargs)
        return real(**kwargs)

    return rows_insert


def test_a_day_is_the_tenants_day(owner):
    Tenant.objects.filter(pk=owner.tenant.pk).update(timezone="Pacific/Kiritimati")  # UTC+14
    _, [number] = sms_send(owner.tenant, [TG], at=NOON)
    record(owner.tenant, "sms", [number], "sent", at=datetime(2026, 11, 20, 11, 0, tzinfo=UTC))
    reports_consume()
    assert DailyStat.objects.get().day == datetime(2026, 11, 21).date()


def test_each_send_is_counted_under_its_own_dimensions(owner):
    _, sms_a = sms_send(owner.tenant, [TG, CI], sender="BANKTG", category="otp", campaign="Noel", at=NOON)
    _, sms_b = sms_send(owner.tenant, [TG], sender="PROMO", category="promo", at=NOON)
    app = push_app(owner.tenant, "Wallet")
    _, pushes = push_send(owner.tenant, app, ["TG", "TG"], at=NOON)
    _, steps = omni_send(owner.tenant, [SN, TG], scenario_name="Rappel", at=NOON)
    record(owner.tenant, "sms", [*sms_a, *sms_b], "sent", at=NOON)
    record(owner.tenant, "push", pushes, "sent", at=NOON)
    record(owner.tenant, "omni", steps[:1], "delivered", at=NOON, subject="destination")
    record(owner.tenant, "omni", steps[1:], "failed", at=NOON, subject="destination", reason="every step failed")
    record(owner.tenant, "omni", steps, "failed", at=NOON)  # the steps' own events: not destinations, not counted
    reports_consume()
    rows = DailyStat.objects.order_by("channel", "app", "sender", "country").values_list(
        "channel", "app", "sender", "country", "category", "campaign", "scenario", "outcomes", "delivered", "failed"
    )
    assert list(rows) == [
        ("omni", "", "SoftAfrik", "SN", "", "", "Rappel", 1, 1, 0),
        ("omni", "", "SoftAfrik", "TG", "", "", "Rappel", 1, 0, 1),
        ("push", "Wallet", "", "TG", "", "", "", 2, 0, 0),
        ("sms", "", "BANKTG", "CI", "otp", "Noel", "", 1, 0, 0),
        ("sms", "", "BANKTG", "TG", "otp", "Noel", "", 1, 0, 0),
        ("sms", "", "PROMO", "TG", "promo", "", "", 1, 0, 0),
    ]


def test_tenants_are_counted_apart(owner, outsider):
    _, [mine] = sms_send(owner.tenant, [TG], at=NOON)
    _, [theirs] = sms_send(outsider.tenant, [TG], at=NOON)
    record(owner.tenant, "sms", [mine], "sent", at=NOON)
    record(outsider.tenant, "sms", [theirs], "failed", at=NOON, reason="no route")
    reports_consume()
    assert stats(tenant=owner.tenant) == [(NOON.date(), "sms", "TG", 1, 1, 0, 0, 100)]
    assert stats(tenant=outsider.tenant) == [(NOON.date(), "sms", "TG", 1, 0, 0, 1, 0)]
    assert not RecentFailure.objects.filter(tenant=owner.tenant).exists()


def test_a_send_through_the_sms_pipeline_is_counted_from_its_events(owner, sender, log_route):
    BlacklistedNumber.objects.create(tenant=owner.tenant, number=CI)
    accepted = sms_submit(
        tenant=owner.tenant, dialect="test", sender="SoftAfrik", numbers=[TG, TG2, CI], text="Bonjour", category="otp"
    )
    for chunk in delivery.sms_dispatch(message_id=str(accepted.message.pk)):
        delivery.sms_send_chunk(recipient_ids=chunk)
    reports_consume()
    day = DailyStat.objects.values_list("day", flat=True).first()
    assert stats() == [(day, "sms", "CI", 1, 0, 0, 1, 0), (day, "sms", "TG", 2, 2, 0, 0, 200)]
    assert set(DailyStat.objects.values_list("sender", "category")) == {("SoftAfrik", "otp")}
    assert RecentFailure.objects.get().destination == CI
