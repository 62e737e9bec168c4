"""Omni scenarios end to end: HTTP API -> real Celery worker and beat -> fake FCM (HTTP)
and the SMPP SMSC (with its delivery receipts) -> each destination's state.

The flow is the document's "PUSH && SMS" scenario: a push, and an SMS to the same person
when no device confirmed the push within the step's timeout. Beat ticks every second
(BEAT_SWEEP_SECONDS=1): status events move the steps, then due timers fire."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from devices.models import Device, EndUser
from devices.tokens import token_canonical
from notifications.core.events import events_record
from notifications.core.models import EventCursor, StatusEvent
from notifications.models import Delivery
from scenarios import engine
from scenarios.models import OmniDestination, OmniStep, StepState
from sms.models import SmsRecipient
from softafrik.testing.processes import process_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

BEAT_SECONDS = 1.0
PHONE = "+22890112233"
SMS_TEXT = "Votre code: 1234"
DELIVERED, PENDING = 4, 2  # Delevera's states


@pytest.fixture
def worker_env(fake_fcm, fake_apns, providers):
    return process_env(
        FCM_API_URL=fake_fcm.url,
        APNS_URL=fake_apns.url,
        APNS_CA_FILE=fake_apns.ca_file,
        WEBPUSH_ALLOW_HTTP="1",
        # As the push and SMS end-to-end tests: leases longer than a chunk's send, short grace.
        PUSH_SENDING_LEASE_SECONDS="15",
        PUSH_DISPATCH_GRACE_SECONDS="3",
        SMS_SENDING_LEASE_SECONDS="15",
        SMS_DISPATCH_GRACE_SECONDS="3",
        BEAT_SWEEP_SECONDS=str(BEAT_SECONDS),
    )


@pytest.fixture
def running(celery_procs):
    """A worker and beat, the worker ready: a step's timeout must not be spent on its start."""

    def start() -> tuple:
        worker = celery_procs("worker")
        beat = celery_procs("beat")
        wait_for(
            lambda: " ready." in worker.output() or worker.proc.poll() is not None,
            timeout=60,
            what="the worker to be ready",
        )
        assert worker.proc.poll() is None, f"the worker died at start:\n{worker.output()[-3000:]}"
        return worker, beat

    return start


# --- Through the API ---------------------------------------------------------------------


def bearer(tenant_client) -> dict:
    return {"Authorization": f"Bearer {tenant_client.key}"}


def delevera_post(tenant_client, path: str, body: dict) -> dict:
    response = tenant_client.client.post(path, body, format="json", headers=bearer(tenant_client))
    assert response.status_code == 200, response.content
    return response.json()


def scenario_create(owner, push_app, *, timeout: int) -> str:
    flow = [
        {"from": "MyBank", "appCode": push_app.code, "timeout": timeout, "channel": "push"},
        {"from": "SoftAfrik", "channel": "sms"},
    ]
    return delevera_post(owner, "/omni/v1/scenarios", {"name": "PUSH && SMS", "flow": flow})["scenarioKey"]


def person_register(owner, push_app, *, ref: str = "cust-1", phone: str = PHONE, token: str | None = None) -> None:
    """A person with a phone, and an Android device when ``token`` is given."""
    response = owner.post("/api/users/register", {"external_user_ref": ref, "phone": phone})
    assert response.status_code == 201, response.content
    if token:
        body = {"puid": response.json()["puid"], "app_name": push_app.name, "platform": "android"}
        response = owner.post("/api/devices/register", {**body, "device_token": token})
        assert response.status_code == 201, response.content


def omni_send(owner, scenario_key: str, destinations: list[dict]) -> dict:
    body = {
        "scenarioKey": scenario_key,
        "from": "Notification",
        "pushContent": {"text": SMS_TEXT},
        "smsContent": {"text": SMS_TEXT},
        "destinations": destinations,
    }
    return delevera_post(owner, "/omni/v1/messages", body)


def states(owner, message_id: str) -> list[tuple[int, str]]:
    """(state, channel) of each destination, as GET /omni/v1/messages/:id answers."""
    response = owner.client.get(f"/omni/v1/messages/{message_id}", headers=bearer(owner))
    assert response.status_code == 200, response.content
    return [(d["state"], d["channel"]) for d in response.json()["destinations"]]


# --- What the fakes and the database saw -------------------------------------------------


def fcm_token() -> str:
    return f"fcm-{uuid.uuid4().hex}{uuid.uuid4().hex}"


def pushes_to(fake_fcm, token: str) -> list[dict]:
    return [m for m in fake_fcm.received if m["token"] == token]


def sms_to(smsc, number: str) -> list:
    """Submits the SMSC accepted for ``number`` (E.164; the SMSC sees it without the +)."""
    return [s for s in smsc.received if s.destination == number.lstrip("+")]


def steps_of(message_id: str) -> list[OmniStep]:
    return list(OmniStep.objects.filter(message_id=message_id).order_by("destination_id", "index"))


