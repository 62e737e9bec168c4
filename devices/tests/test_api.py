import json

import pytest

from devices.models import Device, EndUser
from devices.services import app_create

APNS_TOKEN = "a" * 64
FCM_TOKEN = "fcm-token-" + "x" * 40


@pytest.fixture
def app(owner):
    return app_create(tenant=owner.tenant, name="MyFintechApp")


@pytest.fixture
def puid(owner):
    return owner.post("/api/users/register", {"external_user_ref": "cust-1", "meta": {"tier": "gold"}}).json()["puid"]


def register(client, puid, token=FCM_TOKEN, platform="android", **extra):
    body = {"puid": puid, "app_name": "MyFintechApp", "platform": platform, "device_token": token, **extra}
    return client.post("/api/devices/register", body)


def test_register_user_returns_puid_with_tenant_number(owner):
    response = owner.post("/api/users/register", {"external_user_ref": "cust-1", "meta": {"a": 1}})
    assert response.status_code == 201
    body = response.json()
    assert body["puid"].startswith(f"sa_{owner.tenant.pk}_")
    assert len(body["puid"].split("_")[2]) == 8
    assert body["meta"] == {"a": 1}


def test_register_same_ref_returns_same_puid_and_updates_meta(owner):
    first = owner.post("/api/users/register", {"external_user_ref": "cust-1", "meta": {"a": 1}}).json()
    again = owner.post("/api/users/register", {"external_user_ref": "cust-1", "meta": {"a": 2}})
    assert again.status_code == 200
    assert again.json()["puid"] == first["puid"]
    assert EndUser.objects.get(puid=first["puid"]).meta == {"a": 2}


def test_register_user_without_ref_names_the_field(owner):
    response = owner.post("/api/users/register", {"meta": {}})
    assert response.status_code == 400
    assert response.json()["field"] == "external_user_ref"
    assert EndUser.objects.count() == 0


def test_missing_key_is_401_and_does_nothing(owner):
    response = owner.client.post("/api/users/register", {"external_user_ref": "x"}, format="json")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert EndUser.objects.count() == 0


def test_bearer_and_lowercase_header_authenticate(owner):
    bearer = owner.client.post(
        "/api/users/register",
        {"external_user_ref": "b"},
        format="json",
        headers={"Authorization": f"Bearer {owner.key}"},
    )
    lower = owner.client.post(
        "/api/users/register", {"external_user_ref": "c"}, format="json", HTTP_X_API_KEY=owner.key
    )
    assert (bearer.status_code, lower.status_code) == (201, 201)


def test_register_device_then_same_token_moves_to_new_user(owner, app, puid):
    assert register(owner, puid, country="tg", lang="fr").status_code == 201
    other = owner.post("/api/users/register", {"external_user_ref": "cust-2"}).json()["puid"]
    response = register(owner, other, country="CI")
    assert response.status_code == 200
    assert response.json() == {"success": True}
    device = Device.objects.get()
    assert (device.end_user.puid, device.country, device.is_active) == (other, "CI", True)


def test_register_web_device_accepts_subscription_object_or_string(owner, app, puid):
    sub = {"endpoint": "https://push.example/abc", "keys": {"p256dh": "BPk", "auth": "au"}}
    assert register(owner, puid, token=sub, platform="web").status_code == 201
    assert register(owner, puid, token=json.dumps(sub), platform="web").status_code == 200
    device = Device.objects.get()
    assert json.loads(device.token) == sub


def test_register_device_with_bad_platform_names_platform(owner, app, puid):
    response = register(owner, puid, platform="blackberry")
    assert response.status_code == 400
    assert response.json()["field"] == "platform"


def test_register_ios_device_with_non_hex_token_names_device_token(owner, app, puid):
    response = register(owner, puid, token="not-hex", platform="ios")
    assert response.status_code == 400
    assert response.json()["field"] == "device_token"
    assert Device.objects.count() == 0


def test_register_device_unknown_app_is_404(owner, app, puid):
    response = owner.post(
        "/api/devices/register", {"puid": puid, "app_name": "Nope", "platform": "ios", "device_token": APNS_TOKEN}
    )
    assert response.status_code == 404
    assert response.json()["field"] == "app_name"


def test_unregister_deactivates_device(owner, app, puid):
    register(owner, puid)
    response = owner.post("/api/devices/unregister", {"device_token": FCM_TOKEN})
    assert response.json() == {"success": True}
    assert Device.objects.get().is_active is False


def test_outsider_cannot_touch_owner_users_or_devices(owner, outsider, app, puid):
    register(owner, puid)
    app_create(tenant=outsider.tenant, name="MyFintechApp")
    assert register(outsider, puid).status_code == 404
    assert outsider.post("/api/devices/unregister", {"device_token": FCM_TOKEN}).status_code == 404
    assert (
        outsider.get("/api/apps/MyFintechApp").json()["app_code"]
        != owner.get("/api/apps/MyFintechApp").json()["app_code"]
    )
    device = Device.objects.get(tenant=owner.tenant)
    assert (device.is_active, device.end_user.puid) == (True, puid)
    assert Device.objects.filter(tenant=outsider.tenant).count() == 0
