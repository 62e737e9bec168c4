"""HTTP request -> real Celery worker (and beat) -> fake provider -> delivery state."""

from __future__ import annotations

import time
import uuid

import pytest

from devices.models import Device
from devices.services import device_register
from notifications.models import Delivery
from softafrik.testing.processes import process_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker_env(fake_fcm, fake_apns, providers):
    return process_env(
        FCM_API_URL=fake_fcm.url,
        APNS_URL=fake_apns.url,
        APNS_CA_FILE=fake_apns.ca_file,
        WEBPUSH_ALLOW_HTTP="1",
        # Longer than a chunk takes to send even on a starved CI machine (or the sweeper
        # would resend a chunk still being sent), short enough for the crash test.
        PUSH_SENDING_LEASE_SECONDS="15",
        PUSH_DISPATCH_GRACE_SECONDS="3",
        BEAT_SWEEP_SECONDS="1",
    )


def status_of(message_id: str) -> set[str]:
    return set(Delivery.objects.filter(message_id=message_id).values_list("status", flat=True))


def register_device(owner, customer, push_app, platform, token):
    return device_register(tenant=owner.tenant, end_user=customer, app=push_app, platform=platform, device_token=token)[
        0
    ]


def test_android_push_goes_through_worker_to_fcm(owner, push_app, customer, fake_fcm, celery_procs):
    token = f"fcm-{uuid.uuid4().hex * 2}"
    register_device(owner, customer, push_app, "android", token)
    celery_procs("worker")
    response = owner.post("/api/push/to-user", {"puid": customer.puid, "title": "Hello", "body": "Credit 500 XOF"})
    message_id = response.json()["id"]
    wait_for(lambda: status_of(message_id) == {"sent"}, what="the FCM delivery to be sent")
    (got,) = [m for m in fake_fcm.received if m["token"] == token]
    assert (got["title"], got["body"]) == ("Hello", "Credit 500 XOF")
    body = owner.get(f"/api/push/messages/{message_id}").json()
    assert body["summary"] == {"pending": 0, "sent": 1, "failed": 0, "delivered": 0}


def test_ios_push_goes_through_worker_to_apns(owner, push_app, customer, fake_apns, celery_procs):
    token, dead = uuid.uuid4().hex * 2, uuid.uuid4().hex * 2
    register_device(owner, customer, push_app, "ios", token)
    register_device(owner, customer, push_app, "ios", dead)
    fake_apns.fail_token(dead, "Unregistered")
    celery_procs("worker")
    response = owner.post("/api/push/to-user", {"puid": customer.puid, "title": "Hi", "body": "iOS"})
    message_id = response.json()["id"]
    wait_for(lambda: status_of(message_id) == {"sent", "failed"}, what="both APNs deliveries to end")
    (got,) = [n for n in fake_apns.received if n.token == token]
    assert got.payload["aps"]["alert"] == {"title": "Hi", "body": "iOS"}
    assert (got.topic, got.collapse_id) == ("com.softafrik.demo", message_id)
    assert Device.objects.get(token=dead).deactivated_reason == "Unregistered"
    assert Device.objects.get(token=token).is_active is True


def test_web_push_goes_through_worker_and_is_decrypted(owner, push_app, customer, fake_webpush, celery_procs):
    subscription = fake_webpush.new_subscription()
    register_device(owner, customer, push_app, "web", subscription)
    celery_procs("worker")
    response = owner.post(
        "/api/push/to-user", {"puid": customer.puid, "title": "Web", "body": "Decrypt me", "data": {"a": "b"}}
    )
    message_id = response.json()["id"]
    wait_for(lambda: status_of(message_id) == {"sent"}, what="the Web Push delivery to be sent")
    got = [p for p in fake_webpush.received if p.endpoint == subscription["endpoint"]]
    assert len(got) == 1
    assert got[0].payload["title"] == "Web"
    assert got[0].payload["body"] == "Decrypt me"
    assert got[0].payload["data"]["a"] == "b"


def test_dead_token_is_deactivated_by_the_worker(owner, push_app, customer, fake_fcm, celery_procs):
    token = f"fcm-{uuid.uuid4().hex * 2}"
    register_device(owner, customer, push_app, "android", token)
    fake_fcm.fail_token(token, "UNREGISTERED")
    celery_procs("worker")
    message_id = owner.post("/api/push/to-device", {"device_token": token, "title": "t", "body": "b"}).json()["id"]
    wait_for(lambda: status_of(message_id) == {"failed"}, what="the delivery to fail")
    assert Device.objects.get(token=token).is_active is False


def test_transient_failure_is_retried_by_beat(owner, push_app, customer, fake_fcm, celery_procs):
    token = f"fcm-{uuid.uuid4().hex * 2}"
    register_device(owner, customer, push_app, "android", token)
    fake_fcm.fail_token(token, "UNAVAILABLE", times=1)
    celery_procs("worker")
    celery_procs("beat")
    message_id = owner.post("/api/push/to-device", {"device_token": token, "title": "t", "body": "b"}).json()["id"]
    wait_for(lambda: status_of(message_id) == {"sent"}, timeout=60, what="the retry to be sent")
    assert Delivery.objects.get(message_id=message_id).attempts == 2


def test_worker_killed_mid_chunk_loses_nothing(owner, push_app, customer, fake_fcm, celery_procs, monkeypatch):
    """SIGKILL while the first chunk is in flight at FCM. After a restart every delivery
    ends sent; chunks that had not started are sent exactly once; the in-flight chunk is
    resent after its lease with the same collapse key, so a phone that had it replaces it."""
    tokens = [f"fcm-{uuid.uuid4().hex * 2}" for _ in range(1100)]
    Device.objects.bulk_create(
        Device(tenant=owner.tenant, app=push_app, end_user=customer, platform="android", token=t, token_hash=t[-64:])
        for t in tokens
    )
    wanted = set(tokens)
    fake_fcm.delay = 1.0
    try:
        worker = celery_procs("worker", "-c", "1")
        celery_procs("beat")
        before = fake_fcm.send_requests
        response = owner.post("/api/push/broadcast", {"app_name": "MyFintechApp", "title": "Crash", "body": "test"})
        message_id = response.json()["id"]
        wait_for(lambda: fake_fcm.send_requests > before, what="the first chunk to reach FCM")
        worker.kill()
        time.sleep(fake_fcm.delay + 0.5)  # the fake records a request once its delay is over
        in_flight = {m["token"] for m in fake_fcm.received if m["token"] in wanted}
        fake_fcm.delay = 0.0
        celery_procs("worker")
        wait_for(lambda: status_of(message_id) == {"sent"}, timeout=90, what="every delivery to end sent")
    finally:
        fake_fcm.delay = 0.0
    copies: dict[str, list[dict]] = {}
    for m in fake_fcm.received:
        if m["token"] in wanted:
            copies.setdefault(m["token"], []).append(m)
    assert set(copies) == wanted
    assert 0 < len(in_flight) <= 500
    for token, got in copies.items():
        if token in in_flight:
            assert len(got) <= 2
            assert {m["collapse_key"] for m in got} == {message_id}
        else:
            assert len(got) == 1, token
    assert Delivery.objects.filter(message_id=message_id).count() == 1100
