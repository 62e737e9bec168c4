"""API keys limited to scopes: a confirm-only key may confirm deliveries and nothing else,
refused in each dialect's own 403 body; keys without scopes keep every right."""

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.scopes import DELIVERIES_CONFIRM, SCOPES, UnknownScope, scope_refusal, scopes_validate
from accounts.selectors import api_key_authenticate
from accounts.services import api_key_create, api_key_regenerate
from conftest import TenantClient
from devices.services import app_create, device_register, end_user_register
from notifications.core.status import DeliveryStatus
from notifications.models import Delivery, Message
from notifications.push.accept import push_send_to_user
from sms.models import SmsMessage
from softafrik.errors import DomainError

pytestmark = pytest.mark.django_db

TOKEN = "fcm-token-" + "c" * 40
CONFIRM_ONLY = "This API key is limited to the scopes deliveries:confirm; this call needs a key with every right."


def needs(scope: str) -> str:
    """The 403 message a confirm-only key gets from a view needing ``scope``."""
    return f"This call needs the scope {scope}; this API key is limited to the scopes deliveries:confirm."


TG = "+22890123456"


def confirm_only_client(tenant) -> TenantClient:
    issued = api_key_create(tenant=tenant, name="app-receipts", scopes=[DELIVERIES_CONFIRM])
    return TenantClient(tenant=tenant, key=issued.plaintext, client=APIClient())


@pytest.fixture
def app_key(owner):
    return confirm_only_client(owner.tenant)


@pytest.fixture
def sent_push(owner):
    """A push of the owner's to one Android device, sent (the provider accepted it)."""
    app = app_create(tenant=owner.tenant, name="MyFintechApp")
    user = end_user_register(tenant=owner.tenant, external_user_ref="cust-1")[0]
    device = device_register(tenant=owner.tenant, end_user=user, app=app, platform="android", device_token=TOKEN)[0]
    message = push_send_to_user(tenant=owner.tenant, puid=user.puid, title="t", body="b", data={})
    Delivery.objects.create(message=message, device=device, status=DeliveryStatus.SENT)
    return message


def confirm(client, message):
    return client.post("/api/push/delivered", {"id": str(message.pk), "device_token": TOKEN})


# --- The registry -------------------------------------------------------------------------


def test_registry_knows_deliveries_confirm():
    assert SCOPES[DELIVERIES_CONFIRM] == "confirm push deliveries (POST /api/push/delivered)"


def test_registry_names_read_as_resource_and_action():
    assert list(SCOPES) == [
        "push:send",
        "sms:send",
        "omni:send",
        "statuses:read",
        "devices:manage",
        "inbox:manage",
        "deliveries:confirm",
        "scenarios:manage",
        "blacklist:manage",
        "webhooks:manage",
        "account:read",
    ]


def test_scopes_validate_drops_duplicates_and_refuses_unknown_names():
    assert scopes_validate([DELIVERIES_CONFIRM, DELIVERIES_CONFIRM]) == [DELIVERIES_CONFIRM]
    assert scopes_validate([]) == []
    with pytest.raises(UnknownScope, match="'push:everything'"):
        scopes_validate([DELIVERIES_CONFIRM, "push:everything"])


def test_scope_refusal_rules():
    assert scope_refusal(key_scopes=[], required_scope=None) is None
    assert scope_refusal(key_scopes=[], required_scope=DELIVERIES_CONFIRM) is None
    assert scope_refusal(key_scopes=[DELIVERIES_CONFIRM], required_scope=DELIVERIES_CONFIRM) is None
    assert scope_refusal(key_scopes=[DELIVERIES_CONFIRM], required_scope=None) == CONFIRM_ONLY
    assert scope_refusal(key_scopes=[DELIVERIES_CONFIRM], required_scope="sms:send") == needs("sms:send")
    assert scope_refusal(key_scopes=["sms:send", "account:read"], required_scope="push:send") == (
        "This call needs the scope push:send; this API key is limited to the scopes sms:send, account:read."
    )


# --- Issuing keys -------------------------------------------------------------------------


def test_api_key_create_stores_the_scopes(owner):
    issued = api_key_create(tenant=owner.tenant, name="app-receipts", scopes=[DELIVERIES_CONFIRM])

    assert ApiKey.objects.get(pk=issued.api_key.pk).scopes == [DELIVERIES_CONFIRM]
    assert ApiKey.objects.get(tenant=owner.tenant, name="default").scopes == []


