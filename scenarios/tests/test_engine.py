"""The fallback engine in-process: push first, an SMS when no device confirmed in time.

Events are consumed as the "scenarios" consumer does under beat; on PostgreSQL that needs
committed transactions (``transaction=True``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from devices.models import Device
from notifications.core.events import events_record
from notifications.core.models import StatusEvent
from notifications.models import Delivery, Message
from notifications.push import confirm, fanout, send
from notifications.tests.test_delivery import android
from scenarios import engine
from scenarios.accept import omni_send, push_send_to_user_with_fallback
from scenarios.models import OmniDestination, OmniStep, Product, StepState
from sms.models import SmsMessage, SmsRecipient

pytestmark = pytest.mark.django_db(transaction=True)


def push_then_sms(owner, app, destinations, timeout=10):
    flow = [
        {"channel": "push", "from": "MyBank", "appCode": app.code, "timeout": timeout},
        {"channel": "sms", "from": "SoftAfrik"},
    ]
    return omni_send(
        tenant=owner.tenant,
        product=Product.OMNI,
        flow=flow,
        sender="MyBank",
        destinations=destinations,
        push={"text": "Your code is 1234"},
        sms={"text": "Your code is 1234"},
    )


def fan_out_and_send():
    ids = [str(pk) for pk in Message.objects.filter(state="queued").values_list("pk", flat=True)]
    deliveries, _ = fanout.messages_fan_out_direct(message_ids=ids)
    if deliveries:
        send.deliveries_send(delivery_ids=deliveries)


def expire_timers():
    OmniStep.objects.filter(state=StepState.STARTED).update(due_at=timezone.now() - timedelta(seconds=1))


def test_push_confirmed_in_time_sends_no_sms(owner, push_app, person, sender, log_route):
    phone = android(owner, push_app, person)
    accepted = push_then_sms(owner, push_app, [{"userId": "cust-1"}])
    assert accepted.devices_count == 1
    fan_out_and_send()
    engine.omni_consume()
    destination = OmniDestination.objects.get()
    assert (destination.status, destination.channel) == ("sent", "push")
    push = Message.objects.get()
    confirm.delivery_confirm(tenant=owner.tenant, message_id=str(push.pk), device=phone)
    engine.omni_consume()
    expire_timers()
    assert engine.steps_time_out() == 0
    destination.refresh_from_db()
    assert (destination.status, destination.channel, destination.step) == ("delivered", "push", 0)
    assert SmsMessage.objects.count() == 0
    assert list(OmniStep.objects.values_list("index", "state")) == [(0, "delivered")]
    types = list(StatusEvent.objects.filter(channel="omni").values_list("type", flat=True))
    assert types == ["omni.step.delivered", "omni.destination.delivered"]


def test_push_never_confirmed_sends_exactly_one_sms_after_the_timeout(owner, push_app, person, sender, log_route):
    android(owner, push_app, person)
    push_then_sms(owner, push_app, [{"userId": "cust-1"}])
    fan_out_and_send()
    engine.omni_consume()
    assert engine.steps_time_out() == 0  # not due yet
    expire_timers()
    assert engine.steps_time_out() == 1
    assert engine.steps_time_out() == 0
    (recipient,) = SmsRecipient.objects.all()
    assert recipient.number == "+22890112233"
    steps = list(OmniStep.objects.values_list("index", "channel", "state", "recipient_id"))
    assert steps == [(0, "push", "timed_out", None), (1, "sms", "started", recipient.pk)]
    # The receipt of the SMS delivers the destination on the SMS channel.
    events_record(channel="sms", changes=[(owner.tenant.pk, recipient.message_id, recipient.pk, "delivered", "")])
    engine.omni_consume()
    destination = OmniDestination.objects.get()
    assert (destination.status, destination.channel, destination.step) == ("delivered", "sms", 1)


def test_a_push_receipt_after_the_sms_started_changes_nothing(owner, push_app, person, sender, log_route):
    phone = android(owner, push_app, person)
    push_then_sms(owner, push_app, [{"userId": "cust-1"}])
    fan_out_and_send()
    expire_timers()
    engine.omni_tick()
    confirm.delivery_confirm(tenant=owner.tenant, message_id=str(Message.objects.get().pk), device=phone)
    engine.omni_tick()
    assert SmsMessage.objects.count() == 1
    assert list(OmniStep.objects.values_list("state", flat=True)) == ["timed_out", "started"]
    assert OmniDestination.objects.get().channel == "sms"


def test_a_dead_token_sends_the_sms_at_once(owner, push_app, person, sender, log_route, fake_fcm):
    phone = android(owner, push_app, person)
    fake_fcm.fail_token(phone.token, "UNREGISTERED")
    push_then_sms(owner, push_app, [{"userId": "cust-1"}], timeout=3600)
    fan_out_and_send()
    assert Delivery.objects.get().status == "failed"
    engine.omni_consume()
    steps = list(OmniStep.objects.values_list("channel", "state", "reason"))
    assert steps == [("push", "failed", engine.ALL_DEVICES_FAILED), ("sms", "started", "")]
    assert SmsRecipient.objects.get().number == "+22890112233"
    assert Device.objects.get().is_active is False


def test_a_destination_with_no_device_gets_the_sms_at_accept(owner, push_app, sender, log_route):
    accepted = push_then_sms(owner, push_app, [{"phone": "+22890998877"}])
    assert accepted.devices_count == 0
    assert Message.objects.count() == 0
    steps = list(OmniStep.objects.values_list("channel", "state", "reason"))
    assert steps == [("push", "failed", engine.NO_DEVICE), ("sms", "started", "")]
    assert SmsRecipient.objects.get().number == "+22890998877"


def test_no_phone_and_no_device_ends_failed_with_its_events(owner, push_app, sender, log_route):
    push_then_sms(owner, push_app, [{"username": "nobody"}])
    destination = OmniDestination.objects.get()
    assert destination.status == "failed"
    steps = list(OmniStep.objects.values_list("channel", "state", "reason"))
    assert steps == [("push", "failed", engine.NO_DEVICE), ("sms", "failed", engine.NO_PHONE)]
    types = list(StatusEvent.objects.filter(channel="omni").order_by("id").values_list("type", flat=True))
    assert types == ["omni.step.failed", "omni.step.failed", "omni.destination.failed"]
    assert SmsMessage.objects.count() == 0


def test_the_softafrik_fallback_sends_an_sms_when_no_device_confirmed(owner, push_app, person, sender, log_route):
    android(owner, push_app, person)
    message = push_send_to_user_with_fallback(
        tenant=owner.tenant,
        puid=person.puid,
        title="Code",
        body="1234",
        data={},
        sms_text="Your code: 1234",
        sms_from="",
        after_seconds=30,
    )
    step = OmniStep.objects.get()
    assert (step.send_id, step.state) == (message.pk, "started")
    assert 29 <= (step.due_at - step.started_at).total_seconds() <= 31
    fan_out_and_send()
    expire_timers()
    engine.omni_tick()
    recipient = SmsRecipient.objects.get()
    assert (recipient.number, SmsMessage.objects.get().text) == ("+22890112233", "Your code: 1234")


def test_scenario_steps_reach_webhooks_as_omni_events(owner, push_app, sender, log_route, settings):
    import json

    from notifications.webhooks import consumer, services
    from notifications.webhooks.models import WebhookDelivery

    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    services.endpoint_create(
        tenant=owner.tenant, url="http://127.0.0.1:9/hook", event_types=["omni.step.failed", "omni.destination.failed"]
    )
    push_then_sms(owner, push_app, [{"username": "nobody"}])
    consumer.webhooks_consume()

    payloads = [json.loads(d.payload) for d in WebhookDelivery.objects.order_by("event_id")]
    assert [p["type"] for p in payloads] == ["omni.step.failed", "omni.step.failed", "omni.destination.failed"]
    assert [(p["data"]["step"], p["data"]["channel"]) for p in payloads] == [(0, "push"), (1, "sms"), (1, "sms")]
    assert payloads[0]["data"]["destination"] == {"username": "nobody"}


def test_one_tick_runs_at_a_time(owner, push_app, person, sender, log_route):
    from django.core.cache import cache

    from scenarios import tasks

    android(owner, push_app, person)
    push_then_sms(owner, push_app, [{"userId": "cust-1"}])
    fan_out_and_send()
    expire_timers()
    cache.set(tasks.TICK_LOCK, "another tick", timeout=30)
    try:
        assert tasks.omni_tick() == {"skipped": 1}
        assert SmsRecipient.objects.count() == 0
    finally:
        cache.delete(tasks.TICK_LOCK)
    assert tasks.omni_tick()["timed_out"] == 1
    assert cache.get(tasks.TICK_LOCK) is None
    assert SmsRecipient.objects.count() == 1


@pytest.mark.skipif(
    __import__("django.db").db.connection.vendor != "postgresql", reason="commit order differs from id order only there"
)
def test_a_receipt_hidden_behind_an_older_transaction_still_wins_over_its_timer(
    owner, push_app, person, sender, log_route
):
    """The receipt commits before the due time, but a transaction that started earlier is
    still running, so the consumer cannot see it yet: the timer must wait for it."""
    import threading

    from django.db import close_old_connections, connection, transaction

    phone = android(owner, push_app, person)
    push_then_sms(owner, push_app, [{"userId": "cust-1"}], timeout=3600)
    fan_out_and_send()
    engine.omni_tick()
    holding, release, done = threading.Event(), threading.Event(), threading.Event()

    def older_transaction():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_current_xact_id()")  # holds a transaction id
                holding.set()
                release.wait(20)
        finally:
            close_old_connections()
            connection.close()
            done.set()

    threading.Thread(target=older_transaction).start()
    assert holding.wait(10)
    try:
        confirm.delivery_confirm(tenant=owner.tenant, message_id=str(Message.objects.get().pk), device=phone)
        OmniStep.objects.filter(index=0).update(due_at=timezone.now())  # due after the receipt committed
        assert engine.omni_tick()["timed_out"] == 0
        assert OmniStep.objects.get().state == "started"
    finally:
        release.set()
        assert done.wait(20)
    engine.omni_tick()
    assert list(OmniStep.objects.values_list("state", flat=True)) == ["delivered"]
    assert SmsRecipient.objects.count() == 0
