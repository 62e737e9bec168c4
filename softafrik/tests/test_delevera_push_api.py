"""Delevera push, applications and devices (/push/v1/applications...): the document's
examples, keyset pages, Delevera's error bodies, and an outsider who finds nothing."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.scopes import DELIVERIES_CONFIRM
from accounts.services import api_key_create
from devices.models import App, Device, EndUser
from devices.selectors import apps_overview
from devices.services import app_create
from softafrik.dialects.delevera.errors import delevera_date

pytestmark = pytest.mark.django_db

APPLICATIONS = "/push/v1/applications"
DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
FCM_ACCOUNT = (
    '{"type": "service_account", "project_id": "p", "private_key": "k", "client_email": "e", "token_uri": "u"}'
)


def bearer(tenant_client) -> dict:
    return {"Authorization": f"Bearer {tenant_client.key}"}


def get(tenant_client, path: str, **params):
    return tenant_client.client.get(path, params, headers=bearer(tenant_client))


def make_app(tenant, name: str, *, fcm: bool = False, apns: bool = False) -> App:
    app = app_create(tenant=tenant, name=name)
    if fcm:
        app.fcm_service_account = FCM_ACCOUNT
    if apns:
        app.apns_key, app.apns_key_id, app.apns_team_id, app.apns_topic = "pem", "KEYID", "TEAMID", "com.example"
    app.save()
    return app


def make_device(app: App, *, end_user: EndUser | None = None, uid: str = "", platform="android", active=True):
    n = Device.objects.count()
    return Device.objects.create(
        tenant=app.tenant,
        app=app,
        end_user=end_user,
        platform=platform,
        token=f"token-{n}",
        token_hash=f"{n:064x}",
        device_uid=uid,
        is_active=active,
    )


def rocky(tenant) -> EndUser:
    """The document's example user."""
    return EndUser.objects.create(
        tenant=tenant,
        puid=f"sa_{tenant.pk}_rocky000",
        external_user_ref="cust-rocky",
        username=" Rocky",
        email="rocky@mail.ru",
        phone="386052955",
    )


def device_body(device: Device, **fields) -> dict:
    return {
        "userId": "",
        "username": "",
        "email": "",
        "phone": "",
        "deviceUid": device.device_uid,
        "deviceType": "ANDROID",
        "createDate": delevera_date(device.created_at),
        "modifyDate": delevera_date(device.updated_at),
        **fields,
    }


# --- Applications ------------------------------------------------------------------------


def test_application_is_the_documented_example(owner):
    app = make_app(owner.tenant, "Anas Firebase", fcm=True)
    for _ in range(4):
        make_device(app)
    make_device(app, active=False)
    make_device(make_app(owner.tenant, "Other"))

    response = get(owner, f"{APPLICATIONS}/{app.code}")

    assert response.status_code == 200
    app.refresh_from_db()
    assert response.json() == {
        "appName": "Anas Firebase",
        "appCode": app.code,
        "apns": {"active": False},
        "fcm": {"active": True},
        "createDate": delevera_date(app.created_at),
        "modifyDate": delevera_date(app.updated_at),
        "countDevices": 4,
    }
    assert DATE.match(response.json()["createDate"])


def test_applications_lists_the_tenants_apps_with_their_providers_and_active_devices(owner):
    first = make_app(owner.tenant, "First", apns=True)
    second = make_app(owner.tenant, "Second", fcm=True, apns=True)
    make_device(first, platform="ios")
    make_device(second, active=False)

    response = get(owner, APPLICATIONS)

    assert response.status_code == 200
    first.refresh_from_db()
    second.refresh_from_db()
    assert response.json() == [
        {
            "appName": "First",
            "appCode": first.code,
            "apns": {"active": True},
            "fcm": {"active": False},
            "createDate": delevera_date(first.created_at),
            "modifyDate": delevera_date(first.updated_at),
            "countDevices": 1,
        },
        {
            "appName": "Second",
            "appCode": second.code,
            "apns": {"active": True},
            "fcm": {"active": True},
            "createDate": delevera_date(second.created_at),
            "modifyDate": delevera_date(second.updated_at),
            "countDevices": 0,
        },
    ]


