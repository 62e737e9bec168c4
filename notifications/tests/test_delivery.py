"""The delivery pipeline against the fake providers, run in-process (no worker)."""

import uuid
from datetime import timedelta

from django.utils import timezone

from devices.models import Device
from devices.services import device_register
from notifications.core.status import DeliveryStatus
from notifications.models import Delivery, Message, MessageState
from notifications.push import accept, fanout, send


def fcm_token() -> str:
    return f"fcm-{uuid.uuid4().hex}{uuid.uuid4().hex}"


def android(owner, app, user, token=None, country="TG"):
    return device_register(
        tenant=owner.tenant,
        end_user=user,
        app=app,
        platform="android",
        device_token=token or fcm_token(),
        country=country,
    )[0]


def run(message):
    """What the fan-out task does, inline: every page sent."""
    for page in fanout.message_fan_out(message_id=str(message.pk)):
        send.deliveries_send(delivery_ids=page.ids, claim=page.claim)


def received_for(fake, device):
    return [m for m in fake.received if m["token"] == device.token]


def test_push_to_user_reaches_every_active_device_once(owner, push_app, customer, fake_fcm):
    phones = [android(owner, push_app, customer) for _ in range(3)]
    message = accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="Hi", body="Paid", data={"n": 1})
    run(message)
    for phone in phones:
        (got,) = received_for(fake_fcm, phone)
        assert (got["title"], got["body"]) == ("Hi", "Paid")
        assert got["data"] == {"n": "1", "sa_message_id": str(message.pk)}
        assert got["collapse_key"] == str(message.pk)
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}
    assert Message.objects.get().state == MessageState.DISPATCHED


def test_unregistered_fcm_token_deactivates_device_and_fails_delivery(owner, push_app, customer, fake_fcm):
    phone = android(owner, push_app, customer)
    fake_fcm.fail_token(phone.token, "UNREGISTERED")
    run(accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="t", body="b", data={}))
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.error) == (DeliveryStatus.FAILED, "UNREGISTERED")
    device = Device.objects.get()
    assert (device.is_active, device.deactivated_reason) == (False, "UNREGISTERED")


def test_fcm_payload_error_fails_delivery_but_keeps_device(owner, push_app, customer, fake_fcm):
    phone = android(owner, push_app, customer)
    fake_fcm.fail_token(phone.token, "INVALID_ARGUMENT")
    run(accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="t", body="b", data={}))
    assert Delivery.objects.get().status == DeliveryStatus.FAILED
    assert Device.objects.get().is_active is True


def test_transient_error_is_retried_by_the_sweeper_then_sent(owner, push_app, customer, fake_fcm):
    phone = android(owner, push_app, customer)
    fake_fcm.fail_token(phone.token, "UNAVAILABLE", times=1)
    run(accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="t", body="b", data={}))
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
    assert delivery.next_attempt_at > timezone.now()
    Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    (chunk,) = send.deliveries_due()
    assert chunk == [delivery.pk]
    send.deliveries_send(delivery_ids=chunk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.error) == (DeliveryStatus.SENT, 2, "")
    assert len(received_for(fake_fcm, phone)) == 1


def test_transient_errors_end_failed_after_max_attempts(owner, push_app, customer, fake_fcm, settings):
    settings.PUSH_MAX_ATTEMPTS = 2
    phone = android(owner, push_app, customer)
    fake_fcm.fail_token(phone.token, "INTERNAL")
    run(accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="t", body="b", data={}))
    Delivery.objects.update(next_attempt_at=timezone.now())
    send.deliveries_send(delivery_ids=[Delivery.objects.get().pk])
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 2)
    assert "INTERNAL" in delivery.error


def test_a_repeated_send_task_sends_nothing_twice(owner, push_app, customer, fake_fcm):
    phone = android(owner, push_app, customer)
    message = accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="t", body="b", data={})
    (page,) = list(fanout.message_fan_out(message_id=str(message.pk)))
    send.deliveries_send(delivery_ids=page.ids, claim=page.claim)
    assert send.deliveries_send(delivery_ids=page.ids, claim=page.claim) == {}
    assert send.deliveries_send(delivery_ids=page.ids) == {}
    assert len(received_for(fake_fcm, phone)) == 1


def test_fan_out_resumes_after_a_crash_without_duplicate_rows(owner, push_app, customer, monkeypatch):
    monkeypatch.setattr(fanout, "FANOUT_CHUNK", 2)
    devices = [android(owner, push_app, customer) for _ in range(5)]
    message = accept.push_broadcast(tenant=owner.tenant, app=push_app, title="t", body="b", data={})
    first = fanout.message_fan_out(message_id=str(message.pk))
    next(first)  # one page committed, then the worker "dies"
    first.close()
    resumed = list(fanout.message_fan_out(message_id=str(message.pk)))
    assert [len(page.ids) for page in resumed] == [2, 1]
    assert Delivery.objects.count() == 5
    assert sorted(Delivery.objects.values_list("device_id", flat=True)) == sorted(d.pk for d in devices)
    message.refresh_from_db()
    assert (message.state, message.total_deliveries) == (MessageState.DISPATCHED, 5)