def test_api_key_create_with_an_unknown_scope_is_refused_and_creates_nothing(owner):
    with pytest.raises(DomainError) as refused:
        api_key_create(tenant=owner.tenant, name="x", scopes=["sms:send-everything"])

    assert refused.value.field == "scopes"
    assert refused.value.message == f"Unknown scope 'sms:send-everything'; known scopes: {', '.join(SCOPES)}."
    assert owner.tenant.api_keys.count() == 1


def test_regenerated_key_keeps_its_scopes(owner, app_key):
    old = ApiKey.objects.get(tenant=owner.tenant, name="app-receipts")

    issued = api_key_regenerate(api_key=old)

    assert issued.api_key.scopes == [DELIVERIES_CONFIRM]
    assert api_key_authenticate(plaintext=app_key.key) is None


def test_cached_key_carries_its_scopes_without_a_query(app_key, django_assert_num_queries):
    assert api_key_authenticate(plaintext=app_key.key).scopes == [DELIVERIES_CONFIRM]
    with django_assert_num_queries(0):
        assert api_key_authenticate(plaintext=app_key.key).scopes == [DELIVERIES_CONFIRM]


# --- What a confirm-only key may call -------------------------------------------------------


def test_confirm_only_key_confirms_a_delivery(app_key, sent_push):
    response = confirm(app_key, sent_push)

    assert (response.status_code, response.json()) == (200, {"success": True})
    assert Delivery.objects.get().status == DeliveryStatus.DELIVERED


def test_confirm_only_key_confirming_twice_is_still_200(app_key, sent_push):
    confirm(app_key, sent_push)

    response = confirm(app_key, sent_push)

    assert (response.status_code, response.json()) == (200, {"success": True})
    assert Delivery.objects.get().status == DeliveryStatus.DELIVERED


def test_confirm_only_key_cannot_push(owner, app_key, sent_push):
    puid = sent_push.end_user.puid

    response = app_key.post("/api/push/to-user", {"puid": puid, "title": "t", "body": "b"})

    assert response.status_code == 403
    assert response.json() == {"error": "forbidden", "message": needs("push:send")}
    assert Message.objects.count() == 1


def test_confirm_only_key_is_refused_everywhere_else_in_the_softafrik_api(app_key, sent_push):
    calls = [
        app_key.post("/api/users/register", {"external_user_ref": "cust-2"}),
        app_key.post("/api/devices/unregister", {"device_token": TOKEN}),
        app_key.get("/api/apps/MyFintechApp"),
        app_key.get(f"/api/push/messages/{sent_push.pk}"),
        app_key.get("/api/push/inbox", {"puid": sent_push.end_user.puid}),
        app_key.get("/api/webhooks"),
    ]

    assert [(c.status_code, c.json()["error"]) for c in calls] == [(403, "forbidden")] * len(calls)
    assert sent_push.tenant.end_users.count() == 1
    assert Delivery.objects.get().device.is_active is True


def test_confirm_only_key_is_403_in_ions_body(app_key):
    response = app_key.post("/api/V1/sms/unides", {"emetteur": "SoftAfrik", "destinataire": TG, "corps": "x"})

    assert response.status_code == 403
    assert response.json() == {"error": "forbidden", "message": needs("sms:send")}
    assert SmsMessage.objects.count() == 0


def test_confirm_only_key_is_403_in_primotextos_body(app_key):
    response = app_key.client.post(
        "/v2/notification/messages/send",
        {"number": TG, "message": "x", "sender": "SoftAfrik"},
        format="json",
        headers={"X-Primotexto-ApiKey": app_key.key},
    )

    assert response.status_code == 403
    assert response.json() == {"error": "forbidden", "message": needs("sms:send")}
    assert SmsMessage.objects.count() == 0


def test_confirm_only_key_is_403_in_deleveras_body(app_key):
    response = app_key.client.post(
        "/SMS/v1/messages",
        {"text": "x", "destinations": ["22890123456"]},
        format="json",
        headers={"Authorization": f"Bearer {app_key.key}"},
    )

    assert response.status_code == 403
    assert response.json() == {"code": 403, "message": needs("sms:send")}
    assert SmsMessage.objects.count() == 0


def test_no_key_is_still_401_not_403(app_key):
    response = app_key.client.post("/api/push/delivered", {}, format="json")

    assert response.status_code == 401


