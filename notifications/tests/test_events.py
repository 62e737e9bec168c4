"""Every status change of a push delivery writes its status event, once."""

import pytest

from notifications.core.models import StatusEvent
from notifications.core.status import DeliveryStatus
from notifications.models import Delivery
from notifications.push import accept, confirm, send
from notifications.tests.test_delivery import android, run
from softafrik.errors import NotFound


def events():
    return list(
        StatusEvent.objects.order_by("id").values_list(
            "tenant_id", "channel", "type", "send_id", "recipient_id", "status", "reason"
        )
    )


def test_a_sent_delivery_writes_push_delivery_sent(owner, push_app, customer, fake_fcm):
    android(owner, push_app, customer)
    message = accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="t", body="b", data={})
    run(message)
    delivery = Delivery.objects.get()
    assert events() == [(owner.tenant.pk, "push", "push.delivery.sent", message.pk, delivery.pk, "sent", "")]


def test_a_failed_delivery_writes_push_delivery_failed_with_its_reason(owner, push_app, customer, fake_fcm):
    phone = android(owner, push_app, customer)
    fake_fcm.fail_token(phone.token, "UNREGISTERED")
    message = accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="t", body="b", data={})
    run(message)
    delivery = Delivery.objects.get()
    assert events() == [
        (owner.tenant.pk, "push", "push.delivery.failed", message.pk, delivery.pk, "failed", "UNREGISTERED")
    ]


def test_a_retry_writes_no_event_until_the_delivery_ends(owner, push_app, customer, fake_fcm, settings):
    phone = android(owner, push_app, customer)
    fake_fcm.fail_token(phone.token, "UNAVAILABLE")
    run(accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="t", body="b", data={}))
    assert Delivery.objects.get().status == DeliveryStatus.PENDING
    assert events() == []


def test_a_confirmed_delivery_writes_push_delivery_delivered_once(owner, push_app, customer, fake_fcm):
    phone = android(owner, push_app, customer)
    message = accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="t", body="b", data={})
    run(message)
    confirm.delivery_confirm(tenant=owner.tenant, message_id=str(message.pk), device=phone)
    confirm.delivery_confirm(tenant=owner.tenant, message_id=str(message.pk), device=phone)  # the app retried
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert events()[1:] == [
        (owner.tenant.pk, "push", "push.delivery.delivered", message.pk, delivery.pk, "delivered", "")
    ]


def test_a_confirmation_for_another_tenants_message_writes_nothing(owner, outsider, push_app, customer, fake_fcm):
    phone = android(owner, push_app, customer)
    message = accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="t", body="b", data={})
    run(message)
    before = events()
    with pytest.raises(NotFound):
        confirm.delivery_confirm(tenant=outsider.tenant, message_id=str(message.pk), device=phone)
    assert events() == before
    assert Delivery.objects.get().status == DeliveryStatus.SENT


def test_a_confirmation_that_beats_the_record_of_its_send_stays_delivered(
    owner, push_app, customer, fake_fcm, monkeypatch
):
    """The app's receipt can arrive while the provider call is still out."""
    phone = android(owner, push_app, customer)
    message = accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="t", body="b", data={})
    real_send = send.PushChannel.send

    def send_then_confirm(self, rows):
        batch = real_send(self, rows)
        confirm.delivery_confirm(tenant=owner.tenant, message_id=str(message.pk), device=phone)
        return batch

    monkeypatch.setattr(send.PushChannel, "send", send_then_confirm)
    run(message)
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert [e[2] for e in events()] == ["push.delivery.delivered", "push.delivery.sent"]
