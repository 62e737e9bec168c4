"""Delevera SMS dialect: send to destinations, read their states, Delevera's error bodies."""

from __future__ import annotations

import uuid

import pytest

from notifications.core.models import StatusEvent
from notifications.core.status import DeliveryStatus
from scenarios import engine
from scenarios.models import OmniDestination, OmniMessage
from sms.models import BlacklistedNumber, SenderName, SenderStatus, SmsMessage, SmsRecipient
from sms.services import BLACKLISTED, sms_submit
from softafrik.dialects.delevera import sms as delevera
from softafrik.dialects.delevera.errors import delevera_date

pytestmark = pytest.mark.django_db

MESSAGES = "/SMS/v1/messages"
TG = "+22890123456"
TG_OTHER = "+22891234567"
CI = "+2250701020304"


@pytest.fixture(autouse=True)
def _sms_ready(sender, log_route):
    """An approved default sender ("SoftAfrik") for the owner, and a LOG route."""


def bearer(tenant_client) -> dict:
    return {"Authorization": f"Bearer {tenant_client.key}"}


def send(tenant_client, **fields):
    body = {"text": "Votre colis arrive demain.", "from": "SoftAfrik", "destinations": [TG], **fields}
    return tenant_client.client.post(MESSAGES, body, format="json", headers=bearer(tenant_client))


def get(tenant_client, message_id: str, **params):
    return tenant_client.client.get(f"{MESSAGES}/{message_id}", params, headers=bearer(tenant_client))


def test_send_answers_pending_for_valid_and_failed_for_invalid_numbers(owner):
    response = send(owner, destinations=[TG, {"phone": CI}, "12345"])

    assert response.status_code == 200
    body = response.json()
    message = SmsMessage.objects.get()
    # A one-step SMS flow of the omni engine: the message and its one SMS send share an id.
    assert body["messageId"] == str(message.pk) == str(OmniMessage.objects.get().pk)
    assert body["createDate"] == delevera_date(OmniMessage.objects.get().created_at)  # as Delevera writes dates
    assert body["destinations"] == [
        {"phone": TG, "state": 2},
        {"phone": CI, "state": 2},
        {"phone": "12345", "state": 3, "reason": "not a valid number for country code +1"},
    ]
    assert (message.dialect, message.kind, message.sender, message.credits) == ("delevera", "bulk", "SoftAfrik", 2)
    assert sorted(SmsRecipient.objects.values_list("number", flat=True)) == [CI, TG]


def test_send_without_from_uses_the_default_sender(owner):
    response = owner.client.post(
        MESSAGES, {"text": "Bonjour", "destinations": [TG]}, format="json", headers=bearer(owner)
    )

    assert response.status_code == 200
    assert SmsMessage.objects.get().sender == "SoftAfrik"


def test_blacklisted_destination_is_failed_with_its_reason(owner):
    BlacklistedNumber.objects.create(tenant=owner.tenant, number=TG_OTHER)

    response = send(owner, destinations=[TG, TG_OTHER])

    assert response.json()["destinations"] == [
        {"phone": TG, "state": 2},
        {"phone": TG_OTHER, "state": 3, "reason": BLACKLISTED},
    ]
    assert SmsMessage.objects.get().credits == 1


def receipts(owner, message_id, changes):
    """What the "scenarios" consumer does with the SMS core's status events, in-process."""
    rows = {r.number: r.pk for r in SmsRecipient.objects.filter(message_id=message_id)}
    engine.omni_events_handle(
        [
            StatusEvent(
                tenant=owner.tenant,
                channel="sms",
                send_id=message_id,
                recipient_id=rows[number],
                status=status,
                reason=reason,
            )
            for number, status, reason in changes
        ]
    )


def test_get_shows_each_destinations_current_state(owner):
    message_id = send(owner, destinations=[TG, TG_OTHER, CI]).json()["messageId"]
    receipts(
        owner,
        message_id,
        [(TG, "sent", ""), (TG_OTHER, "failed", "absent subscriber"), (CI, "sent", ""), (CI, "delivered", "")],
    )

    response = get(owner, message_id)

    assert response.status_code == 200
    body = response.json()
    assert body["messageId"] == message_id
    assert body["destinations"] == [
        {"phone": TG, "state": 1},
        {"phone": TG_OTHER, "state": 3, "reason": "absent subscriber"},
        {"phone": CI, "state": 4},
    ]
    assert body["next"] is None


