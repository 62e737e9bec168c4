"""Sending deliveries to a real receiver on loopback: signed, retried on the published
schedule, stopped by a 410, every attempt recorded, replayable."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.webhooks import delivery, services
from notifications.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from notifications.webhooks.tests.conftest import (
    consume_all,
    endpoint_for,
    push_delivery,
    record,
    send_due,
    sms_recipient,
)

pytestmark = pytest.mark.django_db(transaction=True)

SCHEDULE = [0, 5, 300, 1800, 7200, 18000, 36000, 36000]


def make_due(**filters) -> None:
    """Move the clock on: the waiting deliveries' next attempt is now."""
    WebhookDelivery.objects.filter(status="pending", **filters).update(next_attempt_at=timezone.now())


def test_a_delivery_arrives_signed_and_is_done(owner, receiver, endpoint):
    row = sms_recipient(owner.tenant)
    record("sms", row, "delivered")
    consume_all()
    assert send_due() == {"sent": 1}
    (got,) = receiver.received
    assert got.verified is True
    assert got.payload["type"] == "sms.recipient.delivered"
    assert got.payload["data"]["ref"] == str(row.message_id)
    assert got.headers["content-type"] == "application/json"
    sent = WebhookDelivery.objects.get()
    assert got.headers["webhook-id"] == sent.webhook_id
    assert (sent.status, sent.attempts, sent.error, sent.next_attempt_at, sent.claim) == ("sent", 1, "", None, None)
    (attempt,) = WebhookAttempt.objects.all()
    assert (attempt.delivery_id, attempt.number, attempt.status_code, attempt.response, attempt.error) == (
        sent.pk,
        1,
        200,
        "ok",
        "",
    )
    assert attempt.url == endpoint.url
    assert send_due() == {}  # nothing more


def test_500_then_200_gets_the_event_again_on_schedule_and_no_more(owner, receiver, endpoint):
    receiver.answers = [500]
    record("push", push_delivery(owner.tenant), "delivered")
    consume_all()
    assert send_due() == {"retry": 1}
    waiting = WebhookDelivery.objects.get()
    first = WebhookAttempt.objects.get()
    delay = (waiting.next_attempt_at - first.at).total_seconds()
    assert 5 * 0.9 - 0.1 <= delay <= 5 * 1.1 + 0.1
    assert (waiting.status, waiting.attempts, waiting.error) == ("pending", 1, "HTTP 500")
    assert send_due() == {}  # not due yet
    make_due()
    assert send_due() == {"sent": 1}
    assert send_due() == {}
    make_due()
    assert send_due() == {}
    one, two = receiver.received
    assert (one.answered, two.answered) == (500, 200)
    assert one.headers["webhook-id"] == two.headers["webhook-id"]  # stable across retries
    assert one.body == two.body and one.verified and two.verified
    assert list(WebhookAttempt.objects.values_list("number", "status_code", "error")) == [
        (1, 500, "HTTP 500"),
        (2, 200, ""),
    ]


def test_retries_follow_the_published_schedule_then_fail(owner, receiver, endpoint):
    receiver.status = 503
    record("sms", sms_recipient(owner.tenant), "sent")
    consume_all()
    delays = []
    for _ in SCHEDULE:
        make_due()
        send_due()
        row = WebhookDelivery.objects.get()
        if row.status == "pending":
            last = WebhookAttempt.objects.order_by("-id").first()
            delays.append((row.next_attempt_at - last.at).total_seconds())
    assert len(receiver.received) == 8
    for seconds, expected in zip(delays, SCHEDULE[1:], strict=True):
        assert expected * 0.9 - 0.1 <= seconds <= expected * 1.1 + 0.1
    row = WebhookDelivery.objects.get()
    assert (row.status, row.attempts, row.error, row.next_attempt_at) == ("failed", 8, "HTTP 503", None)
    assert WebhookAttempt.objects.count() == 8
    make_due()
    assert send_due() == {}


def test_jitter_spreads_retries(settings):
    settings.WEBHOOK_RETRY_JITTER = 0.1
    delays = {round(delivery.retry_delay(2), 3) for _ in range(50)}
    assert len(delays) > 40
    assert all(270 <= d <= 330 for d in delays)
    assert delivery.retry_delay(8) is None


def test_410_disables_the_endpoint_and_stops_its_deliveries(owner, receiver, endpoint, allow_private):
    other = endpoint_for(owner.tenant, receiver, "/other")
    receiver.answers = [410]
    row = sms_recipient(owner.tenant)
    record("sms", row, "sent")
    consume_all()
    # One delivery per endpoint; send the first endpoint's alone so it meets the 410.
    mine = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.deliveries_send(delivery_ids=[mine.pk]) == {"failed": 1}
    endpoint.refresh_from_db()
    assert endpoint.is_enabled is False
    assert endpoint.disabled_reason.startswith(f"HTTP 410 from {endpoint.url} at ")
    mine.refresh_from_db()
    assert (mine.status, mine.error) == ("failed", "HTTP 410: endpoint disabled")
    assert send_due() == {"sent": 1}  # the other endpoint is not affected
    record("sms", row, "delivered")
    consume_all()
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 1  # nothing new for it
    assert WebhookDelivery.objects.filter(endpoint=other).count() == 2
    send_due()
    assert [r.path for r in receiver.received] == ["/hook", "/other", "/other"]


def test_410_stops_the_endpoints_other_waiting_deliveries(owner, receiver, endpoint):
    receiver.answers = [500, 410]
    rows = [sms_recipient(owner.tenant, number=f"+2289000{i:04d}") for i in range(2)]
    record("sms", rows[0], "sent")
    consume_all()
    assert send_due() == {"retry": 1}  # the first one waits for its retry
    record("sms", rows[1], "sent")
    consume_all()
    assert send_due() == {"failed": 1}  # the second meets the 410
    assert set(WebhookDelivery.objects.values_list("status", "error")) == {
        ("failed", "HTTP 410: endpoint disabled"),
        ("failed", "endpoint disabled"),
    }
    make_due()
    assert send_due() == {}
    assert len(receiver.received) == 2