def ticks_after(tenant, moment: datetime, *, count: int = 2, timeout: float = 30.0) -> None:
    """Return once ``count`` omni ticks have begun after ``moment``. Each tick consumes
    the status events waiting, then sweeps the timers: a marker event (an omni event,
    which the scenarios consumer reads past and never acts on) recorded after ``moment``
    that the consumer's cursor has passed shows a tick ran after ``moment``, whatever
    the machine's speed."""
    wait_for(lambda: timezone.now() > moment, timeout=timeout, what=f"the clock to pass {moment}")
    for _ in range(count):
        marker = uuid.uuid4()
        with transaction.atomic():
            events_record(channel="omni", changes=[(tenant.pk, marker, 0, "pending", "tick marker")])
        event = StatusEvent.objects.get(send_id=marker)

        def passed(event=event) -> bool:
            cursor = EventCursor.objects.filter(consumer=engine.CONSUMER).first()
            return cursor is not None and (cursor.txid, cursor.event_id) >= (event.txid, event.id)

        wait_for(passed, timeout=timeout, what="an omni tick to consume its marker")


# --- The tests ---------------------------------------------------------------------------


def test_push_confirmed_in_time_sends_no_sms(owner, push_app, sender, smsc, smpp_route, fake_fcm, running):
    timeout = 6
    token = fcm_token()
    person_register(owner, push_app, token=token)
    key = scenario_create(owner, push_app, timeout=timeout)
    running()

    message_id = omni_send(owner, key, [{"userId": "cust-1"}])["messageId"]
    (push,) = wait_for(lambda: pushes_to(fake_fcm, token), what="the push to reach FCM")
    response = owner.post("/api/push/delivered", {"id": push["data"]["sa_message_id"], "device_token": token})
    assert response.status_code == 200, response.content
    (step,) = steps_of(message_id)
    assert timezone.now() < step.due_at, "the push was confirmed after its timeout: the machine is too slow"

    wait_for(lambda: states(owner, message_id) == [(DELIVERED, "push")], what="the push step to be delivered")
    ticks_after(owner.tenant, step.due_at, count=3)

    assert smsc.received == []
    assert SmsRecipient.objects.count() == 0
    assert [(s.index, s.channel, s.state, s.due_at) for s in steps_of(message_id)] == [
        (0, "push", StepState.DELIVERED, None)
    ]
    assert states(owner, message_id) == [(DELIVERED, "push")]
    assert len(pushes_to(fake_fcm, token)) == 1


def test_push_never_confirmed_sends_one_sms_after_the_timeout(
    owner, push_app, sender, smsc, smpp_route, fake_fcm, running
):
    timeout = 3
    token = fcm_token()
    person_register(owner, push_app, token=token)
    key = scenario_create(owner, push_app, timeout=timeout)
    running()

    message_id = omni_send(owner, key, [{"userId": "cust-1"}])["messageId"]
    (push_step,) = steps_of(message_id)
    assert push_step.due_at == push_step.started_at + timedelta(seconds=timeout)
    wait_for(lambda: pushes_to(fake_fcm, token), what="the push to reach FCM")
    # Nothing of the SMS before the timeout: polled until just before it.
    while timezone.now() < push_step.due_at - timedelta(seconds=0.1):
        assert (smsc.received_count, SmsRecipient.objects.count()) == (0, 0)
        time.sleep(0.05)

    wait_for(lambda: sms_to(smsc, PHONE), timeout=timeout + 30, what="the SMS to reach the SMSC")
    wait_for(lambda: states(owner, message_id) == [(DELIVERED, "sms")], what="the SMS receipt to deliver it")
    ticks_after(owner.tenant, timezone.now(), count=2)

    (submit,) = smsc.received
    assert (submit.destination, submit.source, submit.payload.decode()) == ("22890112233", "SoftAfrik", SMS_TEXT)
    (recipient,) = SmsRecipient.objects.all()
    push_step, sms_step = steps_of(message_id)
    assert [(s.index, s.channel, s.state) for s in (push_step, sms_step)] == [
        (0, "push", StepState.TIMED_OUT),
        (1, "sms", StepState.DELIVERED),
    ]
    assert sms_step.recipient_id == recipient.pk
    waited = (sms_step.started_at - push_step.started_at).total_seconds()
    assert timeout <= waited <= timeout + 5, waited
    assert len(pushes_to(fake_fcm, token)) == 1


def test_a_dead_token_sends_the_sms_at_once(owner, push_app, sender, smsc, smpp_route, fake_fcm, running):
    token = fcm_token()
    person_register(owner, push_app, token=token)
    fake_fcm.fail_token(token, "UNREGISTERED")
    key = scenario_create(owner, push_app, timeout=3600)
    running()

    message_id = omni_send(owner, key, [{"userId": "cust-1"}])["messageId"]
    wait_for(lambda: sms_to(smsc, PHONE), timeout=60, what="the SMS to reach the SMSC")
    wait_for(lambda: states(owner, message_id) == [(DELIVERED, "sms")], what="the SMS receipt to deliver it")

    push_step, sms_step = steps_of(message_id)
    assert (push_step.state, push_step.reason) == (StepState.FAILED, engine.ALL_DEVICES_FAILED)
    assert (sms_step.channel, sms_step.state) == ("sms", StepState.DELIVERED)
    assert (sms_step.started_at - push_step.started_at).total_seconds() < 60
    assert Delivery.objects.get().status == "failed"
    assert Device.objects.get(token=token).is_active is False
    assert len(sms_to(smsc, PHONE)) == 1