def test_broadcast_filters_by_country_and_skips_inactive_devices(owner, push_app, customer, fake_fcm):
    togo = android(owner, push_app, customer, country="TG")
    android(owner, push_app, customer, country="CI")
    gone = android(owner, push_app, customer, country="TG")
    Device.objects.filter(pk=gone.pk).update(is_active=False)
    message = accept.push_broadcast(tenant=owner.tenant, app=push_app, country="tg", title="t", body="b", data={})
    run(message)
    assert list(Delivery.objects.values_list("device_id", flat=True)) == [togo.pk]
    assert len(received_for(fake_fcm, togo)) == 1


def test_delivery_of_a_dead_worker_is_resent_after_its_lease(owner, push_app, customer, fake_fcm):
    phone = android(owner, push_app, customer)
    message = accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="t", body="b", data={})
    list(fanout.message_fan_out(message_id=str(message.pk)))  # rows written, send task lost
    stale = timezone.now() - fanout.sending_lease() - timedelta(seconds=1)
    Delivery.objects.update(status=DeliveryStatus.SENDING, claim=uuid.uuid4(), claimed_at=stale)
    (chunk,) = send.deliveries_due()
    send.deliveries_send(delivery_ids=chunk)
    assert Delivery.objects.get().status == DeliveryStatus.SENT
    (got,) = received_for(fake_fcm, phone)
    assert got["collapse_key"] == str(message.pk)  # a duplicate on the phone would replace, not stack


def test_app_without_fcm_credentials_fails_with_the_reason(owner, customer, providers):
    from devices.services import app_create

    bare = app_create(tenant=owner.tenant, name="Bare")
    android(owner, bare, customer)
    run(accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="t", body="b", data={}))
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.error) == (DeliveryStatus.FAILED, "app has no FCM credentials")


def test_queued_messages_are_claimed_once(owner, push_app, customer):
    first = accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="a", body="b", data={})
    second = accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="a", body="b", data={})
    assert sorted(fanout.messages_claim_queued()) == sorted([str(first.pk), str(second.pk)])
    assert fanout.messages_claim_queued() == []


def test_a_dead_workers_claim_is_taken_over_after_the_lease(owner, push_app, customer):
    message = accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="a", body="b", data={})
    fanout.messages_claim_queued()
    stale = timezone.now() - fanout.sending_lease() - timedelta(seconds=1)
    Message.objects.filter(pk=message.pk).update(claimed_at=stale, created_at=stale)
    assert fanout.messages_queued_waiting() is True
    assert fanout.messages_claim_queued() == [str(message.pk)]


def test_queued_to_user_and_to_device_sends_are_fanned_out_together(owner, push_app, fake_fcm):
    from devices.services import end_user_register
    from notifications.tasks import messages_fan_out_queued

    users = [end_user_register(tenant=owner.tenant, external_user_ref=f"u{n}", meta={})[0] for n in range(30)]
    phones = {user.puid: [android(owner, push_app, user) for _ in range(2)] for user in users}
    messages = {
        user.puid: accept.push_send_to_user(tenant=owner.tenant, puid=user.puid, title=f"to {n}", body="b", data={})
        for n, user in enumerate(users)
    }
    lone = phones[users[0].puid][0]
    direct = accept.push_send_to_device(tenant=owner.tenant, device=lone, title="direct", body="b", data={})
    requests_before = fake_fcm.send_requests

    assert messages_fan_out_queued() == 31

    for n, user in enumerate(users):  # each device got its own user's message, once
        for phone in phones[user.puid]:
            titles = sorted(m["title"] for m in received_for(fake_fcm, phone))
            assert titles == (sorted([f"to {n}", "direct"]) if phone == lone else [f"to {n}"])
    assert fake_fcm.send_requests - requests_before == 61  # one HTTP request per message and device
    assert set(Message.objects.values_list("state", flat=True)) == {MessageState.DISPATCHED}
    assert Message.objects.get(pk=messages[users[3].puid].pk).total_deliveries == 2
    assert Message.objects.get(pk=direct.pk).total_deliveries == 1
    assert Delivery.objects.count() == 61
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}

    assert messages_fan_out_queued() == 0  # nothing is fanned out or sent twice
    assert Delivery.objects.count() == 61
