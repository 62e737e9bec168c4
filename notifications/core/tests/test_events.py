"""Status events: recorded in bulk, consumed once in commit order, purged after retention."""

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from notifications.core.events import events_consume, events_purge, events_record
from notifications.core.models import EventCursor, StatusEvent

pytestmark = pytest.mark.django_db(transaction=True)


def record(owner, *recipient_ids, status="sent", at=None):
    send = uuid.uuid4()
    events_record(
        channel="sms", changes=[(owner.tenant.pk, send, pk, status, "") for pk in recipient_ids], occurred_at=at
    )


def consume(consumer="test", limit=1000):
    seen: list[int] = []
    count = events_consume(
        consumer=consumer, handle=lambda events: seen.extend(e.recipient_id for e in events), limit=limit
    )
    assert count == len(seen)
    return seen


def test_events_are_recorded_with_their_type(owner):
    send = uuid.uuid4()
    events_record(channel="push", changes=[(owner.tenant.pk, str(send), 7, "delivered", "")])
    event = StatusEvent.objects.get()
    assert (event.type, event.send_id, event.recipient_id, event.status) == (
        "push.delivery.delivered",
        send,
        7,
        "delivered",
    )


def test_a_consumer_gets_each_event_once_in_order(owner):
    record(owner, 1, 2, 3)
    assert consume(limit=2) == [1, 2]
    assert consume(limit=2) == [3]
    assert consume() == []
    record(owner, 4)
    assert consume() == [4]


def test_consumers_have_cursors_of_their_own(owner):
    record(owner, 1, 2)
    assert consume("webhooks") == [1, 2]
    assert consume("billing") == [1, 2]


def test_a_consumer_that_fails_mid_batch_gets_the_same_events_again(owner):
    record(owner, 1, 2, 3)

    def crash(events):
        EventCursor.objects.create(consumer="written-by-the-handler")  # its writes roll back too
        raise RuntimeError("killed mid-batch")

    with pytest.raises(RuntimeError):
        events_consume(consumer="test", handle=crash)
    assert not EventCursor.objects.filter(consumer="written-by-the-handler").exists()
    assert consume() == [1, 2, 3]
    assert consume() == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="commit order differs from id order only on PostgreSQL")
def test_an_event_committed_after_a_newer_one_is_not_skipped(owner):
    """A transaction that took a lower id but commits later: the consumer waits for it."""
    inserted, release, done = threading.Event(), threading.Event(), threading.Event()

    def slow_writer():
        try:
            with transaction.atomic():
                record(owner, 1)  # takes the lower id
                inserted.set()
                release.wait(10)
        finally:
            close_old_connections()
            connection.close()
            done.set()

    threading.Thread(target=slow_writer).start()
    assert inserted.wait(10)
    record(owner, 2)  # higher id, committed first
    assert consume() == []  # 2 must wait: 1 may still commit below it
    release.set()
    assert done.wait(10)
    assert consume() == [1, 2]


def test_purge_keeps_recent_events_and_those_a_consumer_has_not_handled(owner):
    old = timezone.now() - timedelta(days=40)
    record(owner, 1, 2, at=old)
    assert consume(limit=1) == [1]
    record(owner, 3, at=old)
    record(owner, 4)
    assert events_purge(older_than=timedelta(days=30), batch=1) == 1  # 2 and 3 wait for the consumer
    assert consume() == [2, 3, 4]
    assert events_purge(older_than=timedelta(days=30), batch=1) == 2
    assert list(StatusEvent.objects.values_list("recipient_id", flat=True)) == [4]


def test_the_hourly_purge_task_honours_the_retention_setting(owner, settings):
    from notifications.tasks import events_purge as purge_task

    settings.EVENT_RETENTION_DAYS = 7
    record(owner, 1, at=timezone.now() - timedelta(days=8))
    record(owner, 2, at=timezone.now() - timedelta(days=6))
    assert purge_task() == 1
    assert list(StatusEvent.objects.values_list("recipient_id", flat=True)) == [2]
    assert "events-purge" in settings.CELERY_BEAT_SCHEDULE


@pytest.mark.skipif(connection.vendor != "postgresql", reason="transaction ids are PostgreSQL's")
def test_a_long_transaction_in_another_database_does_not_hold_consumers_back(owner):
    """The horizon counts this database's transactions only (a dump or a benchmark next
    door must not stall webhooks and scenarios)."""
    import psycopg

    settings_dict = connection.settings_dict
    other = psycopg.connect(
        host=settings_dict["HOST"], port=settings_dict["PORT"], user=settings_dict["USER"], dbname="postgres"
    )
    try:
        other.execute("SELECT pg_current_xact_id()")  # holds a transaction id, open, elsewhere
        record(owner, 1, 2)
        assert consume() == [1, 2]
    finally:
        other.close()
