"""API -> real Celery worker and beat -> providers on loopback -> status events -> webhooks
-> a receiver on loopback that verifies every request with the ``standardwebhooks``
package."""

from __future__ import annotations

import time
import uuid

import pytest

from devices.services import device_register
from notifications.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from softafrik.testing.processes import process_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

A, B = "+22891000001", "+22891000002"


@pytest.fixture
def worker_env(fake_fcm, fake_apns, providers):
    return process_env(
        FCM_API_URL=fake_fcm.url,
        APNS_URL=fake_apns.url,
        APNS_CA_FILE=fake_apns.ca_file,
        WEBPUSH_ALLOW_HTTP="1",
        WEBHOOK_ALLOW_PRIVATE_URLS="1",  # the receiver is on loopback
        BEAT_SWEEP_SECONDS="1",
    )


def subscribe(owner, receiver, path, events=None) -> str:
    body = {"url": receiver.url + path} | ({"events": events} if events is not None else {})
    response = owner.post("/api/webhooks", body)
    assert response.status_code == 201, response.content
    receiver.keys[path] = response.json()["secret"]
    return response.json()["id"]


def muldes(owner, numbers) -> str:
    response = owner.post("/api/V1/sms/muldes", {"emetteur": "SoftAfrik", "numeros": numbers, "corps": "Bonjour"})
    assert response.status_code == 201, response.content
    return response.json()["ref"]


def start(celery_procs) -> None:
    celery_procs("worker")
    celery_procs("beat")


def test_sms_sent_delivered_and_failed_arrive_signed(
    owner, sender, smsc, smpp_route, receiver, allow_private, celery_procs
):
    subscribe(owner, receiver, "/sms")
    smsc.undeliverable(B[1:])
    start(celery_procs)
    ref = muldes(owner, [A, B])
    wait_for(lambda: len(receiver.received) >= 4, timeout=90, what="four SMS webhooks")
    time.sleep(2)  # and no more
    got = receiver.received
    assert len(got) == 4
    assert all(r.verified is True for r in got)
    assert {(r.payload["data"]["number"], r.payload["type"]) for r in got} == {
        (A, "sms.recipient.sent"),
        (A, "sms.recipient.delivered"),
        (B, "sms.recipient.sent"),
        (B, "sms.recipient.failed"),
    }
    for r in got:
        data = r.payload["data"]
        assert (data["channel"], data["ref"], data["status"]) == ("sms", ref, r.payload["type"].rsplit(".", 1)[1])
        assert r.headers["webhook-id"].startswith("msg_") and r.headers["x-softafrik-signature"].startswith("sha256=")
    (failed,) = [r.payload["data"] for r in got if r.payload["type"] == "sms.recipient.failed"]
    assert failed["reason"]
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"sent"}


def test_push_sent_failed_and_delivered_arrive_signed(
    owner, push_app, customer, fake_fcm, receiver, allow_private, celery_procs
):
    subscribe(
        owner, receiver, "/push", events=["push.delivery.sent", "push.delivery.failed", "push.delivery.delivered"]
    )
    good, dead = (f"fcm-{uuid.uuid4().hex * 2}" for _ in range(2))
    for token, uid in ((good, "phone-good"), (dead, "phone-dead")):
        device_register(
            tenant=owner.tenant, end_user=customer, app=push_app, platform="android", device_token=token, device_uid=uid
        )
    fake_fcm.fail_token(dead, "UNREGISTERED")
    start(celery_procs)
    response = owner.post("/api/push/to-user", {"puid": customer.puid, "title": "Hello", "body": "Credit 500 XOF"})
    message_id = response.json()["id"]
    wait_for(lambda: len(receiver.received) >= 2, timeout=90, what="the sent and failed webhooks")
    assert owner.post("/api/push/delivered", {"id": message_id, "device_token": good}).status_code == 200
    wait_for(lambda: len(receiver.received) >= 3, timeout=60, what="the delivered webhook")
    time.sleep(2)
    got = receiver.received
    assert len(got) == 3
    assert all(r.verified is True for r in got)
    assert {(r.payload["data"]["device_uid"], r.payload["type"]) for r in got} == {
        ("phone-good", "push.delivery.sent"),
        ("phone-dead", "push.delivery.failed"),
        ("phone-good", "push.delivery.delivered"),
    }
    for r in got:
        data = r.payload["data"]
        assert (data["channel"], data["id"], data["platform"]) == ("push", message_id, "android")
    assert got[-1].payload["type"] == "push.delivery.delivered"


def test_a_receiver_answering_500_then_200_gets_the_event_again_on_schedule_and_no_more(
    owner, sender, smsc, smpp_route, receiver, allow_private, celery_procs
):
    receiver.answers = [500]
    subscribe(owner, receiver, "/retry", events=["sms.recipient.sent"])
    start(celery_procs)
    muldes(owner, [A])
    wait_for(lambda: len(receiver.received) >= 2, timeout=90, what="the retry")
    first, second = receiver.received[:2]
    gap = second.at - first.at
    # 5 s +-10% jitter, then the next beat tick (every second, a beat and a broker hop late
    # at worst on the filesystem broker).
    assert 4.4 <= gap <= 5.5 + 4.0, gap
    assert (first.answered, second.answered) == (500, 200)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] and first.body == second.body
    assert first.verified and second.verified
    time.sleep(6)  # past where a third attempt would be
    assert len(receiver.received) == 2
    (delivery,) = WebhookDelivery.objects.all()
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    assert list(WebhookAttempt.objects.order_by("id").values_list("status_code", flat=True)) == [500, 200]


def test_a_410_disables_the_endpoint(owner, sender, smsc, smpp_route, receiver, allow_private, celery_procs):
    receiver.answers = [410]
    endpoint_id = subscribe(owner, receiver, "/gone", events=["sms.recipient.sent"])
    start(celery_procs)
    muldes(owner, [A])
    wait_for(
        lambda: not WebhookEndpoint.objects.get(pk=endpoint_id).is_enabled, timeout=90, what="the endpoint disabled"
    )
    ref = muldes(owner, [B])
    wait_for(
        lambda: owner.get(f"/api/V1/sms/{ref}").json()["destinataires"][0]["statut"] in ("ENVOYE", "DELIVRE"),
        timeout=60,
        what="the second send to go out",
    )
    time.sleep(3)  # its event consumed by now; nothing for a disabled endpoint
    assert len(receiver.received) == 1
    assert WebhookDelivery.objects.count() == 1
    assert [e["enabled"] for e in owner.get("/api/webhooks").json()] == [False]