def test_a_key_without_scopes_keeps_every_right(owner, sent_push):
    pushed = owner.post("/api/push/to-user", {"puid": sent_push.end_user.puid, "title": "t", "body": "b"})
    confirmed = confirm(owner, sent_push)

    assert (pushed.status_code, confirmed.status_code) == (202, 200)
    assert Delivery.objects.get(message=sent_push).status == DeliveryStatus.DELIVERED


def test_outsiders_confirm_only_key_finds_nothing_of_the_owners(outsider, sent_push):
    response = confirm(confirm_only_client(outsider.tenant), sent_push)

    assert response.status_code == 404
    assert Delivery.objects.get().status == DeliveryStatus.SENT


# --- The command line and the admin ---------------------------------------------------------


def test_create_api_key_command_prints_a_working_confirm_only_key(owner, sent_push, capsys):
    call_command("create_api_key", "--tenant", "Owner Bank", "--name", "app-receipts", "--scope", DELIVERIES_CONFIRM)

    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "API key 'app-receipts' for tenant Owner Bank (deliveries:confirm; from anywhere), shown once:"
    key = lines[-1]
    client = TenantClient(tenant=owner.tenant, key=key, client=APIClient())
    assert confirm(client, sent_push).status_code == 200
    assert client.post("/api/push/to-user", {"puid": "x", "title": "t", "body": "b"}).status_code == 403
    assert ApiKey.objects.get(tenant=owner.tenant, name="app-receipts").scopes == [DELIVERIES_CONFIRM]


def test_create_api_key_command_without_scope_issues_a_full_key(owner, capsys):
    call_command("create_api_key", "--tenant", "Owner Bank", "--name", "backend")

    out = capsys.readouterr().out.strip().splitlines()
    assert out[0] == "API key 'backend' for tenant Owner Bank (every right; from anywhere), shown once:"
    assert api_key_authenticate(plaintext=out[-1]).scopes == []


def test_create_api_key_command_refuses_an_unknown_tenant_or_scope(owner):
    with pytest.raises(CommandError, match="No tenant named 'Nobody'"):
        call_command("create_api_key", "--tenant", "Nobody", "--scope", DELIVERIES_CONFIRM)
    with pytest.raises(CommandError, match="Unknown scope 'push:all'"):
        call_command("create_api_key", "--tenant", "Owner Bank", "--scope", "push:all")
    assert owner.tenant.api_keys.count() == 1


def test_admin_issues_a_confirm_only_key_shown_once(staff_client, owner, outsider, sent_push):
    response = staff_client.post(
        "/admin/accounts/apikey/add/",
        {
            "name": "app-receipts",
            "expires_at_0": "",
            "expires_at_1": "",
            "scopes": [DELIVERIES_CONFIRM],
            "allowed_networks": "",
            "rate_per_second": "",
            "rate_per_minute": "",
        },
        follow=True,
    )

    page = response.content.decode()
    assert "shown once" in page
    row = ApiKey.objects.get(tenant=owner.tenant, name="app-receipts")
    assert row.scopes == [DELIVERIES_CONFIRM]
    key = page.split("shown once, copy it now): ")[1].split("<")[0].strip()
    client = TenantClient(tenant=owner.tenant, key=key, client=APIClient())
    assert confirm(client, sent_push).status_code == 200
    assert outsider.tenant.api_keys.count() == 1


def test_admin_add_form_offers_the_registrys_scopes(staff_client):
    page = staff_client.get("/admin/accounts/apikey/add/").content.decode()

    assert f'value="{DELIVERIES_CONFIRM}"' in page
    assert "confirm push deliveries" in page


def test_admin_keeps_a_keys_scopes_fixed_after_issue(staff_client, owner, app_key):
    row = ApiKey.objects.get(tenant=owner.tenant, name="app-receipts")

    page = staff_client.get(f"/admin/accounts/apikey/{row.pk}/change/").content.decode()
    staff_client.post(
        f"/admin/accounts/apikey/{row.pk}/change/",
        {
            "name": "renamed",
            "expires_at_0": "",
            "expires_at_1": "",
            "scopes": [],
            "allowed_networks": "",
            "rate_per_second": "",
            "rate_per_minute": "",
        },
    )

    assert DELIVERIES_CONFIRM in page and 'name="scopes"' not in page
    row.refresh_from_db()
    assert (row.name, row.scopes) == ("renamed", [DELIVERIES_CONFIRM])


def test_admin_lists_every_right_for_a_key_without_scopes(staff_client, app_key):
    page = staff_client.get("/admin/accounts/apikey/").content.decode()

    assert "every right" in page and DELIVERIES_CONFIRM in page