def test_destinations_without_a_device_get_the_sms_at_once(owner, push_app, sender, smsc, smpp_route, running):
    person_register(owner, push_app, ref="no-device")  # a person with a phone, no device
    key = scenario_create(owner, push_app, timeout=3600)
    running()

    body = omni_send(owner, key, [{"userId": "no-device"}, {"phone": "22890998877"}])
    # At once: both SMS steps started in the request's transaction, their numbers queued.
    assert sorted(SmsRecipient.objects.values_list("number", flat=True)) == [PHONE, "+22890998877"]
    message_id = body["messageId"]
    assert body["devicesCount"] == 0
    assert body["destinations"] == [
        {"userId": "no-device", "state": PENDING},
        {"phone": "22890998877", "state": PENDING},
    ]
    wait_for(
        lambda: sms_to(smsc, PHONE) and sms_to(smsc, "+22890998877"), timeout=60, what="both SMS to reach the SMSC"
    )
    wait_for(lambda: states(owner, message_id) == [(DELIVERED, "sms")] * 2, what="the receipts to deliver them")

    steps = steps_of(message_id)
    expected = [(0, "push", StepState.FAILED, engine.NO_DEVICE), (1, "sms", StepState.DELIVERED, "")]
    assert [(s.index, s.channel, s.state, s.reason) for s in steps] == expected * 2
    assert {s.started_at for s in steps} == {steps[0].started_at}  # the accept's moment
    assert smsc.received_count == 2


def test_timers_pending_when_worker_and_beat_die_fire_once_after_restart(
    owner, push_app, sender, smsc, smpp_route, fake_fcm, running
):
    """SIGKILL the worker and beat while 1,000 push steps wait on their timers; the timers
    come due while nothing runs; after a restart each fires exactly once: one SMS step and
    one SMS per destination, none lost, none twice."""
    count = 1000
    users = EndUser.objects.bulk_create(
        EndUser(
            tenant=owner.tenant,
            puid=uuid.uuid4().hex,
            external_user_ref=f"cust-{n}",
            phone=f"+2289{n:07d}",
        )
        for n in range(1_000_000, 1_000_000 + count)
    )
    canonical = {user.phone: token_canonical("android", fcm_token()) for user in users}  # (token, hash)
    Device.objects.bulk_create(
        Device(tenant=owner.tenant, app=push_app, end_user=u, platform="android", token=t, token_hash=h)
        for u in users
        for t, h in [canonical[u.phone]]
    )
    tokens = {phone: token for phone, (token, _) in canonical.items()}
    key = scenario_create(owner, push_app, timeout=3600)
    worker, beat = running()

    message_id = omni_send(owner, key, [{"userId": u.external_user_ref} for u in users])["messageId"]
    assert OmniStep.objects.filter(message_id=message_id, state=StepState.STARTED, index=0).count() == count
    wanted = set(tokens.values())
    wait_for(lambda: len({m["token"] for m in fake_fcm.received} & wanted) == count, timeout=90, what="every push sent")
    wait_for(
        lambda: OmniDestination.objects.filter(message_id=message_id, status="sent").count() == count,
        timeout=30,
        what="every push step marked sent",
    )
    worker.kill()
    beat.kill()

    # The timers come due while nothing runs.
    moved = OmniStep.objects.filter(message_id=message_id, state=StepState.STARTED).update(
        due_at=timezone.now() - timedelta(seconds=1)
    )
    assert moved == count
    assert OmniStep.objects.filter(index=1).count() == 0
    running()
    wait_for(
        lambda: OmniStep.objects.filter(message_id=message_id, index=1).count() == count,
        timeout=60,
        what="every timer to fire",
    )
    wait_for(lambda: smsc.received_count >= count, timeout=120, what="every SMS to reach the SMSC")
    wait_for(
        lambda: (
            OmniDestination.objects.filter(message_id=message_id, status="delivered", channel="sms").count() == count
        ),
        timeout=60,
        what="every SMS receipt to deliver its destination",
    )
    ticks_after(owner.tenant, timezone.now(), count=2)

    steps = OmniStep.objects.filter(message_id=message_id)
    assert steps.filter(index=0, state=StepState.TIMED_OUT).count() == count
    assert steps.filter(index=1, channel="sms").count() == count
    assert steps.count() == 2 * count
    recipients = list(SmsRecipient.objects.values_list("number", flat=True))
    assert sorted(recipients) == sorted(tokens)
    submits: dict[str, int] = {}
    for submit in smsc.received:
        submits[submit.destination] = submits.get(submit.destination, 0) + 1
    assert submits == {phone.lstrip("+"): 1 for phone in tokens}
    sms_steps = steps.filter(index=1)
    assert len(set(sms_steps.values_list("recipient_id", flat=True))) == count
    assert len(set(sms_steps.values_list("destination_id", flat=True))) == count