def test_an_unreachable_endpoint_costs_one_attempt_per_chunk(owner, receiver, endpoint, allow_private):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = services.endpoint_create(tenant=owner.tenant, url=f"http://127.0.0.1:{port}/hook").endpoint
    rows = [sms_recipient(owner.tenant, number=f"+2289000{i:04d}") for i in range(12)]
    for row in rows:
        record("sms", row, "sent")
    consume_all()
    counts = send_due()
    assert counts["sent"] == 12  # the live endpoint is not held up
    attempted = WebhookAttempt.objects.filter(delivery__endpoint=down)
    assert 1 <= attempted.count() <= delivery.LANES_PER_ENDPOINT
    assert counts["retry"] == attempted.count()
    assert counts["postponed"] == 12 - attempted.count()
    waiting = WebhookDelivery.objects.filter(endpoint=down)
    assert set(waiting.values_list("status", flat=True)) == {"pending"}
    assert sorted(waiting.values_list("attempts", flat=True)) == sorted(
        [1] * attempted.count() + [0] * (12 - attempted.count())
    )
    assert waiting.filter(next_attempt_at__lte=timezone.now() + timedelta(seconds=4)).count() == 0
    assert attempted.first().error.startswith("ConnectError")


def test_a_legacy_endpoint_whose_tenant_url_was_removed_stops(owner, receiver, allow_private):
    owner.tenant.status_callback_url = receiver.url + "/cb"
    owner.tenant.save()
    record("sms", sms_recipient(owner.tenant), "sent")
    consume_all()
    owner.tenant.status_callback_url = ""
    owner.tenant.save()
    assert send_due() == {"failed": 1}
    row = WebhookDelivery.objects.get()
    assert (row.status, row.error, row.attempts) == ("failed", "status callback URL removed", 0)
    assert receiver.received == []


def test_a_failed_delivery_can_be_replayed(owner, receiver, endpoint):
    receiver.status = 500
    record("sms", sms_recipient(owner.tenant), "failed", "UNDELIV")
    consume_all()
    for _ in SCHEDULE:
        make_due()
        send_due()
    failed = WebhookDelivery.objects.get()
    assert failed.status == "failed"
    receiver.status = 200
    assert services.deliveries_replay(deliveries=WebhookDelivery.objects.all()) == (1, 0)
    assert send_due() == {"sent": 1}
    replayed = WebhookDelivery.objects.get()
    assert (replayed.status, replayed.attempts) == ("sent", 1)
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    assert WebhookAttempt.objects.count() == 9


def test_replay_skips_deliveries_of_a_disabled_endpoint(owner, receiver, endpoint):
    receiver.answers = [410]
    record("sms", sms_recipient(owner.tenant), "sent")
    consume_all()
    send_due()
    assert services.deliveries_replay(deliveries=WebhookDelivery.objects.all()) == (0, 1)
    assert WebhookDelivery.objects.get().status == "failed"


def test_a_delivery_whose_worker_died_is_sent_again_after_its_lease(owner, receiver, endpoint, settings):
    record("sms", sms_recipient(owner.tenant), "sent")
    consume_all()
    WebhookDelivery.objects.update(
        status="sending", attempts=1, claimed_at=timezone.now() - timedelta(seconds=301), next_attempt_at=None
    )
    assert send_due() == {"sent": 1}
    assert WebhookDelivery.objects.get().attempts == 2
    assert len(receiver.received) == 1


def test_a_redelivered_send_task_sends_nothing_twice(owner, receiver, endpoint):
    record("sms", sms_recipient(owner.tenant), "sent")
    consume_all()
    ids = [pk for chunk in delivery.deliveries_due() for pk in chunk]
    assert delivery.deliveries_send(delivery_ids=ids) == {"sent": 1}
    assert delivery.deliveries_send(delivery_ids=ids) == {}
    assert len(receiver.received) == 1


def test_a_disabled_endpoint_gets_nothing_already_queued(owner, receiver, endpoint):
    record("sms", sms_recipient(owner.tenant), "sent")
    consume_all()
    WebhookEndpoint.objects.update(is_enabled=False)
    assert send_due() == {"failed": 1}
    assert WebhookDelivery.objects.get().error == "endpoint disabled"
    assert receiver.received == []


def test_purge_removes_old_finished_deliveries_only(owner, receiver, endpoint):
    receiver.answers = [200, 500]
    for number in ("+22890000001", "+22890000002"):
        record("sms", sms_recipient(owner.tenant, number=number), "sent")
    consume_all()
    send_due()
    WebhookDelivery.objects.update(updated_at=timezone.now() - timedelta(days=31))
    assert services.deliveries_purge() == 1
    (left,) = WebhookDelivery.objects.all()
    assert left.status == "pending"
    assert WebhookAttempt.objects.filter(delivery=left).count() == 1
    assert WebhookAttempt.objects.count() == 1


def test_a_410_stops_the_rest_of_its_chunk_at_once(owner, receiver, endpoint):
    receiver.status = 410
    for i in range(12):
        record("sms", sms_recipient(owner.tenant, number=f"+2289000{i:04d}"), "sent")
    consume_all()
    send_due()
    assert 1 <= len(receiver.received) <= delivery.LANES_PER_ENDPOINT
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"failed"}
    assert WebhookAttempt.objects.count() == len(receiver.received)
    endpoint.refresh_from_db()
    assert endpoint.is_enabled is False
