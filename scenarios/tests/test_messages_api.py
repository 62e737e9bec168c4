"""Delevera's push and omni messages, from the document's examples (the test's own app
codes and device uids in place of the document's), and the SoftAfrik to-user fallback."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from devices.models import Device
from devices.services import device_register
from notifications.models import InboxEntry, Message
from notifications.push import confirm
from notifications.tests.test_delivery import fcm_token
from scenarios import engine
from scenarios.models import OmniDestination, OmniMessage, OmniStep
from scenarios.services import scenario_create
from softafrik.dialects.delevera.errors import delevera_date

pytestmark = pytest.mark.django_db

UID = "abf436b522ebd15a"


def bearer(tenant_client) -> dict:
    return {"Authorization": f"Bearer {tenant_client.key}"}


def post(tenant_client, path, body):
    return tenant_client.client.post(path, body, format="json", headers=bearer(tenant_client))


def get(tenant_client, path, **params):
    return tenant_client.client.get(path, params, headers=bearer(tenant_client))


def iso(at) -> str:
    return delevera_date(at)


@pytest.fixture
def device(owner, push_app, person):
    return device_register(
        tenant=owner.tenant, end_user=person, app=push_app, platform="android", device_token=fcm_token(), device_uid=UID
    )[0]


def test_push_example_with_empty_destinations_reaches_every_device_of_the_app(owner, push_app, device):
    response = post(
        owner,
        "/push/v1/messages",
        {"text": "push text example", "appCode": push_app.code, "from": "SenderExample", "destinations": []},
    )

    assert response.status_code == 200
    body = response.json()
    message = OmniMessage.objects.get()
    assert body == {
        "messageId": str(message.pk),
        "devicesCount": 1,
        "cost": "0.00",  # push is free by default
        "unit": "credits",
        "createDate": iso(message.created_at),
        "destinations": [{"uid": UID, "username": "kofi", "phone": "+22890112233", "email": "kofi@example.tg"}],
    }
    push = Message.objects.get()
    assert (push.kind, push.device_id, push.title, push.body) == (
        "to_device",
        device.pk,
        "SenderExample",
        "push text example",
    )


def test_push_message_status_example_gives_each_destination_its_state(owner, push_app, device):
    message_id = post(
        owner, "/push/v1/messages", {"text": "t", "appCode": push_app.code, "from": "S", "destinations": [{"uid": UID}]}
    ).json()["messageId"]

    body = get(owner, f"/push/v1/messages/{message_id}").json()

    assert body["messageId"] == message_id
    assert body["devicesCount"] == 1
    (destination,) = body["destinations"]
    steps = destination.pop("steps")
    assert destination == {
        "state": 2,
        "userId": "cust-1",
        "username": "kofi",
        "email": "kofi@example.tg",
        "phone": "+22890112233",
        "uid": UID,
        "channel": "push",
    }
    assert [(s["channel"], s["state"], s["endDate"]) for s in steps] == [("push", "started", None)]


@pytest.mark.django_db(transaction=True)
def test_omni_example_one_channel_push_then_delivered_state_4(owner, push_app, device):
    response = post(
        owner,
        "/omni/v1/messages",
        {
            "appCode": push_app.code,
            "pushContent": {"text": "test text"},
            "from": "Notification",
            "channel": "push",
            "destinations": [{"uid": UID}],
        },
    )

    assert response.status_code == 200
    body = response.json()
    message = OmniMessage.objects.get()
    assert body == {
        "messageId": str(message.pk),
        "devicesCount": 1,
        "cost": "0.00",  # push is free by default
        "unit": "credits",
        "createDate": iso(message.created_at),
        "destinations": [{"uid": UID, "state": 2}],
    }
    push = Message.objects.get()
    assert push.title == "Notification"
    from scenarios.tests.test_engine import fan_out_and_send

    fan_out_and_send()
    confirm.delivery_confirm(tenant=owner.tenant, message_id=str(push.pk), device=device)
    engine.omni_consume()
    # The document reads an omni message under /push/v1/messages/:id: both paths answer it.
    for path in (f"/omni/v1/messages/{message.pk}", f"/push/v1/messages/{message.pk}"):
        (destination,) = get(owner, path).json()["destinations"]
        assert (destination["state"], destination["uid"], destination["channel"]) == (4, UID, "push")


def test_omni_with_a_scenario_runs_its_first_step(owner, push_app, device, sender):
    scenario = scenario_create(
        tenant=owner.tenant,
        name="PUSH && SMS",
        flow=[
            {"from": "dashboard.api", "appCode": push_app.code, "timeout": 50, "channel": "push"},
            {"from": "SoftAfrik", "channel": "sms"},
        ],
    )

    response = post(
        owner,
        "/omni/v1/messages",
        {
            "scenarioKey": scenario.key,
            "from": "Notification",
            "pushContent": {"text": "Votre code: 1234"},
            "smsContent": {"text": "Votre code: 1234"},
            "destinations": [{"userId": "cust-1"}],
        },
    )

    assert response.status_code == 200
    assert response.json()["destinations"] == [{"userId": "cust-1", "state": 2}]
    step = OmniStep.objects.get()
    assert (step.channel, step.state) == ("push", "started")
    assert 49 <= (step.due_at - step.started_at).total_seconds() <= 51
    assert Message.objects.get().title == "dashboard.api"
    assert InboxEntry.objects.get().body == "Votre code: 1234"


def test_actions_reach_the_push_as_data_and_options(owner, push_app, device):
    actions = {"deepLink": "bank://otp", "callToAction": "Open", "issilent": "true", "soundname": "ping.caf"}
    actions |= {"Badge": "3", "Image": "https://cdn.example.tg/card.png"}
    response = post(
        owner,
        "/push/v1/messages",
        {"text": "t", "appCode": push_app.code, "from": "Bank", "destinations": [{"uid": UID}], "actions": actions},
    )

    assert response.status_code == 200
    push = Message.objects.get()
    assert push.data == {"deepLink": "bank://otp", "callToAction": "Open"}
    assert push.options == {
        "data_only": True,
        "badge": 3,
        "sound": "ping.caf",
        "image": "https://cdn.example.tg/card.png",
    }


def test_a_scheduled_push_starts_when_beat_reaches_its_time(owner, push_app, device):
    at = timezone.now() + timedelta(hours=1)
    response = post(
        owner,
        "/push/v1/messages",
        {
            "text": "t",
            "appCode": push_app.code,
            "from": "B",
            "destinations": [{"uid": UID}],
            "actions": {"Schedule": at.isoformat()},
        },
    )

    assert response.status_code == 200
    assert Message.objects.count() == 0
    assert engine.messages_start_scheduled() == 0
    OmniMessage.objects.update(start_at=timezone.now() - timedelta(seconds=1))
    assert engine.messages_start_scheduled() == 1
    assert engine.messages_start_scheduled() == 0
    assert Message.objects.get().device_id == device.pk


def test_platform_narrows_the_push_to_that_platform(owner, push_app, device):
    response = post(
        owner,
        "/push/v1/messages",
        {"text": "t", "appCode": push_app.code, "from": "B", "platform": "IOS", "destinations": [{"userId": "cust-1"}]},
    )

    assert response.json()["devicesCount"] == 0
    assert Message.objects.count() == 0
    assert OmniDestination.objects.get().status == "failed"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"appCode": "X", "from": "B"}, "text"),
        ({"text": "t", "appCode": "X"}, "from"),
        ({"text": "t", "from": "B"}, "appCode"),
        ({"text": "t", "appCode": "X", "from": "B", "platform": "BLACKBERRY"}, "platform"),
        ({"text": "t", "appCode": "X", "from": "B", "destinations": [{}]}, "destinations.0"),
        ({"text": "t", "appCode": "X", "from": "B", "actions": {"Schedule": "tomorrow"}}, "actions.Schedule"),
        ({"text": "t", "appCode": "X", "from": "B", "actions": {"Badge": "many"}}, "actions.Badge"),
    ],
)
def test_bad_push_input_is_400_naming_the_field(owner, push_app, body, field):
    body = {key: push_app.code if value == "X" else value for key, value in body.items()}

    response = post(owner, "/push/v1/messages", body)

    assert response.status_code == 400
    assert response.json()["field"] == field
    assert OmniMessage.objects.count() == 0


def test_omni_without_scenario_or_channel_is_400_naming_scenario_key(owner):
    response = post(owner, "/omni/v1/messages", {"from": "B", "destinations": [{"uid": UID}]})

    assert (response.status_code, response.json()["field"]) == (400, "scenarioKey")


def test_omni_push_without_app_code_is_400_naming_it(owner, device):
    body = {"from": "B", "channel": "push", "pushContent": {"text": "t"}, "destinations": [{"uid": UID}]}

    response = post(owner, "/omni/v1/messages", body)

    assert (response.status_code, response.json()["field"]) == (400, "appCode")
    assert OmniMessage.objects.count() == 0


def test_omni_sms_with_an_unapproved_sender_is_400_naming_it(owner, sender):
    body = {
        "from": "B",
        "channel": "sms",
        "smsContent": {"text": "t", "from": "Nobody"},
        "destinations": [{"phone": "22890112233"}],
    }

    response = post(owner, "/omni/v1/messages", body)

    assert (response.status_code, response.json()["field"]) == (400, "smsContent.from")
    assert OmniMessage.objects.count() == 0


def test_omni_sms_one_channel_sends_one_sms_with_the_message_id(owner, sender, log_route):
    body = {
        "from": "SoftAfrik",
        "channel": "sms",
        "smsContent": {"text": "Bonjour"},
        "destinations": [{"phone": "22890112233"}],
    }

    response = post(owner, "/omni/v1/messages", body)

    assert response.status_code == 200
    message = OmniMessage.objects.get()
    from sms.models import SmsMessage

    sms = SmsMessage.objects.get()
    assert (sms.pk, sms.sender, sms.text) == (message.pk, "SoftAfrik", "Bonjour")
    assert response.json()["destinations"] == [{"phone": "22890112233", "state": 2}]


def test_outsider_gets_404_for_the_owners_message_app_and_scenario(owner, outsider, push_app, device):
    message_id = post(
        owner, "/push/v1/messages", {"text": "t", "appCode": push_app.code, "from": "S", "destinations": [{"uid": UID}]}
    ).json()["messageId"]
    scenario = scenario_create(
        tenant=owner.tenant, name="s", flow=[{"from": "x", "channel": "push", "appCode": push_app.code}]
    )

    for path in (f"/push/v1/messages/{message_id}", f"/omni/v1/messages/{message_id}", "/push/v1/messages/not-a-uuid"):
        response = get(outsider, path)
        assert (response.status_code, response.json()["code"]) == (404, 404)
    sent = post(outsider, "/push/v1/messages", {"text": "t", "appCode": push_app.code, "from": "S"})
    assert (sent.status_code, sent.json()["field"]) == (404, "appCode")
    omni = post(outsider, "/omni/v1/messages", {"scenarioKey": scenario.key, "from": "S", "pushContent": {"text": "t"}})
    assert omni.status_code == 404
    assert OmniMessage.objects.count() == 1
    assert Message.objects.count() == 1


def test_messages_need_a_key_and_the_right_method(owner, db):
    assert owner.client.post("/push/v1/messages", {}, format="json").status_code == 401
    assert owner.client.get("/omni/v1/messages/x", headers={"Authorization": "Bearer nope"}).status_code == 401
    response = owner.client.put("/omni/v1/messages", {}, format="json", headers=bearer(owner))
    assert (response.status_code, response.json()["code"]) == (405, 405)


# --- SoftAfrik: POST /api/push/to-user with a fallback -----------------------------------


def test_to_user_with_fallback_is_a_two_step_flow(owner, push_app, person, device, sender):
    response = owner.post(
        "/api/push/to-user",
        {
            "puid": person.puid,
            "title": "Code",
            "body": "1234",
            "fallback": {"sms": {"text": "Code 1234"}, "after_seconds": 20},
        },
    )

    assert response.status_code == 202
    message = Message.objects.get()
    assert response.json() == {"id": str(message.pk), "status": "queued", "cost": "0.00", "unit": "credits"}
    omni = OmniMessage.objects.get()
    assert (omni.product, omni.flow[1]["sender"]) == ("softafrik", "SoftAfrik")
    step = OmniStep.objects.get()
    assert (step.send_id, step.channel, step.index) == (message.pk, "push", 0)


def test_to_user_fallback_needs_the_users_phone(owner, push_app, device, sender):
    plain = owner.post("/api/users/register", {"external_user_ref": "nophone"}).json()["puid"]

    response = owner.post(
        "/api/push/to-user",
        {"puid": plain, "title": "t", "body": "b", "fallback": {"sms": {"text": "x"}, "after_seconds": 5}},
    )

    assert (response.status_code, response.json()["field"]) == (400, "fallback.sms")
    assert Message.objects.count() == 0


@pytest.mark.parametrize(
    ("fallback", "field"),
    [
        ({"sms": {"text": "x"}}, "fallback.after_seconds"),
        ({"after_seconds": 5}, "fallback.sms"),
        ({"sms": {"text": "x", "from": "Nobody"}, "after_seconds": 5}, "fallback.sms.from"),
    ],
)
def test_bad_fallback_is_400_naming_the_field(owner, person, sender, fallback, field):
    response = owner.post("/api/push/to-user", {"puid": person.puid, "title": "t", "body": "b", "fallback": fallback})

    assert (response.status_code, response.json()["field"]) == (400, field)
    assert Message.objects.count() == 0
    assert Device.objects.count() == 0


def test_the_documents_content_type_list_is_understood(owner, push_app, device):
    response = owner.client.post(
        "/omni/v1/messages",
        json.dumps(
            {
                "appCode": push_app.code,
                "pushContent": {"text": "test text"},
                "from": "Notification",
                "channel": "push",
                "destinations": [{"uid": UID}],
            }
        ),
        content_type="application/json,application/json",
        headers=bearer(owner),
    )

    assert response.status_code == 200
    assert response.json()["destinations"] == [{"uid": UID, "state": 2}]


def test_an_unknown_scenario_key_is_404_naming_scenario_key(owner):
    response = post(owner, "/omni/v1/messages", {"scenarioKey": "0" * 24, "from": "B", "destinations": [{"uid": UID}]})

    assert response.status_code == 404
    assert response.json()["field"] == "scenarioKey"


def test_an_email_destination_is_matched_whatever_its_case(owner, push_app, device):
    response = post(
        owner,
        "/push/v1/messages",
        {"text": "t", "appCode": push_app.code, "from": "B", "destinations": [{"email": " Kofi@Example.TG"}]},
    )

    assert response.json()["devicesCount"] == 1
    assert OmniDestination.objects.get().end_user.external_user_ref == "cust-1"