def test_no_application_is_an_empty_list(owner):
    response = get(owner, APPLICATIONS)

    assert (response.status_code, response.json()) == (200, [])


def test_applications_take_one_query_whatever_their_number(owner):
    get(owner, APPLICATIONS)  # the key is now cached
    make_device(make_app(owner.tenant, "One"))
    with CaptureQueriesContext(connection) as one:
        assert len(get(owner, APPLICATIONS).json()) == 1
    for name in ("Two", "Three", "Four"):
        make_device(make_app(owner.tenant, name))
    with CaptureQueriesContext(connection) as four:
        assert len(get(owner, APPLICATIONS).json()) == 4

    app_queries = [q["sql"] for q in four.captured_queries if '"devices_app"' in q["sql"]]
    assert len(four.captured_queries) == len(one.captured_queries)
    assert len(app_queries) == 1


@pytest.mark.parametrize(
    ("fcm", "apns_parts"),
    [
        ("", ("", "", "", "")),
        (FCM_ACCOUNT, ("", "", "", "")),
        ("", ("pem", "KEYID", "TEAMID", "com.example")),
        ("", ("pem", "KEYID", "TEAMID", "")),
        ("", ("", "KEYID", "TEAMID", "com.example")),
        (FCM_ACCOUNT, ("pem", "", "TEAMID", "com.example")),
    ],
)
def test_provider_flags_say_what_the_apps_properties_say(owner, fcm, apns_parts):
    app = make_app(owner.tenant, "Flags")
    app.fcm_service_account = fcm
    app.apns_key, app.apns_key_id, app.apns_team_id, app.apns_topic = apns_parts
    app.save()
    app = App.objects.get(pk=app.pk)

    listed = apps_overview(tenant=owner.tenant).get()

    assert (listed.fcm_active, listed.apns_active) == (app.has_fcm, app.has_apns)


def test_unknown_app_code_is_404_naming_app_code(owner):
    response = get(owner, f"{APPLICATIONS}/app_nope")

    assert response.status_code == 404
    assert response.json() == {"code": 404, "message": "Unknown app code.", "field": "appCode"}


# --- Devices -----------------------------------------------------------------------------


def test_devices_is_the_documented_example(owner):
    app = make_app(owner.tenant, "Shop", fcm=True)
    device = make_device(app, end_user=rocky(owner.tenant), uid="d3fc3eaf3a6fe1a")

    response = get(owner, f"{APPLICATIONS}/{app.code}/devices")

    assert response.status_code == 200
    assert response.json() == [
        device_body(device, userId="cust-rocky", username=" Rocky", email="rocky@mail.ru", phone="386052955")
    ]
    assert "Link" not in response
    assert DATE.match(response.json()[0]["modifyDate"])


def test_device_is_the_documented_example(owner):
    app = make_app(owner.tenant, "Shop", fcm=True)
    device = make_device(app, end_user=rocky(owner.tenant), uid="d3fc3eaf3a6fe1a")

    response = get(owner, f"{APPLICATIONS}/{app.code}/devices/d3fc3eaf3a6fe1a")

    assert response.status_code == 200
    assert response.json() == device_body(
        device, userId="cust-rocky", username=" Rocky", email="rocky@mail.ru", phone="386052955"
    )


def test_a_device_without_user_has_empty_user_fields_as_documented(owner):
    app = make_app(owner.tenant, "Shop")
    device = make_device(app, uid="web-1", platform="web")

    response = get(owner, f"{APPLICATIONS}/{app.code}/devices")

    assert response.json() == [device_body(device, deviceType="WEB")]


