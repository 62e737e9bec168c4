"""HTTP request -> real Celery worker and beat -> SMSC over SMPP -> receipts -> status."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import DeliveryStatus
from sms.models import SmsRecipient
from softafrik.testing.processes import process_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker_env():
    # The lease outlasts a chunk's send even on a starved machine; short for the crash test.
    return process_env(SMS_SENDING_LEASE_SECONDS="15", SMS_DISPATCH_GRACE_SECONDS="3", BEAT_SWEEP_SECONDS="1")


def numbers(n: int) -> list[str]:
    return [f"+2289{n_:07d}" for n_ in range(1000000, 1000000 + n)]


def statuses(ref: str) -> set[str]:
    return set(SmsRecipient.objects.filter(message_id=ref).values_list("status", flat=True))


def test_muldes_goes_out_over_smpp_and_receipts_mark_delivered(owner, sender, smsc, smpp_route, celery_procs):
    celery_procs("worker")
    targets = numbers(40)
    response = owner.post("/api/V1/sms/muldes", {"emetteur": "SoftAfrik", "numeros": targets, "corps": "Bonjour"})
    assert response.status_code == 201
    ref = response.json()["ref"]
    wait_for(lambda: statuses(ref) == {DeliveryStatus.DELIVERED}, timeout=60, what="every number delivered")
    assert sorted(r.destination for r in smsc.received) == sorted(n[1:] for n in targets)
    body = owner.get(f"/api/V1/sms/{ref}").json()
    assert body["statut"] == "DELIVRE"
    assert {d["statut"] for d in body["destinataires"]} == {"DELIVRE"}


def test_scheduled_primotexto_send_is_dispatched_by_beat(owner, sender, smsc, smpp_route, celery_procs):
    celery_procs("worker")
    celery_procs("beat")
    when = timezone.now() + timedelta(seconds=3)
    response = owner.client.post(
        "/v2/notification/messages/send",
        {"number": "+22890123456", "message": "Rappel", "date": int(when.timestamp() * 1000)},
        format="json",
        headers={"X-Primotexto-ApiKey": owner.key},
    )
    assert response.status_code == 200
    ref = response.json()["snapshotId"]
    time.sleep(1)
    assert statuses(ref) == {DeliveryStatus.PENDING}
    assert smsc.received == []
    wait_for(lambda: statuses(ref) & {DeliveryStatus.SENT, DeliveryStatus.DELIVERED}, timeout=30, what="the send")
    (got,) = smsc.received
    assert got.destination == "22890123456"


def test_worker_killed_mid_campaign_loses_no_number(owner, sender, smsc, smpp_route, celery_procs):
    """SIGKILL while the SMSC holds submits; after a restart every number ends sent, and
    only numbers in flight at the kill may have been submitted twice."""
    smsc.response_delay = 0.5
    worker = celery_procs("worker", "-c", "1")
    celery_procs("beat")
    targets = numbers(1200)
    response = owner.post("/api/V1/sms/muldes", {"emetteur": "SoftAfrik", "numeros": targets, "corps": "Promo"})
    ref = response.json()["ref"]
    wait_for(lambda: smsc.received_count > 0, timeout=30, what="the first submits")
    worker.kill()
    time.sleep(1.0)
    before = {r.destination for r in smsc.received}
    smsc.response_delay = 0.0
    celery_procs("worker")
    wait_for(
        lambda: statuses(ref) <= {DeliveryStatus.SENT, DeliveryStatus.DELIVERED}, timeout=120, what="every number sent"
    )
    seen: dict[str, int] = {}
    for r in smsc.received:
        seen[r.destination] = seen.get(r.destination, 0) + 1
    assert set(seen) == {n[1:] for n in targets}
    assert all(count == 1 for dest, count in seen.items() if dest not in before)
    assert SmsRecipient.objects.filter(message_id=ref).count() == 1200