def test_get_pages_with_after_and_next(owner, monkeypatch):
    monkeypatch.setattr(delevera, "DESTINATIONS_PAGE", 2)
    message_id = send(owner, destinations=[TG, TG_OTHER, CI]).json()["messageId"]

    first = get(owner, message_id).json()
    second = get(owner, message_id, after=first["next"]).json()

    assert [d["phone"] for d in first["destinations"]] == [TG, TG_OTHER]
    assert first["next"] == OmniDestination.objects.get(phone=TG_OTHER).pk
    assert (second["destinations"], second["next"]) == ([{"phone": CI, "state": 2}], None)


def test_get_reads_a_send_accepted_before_the_omni_engine(owner, sender):
    legacy = sms_submit(tenant=owner.tenant, dialect="delevera", sender=None, numbers=[TG], text="Hi")

    body = get(owner, str(legacy.message.pk)).json()

    assert (body["messageId"], body["destinations"], body["next"]) == (
        str(legacy.message.pk),
        [{"phone": TG, "state": 2}],
        None,
    )


def test_missing_text_is_400_naming_text(owner):
    response = owner.client.post(MESSAGES, {"destinations": [TG]}, format="json", headers=bearer(owner))

    assert response.status_code == 400
    assert response.json() == {"code": 400, "message": "text: This field is required.", "field": "text"}
    assert SmsMessage.objects.count() == 0


def test_all_destinations_invalid_is_400_naming_destinations(owner):
    response = send(owner, destinations=["12345", "abc"])

    assert response.status_code == 400
    assert response.json() == {
        "code": 400,
        "message": "No valid number: not a valid number for country code +1.",
        "field": "destinations",
    }
    assert SmsMessage.objects.count() == 0


def test_unapproved_from_is_400_naming_from(owner):
    response = send(owner, **{"from": "Unknown"})

    assert response.status_code == 400
    assert response.json()["field"] == "from"
    assert SmsMessage.objects.count() == 0


def test_missing_bearer_is_401(owner):
    response = owner.client.post(MESSAGES, {"text": "x", "destinations": [TG]}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == 401
    assert SmsMessage.objects.count() == 0


def test_wrong_method_is_405(owner):
    response = owner.client.put(MESSAGES, {"text": "x", "destinations": [TG]}, format="json", headers=bearer(owner))

    assert response.status_code == 405
    assert response["Allow"] == "POST, OPTIONS"
    assert response.json() == {"code": 405, "message": 'Method "PUT" not allowed.'}
    assert SmsMessage.objects.count() == 0


def test_unknown_message_id_is_404(owner):
    response = get(owner, str(uuid.uuid4()))

    assert response.status_code == 404
    assert response.json() == {"code": 404, "message": "Unknown reference.", "field": "messageId"}


def test_outsider_gets_404_for_the_owners_message(owner, outsider):
    message_id = send(owner).json()["messageId"]

    response = get(outsider, message_id)

    assert response.status_code == 404
    assert response.json()["code"] == 404


@pytest.mark.parametrize(
    "destination", [{"phone": {}}, {"phone": None}, {"phone": []}, {"phone": 1.5}, {}, [], [TG], True, 1.5, "", " "]
)
def test_a_destination_that_is_not_a_number_is_400_naming_it(owner, destination):
    response = send(owner, destinations=[TG, destination])

    assert response.status_code == 400
    assert response.json() == {
        "code": 400,
        "message": 'destinations.1: Expected a phone number or {"phone": "..."}.',
        "field": "destinations.1",
    }
    assert SmsMessage.objects.count() == 0


def test_a_null_destination_is_400_naming_it(owner):
    response = send(owner, destinations=[None])

    assert response.status_code == 400
    assert response.json() == {
        "code": 400,
        "message": "destinations.0: This field may not be null.",
        "field": "destinations.0",
    }
    assert SmsMessage.objects.count() == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        *((field, value) for field in ("text", "from") for value in (None, [], {}, {"a": {}}, [TG])),
        *(("destinations", value) for value in (None, {}, {"phone": TG}, TG, 22890123456)),
    ],
)
def test_a_field_of_the_wrong_json_type_is_400_naming_it(owner, field, value):
    response = send(owner, **{field: value})

    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == (400, field)
    assert SmsMessage.objects.count() == 0


# --- Sender names of Delevera's documented examples (delevera-push-sms-omni-api.txt) -----


@pytest.mark.parametrize("name", ["hamarshi", "someSender", "Push"])
def test_documented_senders_within_11_characters_are_used(owner, name):
    SenderName.objects.create(tenant=owner.tenant, name=name, status=SenderStatus.APPROVED)

    response = send(owner, **{"from": name})

    assert response.status_code == 200
    assert SmsMessage.objects.get().sender == name