def test_devices_are_the_apps_active_ones_only(owner):
    app = make_app(owner.tenant, "Shop")
    ios = make_device(app, uid="ios-1", platform="ios")
    make_device(app, uid="gone", active=False)
    make_device(make_app(owner.tenant, "Other"), uid="other-app")

    response = get(owner, f"{APPLICATIONS}/{app.code}/devices")

    assert response.json() == [device_body(ios, deviceType="IOS")]


def test_devices_come_in_keyset_pages_linked_by_the_link_header(owner):
    app = make_app(owner.tenant, "Shop")
    devices = [make_device(app, uid=f"uid-{n}") for n in range(5)]
    make_device(app, uid="inactive", active=False)
    path = f"{APPLICATIONS}/{app.code}/devices"

    pages, link = [], f"http://testserver{path}?limit=2"
    while link:
        url = urlsplit(link)
        response = owner.client.get(f"{url.path}?{url.query}", headers=bearer(owner))
        assert response.status_code == 200
        pages.append([d["deviceUid"] for d in response.json()])
        link = re.fullmatch(r'<(.+)>; rel="next"', response["Link"]).group(1) if "Link" in response else ""

    assert pages == [["uid-0", "uid-1"], ["uid-2", "uid-3"], ["uid-4"]]
    first = get(owner, path, limit=2)
    assert first["Link"] == f'<http://testserver{path}?limit=2&after={devices[1].pk}>; rel="next"'


def test_a_full_last_page_has_no_link(owner):
    app = make_app(owner.tenant, "Shop")
    for n in range(2):
        make_device(app, uid=f"uid-{n}")

    response = get(owner, f"{APPLICATIONS}/{app.code}/devices", limit=2)

    assert len(response.json()) == 2
    assert "Link" not in response


def test_devices_page_is_100_unless_limit_says(owner):
    app = make_app(owner.tenant, "Shop")
    Device.objects.bulk_create(
        Device(tenant=owner.tenant, app=app, platform="android", token=f"t{n}", token_hash=f"{n:064x}")
        for n in range(101)
    )

    response = get(owner, f"{APPLICATIONS}/{app.code}/devices")

    assert len(response.json()) == 100
    assert "after=" in response["Link"] and "limit=100" in response["Link"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"after": -1}, "after"),
        ({"after": "abc"}, "after"),
        ({"after": 2**63}, "after"),
        ({"after": "1.5"}, "after"),
    ],
)
def test_a_bad_limit_or_after_is_400_naming_it(owner, params, field):
    app = make_app(owner.tenant, "Shop")
    make_device(app)

    response = get(owner, f"{APPLICATIONS}/{app.code}/devices", **params)

    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["field"]) == (400, field)
    assert body["message"].startswith(f"{field}: ")


def test_limit_1000_and_after_past_the_end_are_an_empty_page(owner):
    app = make_app(owner.tenant, "Shop")
    device = make_device(app)

    response = get(owner, f"{APPLICATIONS}/{app.code}/devices", limit=1000, after=device.pk)

    assert (response.status_code, response.json()) == (200, [])


def test_devices_of_an_unknown_app_is_404(owner):
    response = get(owner, f"{APPLICATIONS}/app_nope/devices")

    assert response.status_code == 404
    assert response.json() == {"code": 404, "message": "Unknown app code.", "field": "appCode"}


def test_device_by_uid_is_the_newest_active_one(owner):
    app = make_app(owner.tenant, "Shop")
    make_device(app, uid="phone-1")
    newest = make_device(app, uid="phone-1", platform="ios")
    make_device(app, uid="phone-1", active=False)

    response = get(owner, f"{APPLICATIONS}/{app.code}/devices/phone-1")

    assert response.json() == device_body(newest, deviceType="IOS")


def test_a_device_uid_may_hold_a_slash(owner):
    app = make_app(owner.tenant, "Shop")
    device = make_device(app, uid="vendor/42")

    response = get(owner, f"{APPLICATIONS}/{app.code}/devices/vendor/42")

    assert response.json() == device_body(device)


