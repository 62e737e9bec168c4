import uuid

import pytest

from devices.models import Device
from devices.services import app_create, device_register, end_user_register
from notifications.core.status import DeliveryStatus
from notifications.models import Delivery, InboxEntry, Message, MessageKind
from notifications.push.accept import push_send_to_user

TOKEN = "fcm-token-" + "a" * 40


@pytest.fixture
def app(owner):
    return app_create(tenant=owner.tenant, name="MyFintechApp")


@pytest.fixture
def user(owner):
    return end_user_register(tenant=owner.tenant, external_user_ref="cust-1", meta={})[0]


@pytest.fixture
def device(owner, app, user):
    return device_register(
        tenant=owner.tenant, end_user=user, app=app, platform="android", device_token=TOKEN, country="TG"
    )[0]


def test_push_to_user_is_accepted_with_an_id_and_kept_in_inbox(owner, user):
    response = owner.post("/api/push/to-user", {"puid": user.puid, "title": "Hi", "body": "Paid", "data": {"k": "v"}})
    assert response.status_code == 202
    message = Message.objects.get(pk=response.json()["id"])
    assert (message.kind, message.end_user_id, message.data) == (MessageKind.TO_USER, user.pk, {"k": "v"})
    entry = InboxEntry.objects.get()
    assert (entry.title, entry.body, entry.data, entry.is_read) == ("Hi", "Paid", {"k": "v"}, False)


def test_push_to_user_without_title_names_title_and_sends_nothing(owner, user):
    response = owner.post("/api/push/to-user", {"puid": user.puid, "body": "x"})
    assert response.status_code == 400
    assert response.json()["field"] == "title"
    assert Message.objects.count() == 0


def test_push_to_user_with_non_object_data_names_data(owner, user):
    response = owner.post("/api/push/to-user", {"puid": user.puid, "title": "t", "body": "b", "data": [1]})
    assert response.status_code == 400
    assert response.json()["field"] == "data"


def test_push_to_unknown_puid_is_404(owner):
    response = owner.post("/api/push/to-user", {"puid": "sa_1_nobody00", "title": "t", "body": "b"})
    assert response.status_code == 404
    assert response.json()["field"] == "puid"


def test_push_to_device_is_accepted(owner, device):
    response = owner.post("/api/push/to-device", {"device_token": TOKEN, "title": "t", "body": "b"})
    assert response.status_code == 202
    assert Message.objects.get().device_id == device.pk


def test_broadcast_records_filters(owner, device):
    response = owner.post(
        "/api/push/broadcast",
        {"app_name": "MyFintechApp", "country": "tg", "platform": "android", "title": "t", "body": "b"},
    )
    assert response.status_code == 202
    assert Message.objects.get().filters == {"country": "TG", "platform": "android"}


def test_broadcast_with_unknown_app_is_404(owner):
    response = owner.post("/api/push/broadcast", {"app_name": "Nope", "title": "t", "body": "b"})
    assert response.status_code == 404


def test_malformed_json_is_400_naming_body(owner):
    response = owner.client.post(
        "/api/push/to-user", data="{not json", content_type="application/json", headers={"X-API-KEY": owner.key}
    )
    assert response.status_code == 400
    assert response.json()["field"] == "body"


def test_inbox_lists_newest_first_with_documented_fields(owner, user):
    for n in range(3):
        push_send_to_user(tenant=owner.tenant, puid=user.puid, title=f"t{n}", body="b", data={"n": n})
    response = owner.get("/api/push/inbox", {"puid": user.puid})
    assert response.status_code == 200
    rows = response.json()
    assert [row["title"] for row in rows] == ["t2", "t1", "t0"]
    assert set(rows[0]) == {"id", "title", "body", "data", "is_read", "created_at"}
    assert rows[0]["data"] == {"n": 2}


def test_inbox_for_user_without_devices_or_messages_is_empty_list(owner, user):
    response = owner.get("/api/push/inbox", {"puid": user.puid})
    assert (response.status_code, response.json()) == (200, [])


def test_inbox_cursor_pages_through_all_entries_once(owner, user):
    for n in range(5):
        push_send_to_user(tenant=owner.tenant, puid=user.puid, title=f"t{n}", body="b", data={})
    first = owner.get("/api/push/inbox", {"puid": user.puid, "limit": 2})
    second = owner.get("/api/push/inbox", {"puid": user.puid, "limit": 2, "cursor": first["X-Next-Cursor"]})
    third = owner.get("/api/push/inbox", {"puid": user.puid, "limit": 2, "cursor": second["X-Next-Cursor"]})
    titles = [r["title"] for page in (first, second, third) for r in page.json()]
    assert titles == ["t4", "t3", "t2", "t1", "t0"]
    assert "X-Next-Cursor" not in third


def test_inbox_limit_out_of_range_names_limit(owner, user):
    response = owner.get("/api/push/inbox", {"puid": user.puid, "limit": 1000})
    assert response.status_code == 400
    assert response.json()["field"] == "limit"