@pytest.mark.parametrize("name", ["SenderExample", "dashboard.api", "Notification"])
def test_documented_senders_over_11_characters_are_400_saying_the_limit(owner, name):
    SenderName.objects.create(tenant=owner.tenant, name=name, status=SenderStatus.APPROVED)

    response = send(owner, **{"from": name})

    assert response.status_code == 400
    assert response.json() == {
        "code": 400,
        "message": "Invalid sender: sender too long (max 11 characters).",
        "field": "from",
    }
    assert SmsMessage.objects.count() == 0


# --- Numbers "in international format without 00 or symbol (+)" ------------------------

SA = "+966501234567"


@pytest.mark.parametrize("destination", ["966501234567", {"phone": "966501234567"}, 966501234567, "966 50 123 4567"])
def test_a_bare_digit_string_is_an_international_number(owner, destination):
    response = send(owner, destinations=[destination])

    assert response.status_code == 200
    assert response.json()["destinations"] == [{"phone": SA, "state": 2}]
    assert list(SmsRecipient.objects.values_list("number", flat=True)) == [SA]


def test_a_bare_digit_string_is_international_for_a_tenant_without_a_default_region(db):
    from conftest import make_tenant_client

    tenant_client = make_tenant_client("No Region Ltd", region="")
    SenderName.objects.create(tenant=tenant_client.tenant, name="NoRegion", status=SenderStatus.APPROVED)

    response = send(tenant_client, **{"from": "NoRegion", "destinations": ["966501234567", "22890123456"]})

    assert response.status_code == 200
    assert response.json()["destinations"] == [{"phone": SA, "state": 2}, {"phone": TG, "state": 2}]


def test_a_bare_digit_string_is_not_read_in_the_tenants_region(owner):
    # 90123456 is a Togolese national number for a TG tenant elsewhere; here it is +90 123456.
    response = send(owner, destinations=[TG, "90123456"])

    assert response.status_code == 200
    assert response.json()["destinations"] == [
        {"phone": TG, "state": 2},
        {"phone": "90123456", "state": 3, "reason": "not a valid number for region TR"},
    ]
    assert list(SmsRecipient.objects.values_list("number", flat=True)) == [TG]


def test_the_same_number_bare_with_00_and_with_plus_goes_out_once(owner):
    response = send(owner, destinations=["966501234567", "00966501234567", SA])

    assert response.json()["destinations"] == [{"phone": SA, "state": 2}]
    assert SmsMessage.objects.get().credits == 1


def test_an_invalid_bare_number_comes_back_as_it_was_given(owner):
    response = send(owner, destinations=[TG, "0501234567", {"phone": "9665"}])

    assert response.json()["destinations"] == [
        {"phone": TG, "state": 2},
        {"phone": "0501234567", "state": 3, "reason": "unknown country calling code"},
        {"phone": "9665", "state": 3, "reason": "too short"},
    ]


# --- Unknown paths and wrong methods: Delevera's 404 and 405, never an HTML page ---------

NO_SUCH_ACTION = {"code": 404, "message": "No such action, please make sure that there is no typo in URL path."}


@pytest.mark.parametrize(
    "path",
    [
        "/SMS/v1/nope",
        "/SMS/v1/messages/",
        "/SMS/v1/messages/x/y",
        "/SMS/v2/messages",
        # Under Delevera's push and omni products, paths they do not have.
        "/push/v1/nope",
        "/push/v1/messages/x/y",
        "/push/v2/applications",
        "/omni/v1/nope",
        "/omni/v1/messages/x/y",
    ],
)
@pytest.mark.parametrize("method", ["get", "post", "patch", "delete"])
def test_unknown_path_is_delevera_404_no_such_action(owner, path, method):
    response = getattr(owner.client, method)(path, headers=bearer(owner))

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == NO_SUCH_ACTION


def test_unknown_path_needs_no_key(db):
    from rest_framework.test import APIClient

    response = APIClient().get("/omni/v1/nope")

    assert (response.status_code, response.json()) == (404, NO_SUCH_ACTION)


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_wrong_method_on_a_message_is_405_with_allow(owner, method):
    message_id = send(owner).json()["messageId"]

    response = getattr(owner.client, method)(f"{MESSAGES}/{message_id}", headers=bearer(owner))

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    assert response.json() == {"code": 405, "message": f'Method "{method.upper()}" not allowed.'}
    assert SmsMessage.objects.count() == 1


def test_outsider_gets_the_same_405_on_the_owners_message_and_changes_nothing(owner, outsider):
    message_id = send(owner).json()["messageId"]

    response = outsider.client.delete(f"{MESSAGES}/{message_id}", headers=bearer(outsider))

    assert (response.status_code, response["Allow"]) == (405, "GET, HEAD, OPTIONS")
    assert list(SmsRecipient.objects.values_list("status", flat=True)) == [DeliveryStatus.PENDING]