@pytest.mark.parametrize("uid", ["nope", "gone", "other-app"])
def test_an_unknown_inactive_or_other_apps_device_uid_is_404_naming_device_uid(owner, uid):
    app = make_app(owner.tenant, "Shop")
    make_device(app, uid="gone", active=False)
    make_device(make_app(owner.tenant, "Other"), uid="other-app")

    response = get(owner, f"{APPLICATIONS}/{app.code}/devices/{uid}")

    assert response.status_code == 404
    assert response.json() == {"code": 404, "message": "Unknown device uid.", "field": "deviceUid"}


@pytest.mark.parametrize("path", ["{apps}/a%00b", "{apps}/a%00b/devices", "{apps}/{code}/devices/a%00b"])
def test_a_path_value_with_a_nul_is_404(owner, path):
    app = make_app(owner.tenant, "Shop")
    make_device(app, uid="ab")

    response = get(owner, path.format(apps=APPLICATIONS, code=app.code))

    assert response.status_code == 404
    assert response.json() == {
        "code": 404,
        "message": "No such action, please make sure that there is no typo in URL path.",
    }


# --- Errors: 401, 405, an outsider -------------------------------------------------------


@pytest.mark.parametrize(
    "path", [APPLICATIONS, f"{APPLICATIONS}/x", f"{APPLICATIONS}/x/devices", f"{APPLICATIONS}/x/devices/y"]
)
def test_no_key_is_401(owner, path):
    response = owner.client.get(path)

    assert response.status_code == 401
    assert response.json() == {"code": 401, "message": "Authentication credentials were not provided."}


def test_a_bad_key_is_401(owner):
    response = owner.client.get(APPLICATIONS, headers={"Authorization": "Bearer sk_nope_nope"})

    assert response.status_code == 401
    assert response.json() == {"code": 401, "message": "Invalid, revoked or expired API key."}


def test_a_confirm_only_key_is_403(owner):
    issued = api_key_create(tenant=owner.tenant, name="app-receipts", scopes=[DELIVERIES_CONFIRM])
    app = make_app(owner.tenant, "Shop")

    response = owner.client.get(f"{APPLICATIONS}/{app.code}", headers={"Authorization": f"Bearer {issued.plaintext}"})

    assert response.status_code == 403
    assert response.json()["code"] == 403
    assert "deliveries:confirm" in response.json()["message"]


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_a_write_method_is_405(owner, method):
    app = make_app(owner.tenant, "Shop")

    response = getattr(owner.client, method)(f"{APPLICATIONS}/{app.code}", headers=bearer(owner))

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    assert response.json() == {"code": 405, "message": f'Method "{method.upper()}" not allowed.'}
    assert App.objects.filter(pk=app.pk, name="Shop").exists()


def test_outsider_sees_none_of_the_owners_apps_or_devices(owner, outsider):
    app = make_app(owner.tenant, "Shop", fcm=True)
    make_device(app, end_user=rocky(owner.tenant), uid="d3fc3eaf3a6fe1a")
    own = make_app(outsider.tenant, "Outsider App")

    listed = get(outsider, APPLICATIONS)
    one = get(outsider, f"{APPLICATIONS}/{app.code}")
    devices = get(outsider, f"{APPLICATIONS}/{app.code}/devices")
    device = get(outsider, f"{APPLICATIONS}/{app.code}/devices/d3fc3eaf3a6fe1a")
    via_own_app = get(outsider, f"{APPLICATIONS}/{own.code}/devices/d3fc3eaf3a6fe1a")

    assert [a["appCode"] for a in listed.json()] == [own.code]
    for response, field in ((one, "appCode"), (devices, "appCode"), (device, "appCode"), (via_own_app, "deviceUid")):
        assert response.status_code == 404
        assert response.json()["field"] == field
    assert Device.objects.filter(app=app, is_active=True).count() == 1