def test_read_and_read_all(owner, user):
    for _ in range(2):
        push_send_to_user(tenant=owner.tenant, puid=user.puid, title="t", body="b", data={})
    first = InboxEntry.objects.order_by("pk").first()
    assert owner.post("/api/push/read", {"id": first.pk}).json() == {"success": True}
    assert list(InboxEntry.objects.order_by("pk").values_list("is_read", flat=True)) == [True, False]
    assert owner.post("/api/push/read-all", {"puid": user.puid}).json() == {"success": True}
    assert InboxEntry.objects.filter(is_read=False).count() == 0


def test_read_unknown_id_is_404(owner):
    assert owner.post("/api/push/read", {"id": 999999}).status_code == 404


def test_message_status_shows_per_device_state(owner, device, user):
    message = push_send_to_user(tenant=owner.tenant, puid=user.puid, title="t", body="b", data={})
    Delivery.objects.create(message=message, device=device, status=DeliveryStatus.FAILED, error="UNREGISTERED")
    body = owner.get(f"/api/push/messages/{message.pk}").json()
    assert body["summary"] == {"pending": 0, "sent": 0, "failed": 1, "delivered": 0}
    assert body["deliveries"][0]["status"] == "failed"
    assert body["deliveries"][0]["reason"] == "UNREGISTERED"
    assert body["deliveries"][0]["platform"] == "android"


def test_message_status_of_garbage_id_is_404(owner):
    assert owner.get("/api/push/messages/not-a-uuid").status_code == 404
    assert owner.get(f"/api/push/messages/{uuid.uuid4()}").status_code == 404


def test_delivered_receipt_marks_delivery_delivered(owner, device, user):
    message = push_send_to_user(tenant=owner.tenant, puid=user.puid, title="t", body="b", data={})
    Delivery.objects.create(message=message, device=device, status=DeliveryStatus.SENT)
    response = owner.post("/api/push/delivered", {"id": str(message.pk), "device_token": TOKEN})
    assert response.json() == {"success": True}
    assert Delivery.objects.get().status == DeliveryStatus.DELIVERED


def test_the_receipt_answers_a_browsers_preflight_without_a_key(owner, db):
    response = owner.client.options(
        "/api/push/delivered",
        headers={
            "Origin": "https://bank.example.tg",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-api-key",
        },
    )

    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert response["Access-Control-Allow-Headers"] == "Content-Type, X-API-KEY, Authorization"


def test_a_receipt_from_a_web_page_carries_cors_headers_even_when_refused(owner, device, user):
    message = push_send_to_user(tenant=owner.tenant, puid=user.puid, title="t", body="b", data={})
    Delivery.objects.create(message=message, device=device, status=DeliveryStatus.SENT)
    body = {"id": str(message.pk), "device_token": TOKEN}

    confirmed = owner.post("/api/push/delivered", body, Origin="https://bank.example.tg")
    refused = owner.client.post("/api/push/delivered", body, format="json", headers={"Origin": "https://x.example"})

    assert (confirmed.status_code, confirmed["Access-Control-Allow-Origin"]) == (200, "*")
    assert (refused.status_code, refused["Access-Control-Allow-Origin"]) == (401, "*")
    assert Delivery.objects.get().status == DeliveryStatus.DELIVERED


def test_other_endpoints_answer_no_cors(owner, user):
    response = owner.post(
        "/api/push/to-user", {"puid": user.puid, "title": "t", "body": "b"}, Origin="https://x.example"
    )

    assert response.status_code == 202
    assert "Access-Control-Allow-Origin" not in response


def test_outsider_gets_404_on_every_push_endpoint_and_changes_nothing(owner, outsider, device, user):
    message = push_send_to_user(tenant=owner.tenant, puid=user.puid, title="t", body="b", data={})
    Delivery.objects.create(message=message, device=device, status=DeliveryStatus.SENT)
    entry = InboxEntry.objects.get()
    app_create(tenant=outsider.tenant, name="Other")
    calls = [
        outsider.post("/api/push/to-user", {"puid": user.puid, "title": "t", "body": "b"}),
        outsider.post("/api/push/to-device", {"device_token": TOKEN, "title": "t", "body": "b"}),
        outsider.post("/api/push/broadcast", {"app_name": "MyFintechApp", "title": "t", "body": "b"}),
        outsider.get("/api/push/inbox", {"puid": user.puid}),
        outsider.post("/api/push/read", {"id": entry.pk}),
        outsider.post("/api/push/read-all", {"puid": user.puid}),
        outsider.get(f"/api/push/messages/{message.pk}"),
        outsider.post("/api/push/delivered", {"id": str(message.pk), "device_token": TOKEN}),
    ]
    assert [c.status_code for c in calls] == [404] * len(calls)
    assert Message.objects.count() == 1
    assert InboxEntry.objects.filter(is_read=True).count() == 0
    assert Delivery.objects.get().status == DeliveryStatus.SENT
    assert Device.objects.get().is_active is True


def test_schema_and_docs_are_served_without_a_cdn(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/push/to-user" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn.jsdelivr" not in docs.content and b"unpkg.com" not in docs.content
