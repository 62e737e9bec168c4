from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import ApiKey, Tenant
from accounts.selectors import api_key_authenticate
from accounts.services import api_key_create, api_key_digest, api_key_regenerate, api_key_revoke

pytestmark = pytest.mark.django_db


def test_only_a_digest_of_the_key_is_stored(owner):
    row = ApiKey.objects.get(tenant=owner.tenant)
    assert owner.key not in {row.prefix, row.digest}
    assert row.digest == api_key_digest(owner.key)
    assert owner.key.startswith(f"sk_{row.prefix}_")


def test_revoked_key_is_401_and_does_nothing(owner):
    api_key_revoke(api_key=ApiKey.objects.get(tenant=owner.tenant))
    response = owner.post("/api/users/register", {"external_user_ref": "x"})
    assert response.status_code == 401
    assert owner.tenant.end_users.count() == 0


def test_expired_key_is_401(owner):
    ApiKey.objects.filter(tenant=owner.tenant).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert owner.post("/api/users/register", {"external_user_ref": "x"}).status_code == 401


def test_wrong_secret_with_a_real_prefix_is_401(owner):
    forged = owner.key[:-4] + "AAAA"
    response = owner.client.post(
        "/api/users/register", {"external_user_ref": "x"}, format="json", headers={"X-API-KEY": forged}
    )
    assert response.status_code == 401


def test_garbage_key_is_401(owner):
    response = owner.client.post(
        "/api/users/register", {"external_user_ref": "x"}, format="json", headers={"Authorization": "Bearer nonsense"}
    )
    assert response.status_code == 401


def test_regenerate_revokes_old_and_issues_working_new_key(owner):
    old = ApiKey.objects.get(tenant=owner.tenant)
    issued = api_key_regenerate(api_key=old)
    assert api_key_authenticate(plaintext=owner.key) is None
    assert api_key_authenticate(plaintext=issued.plaintext).tenant == owner.tenant


def test_a_tenant_may_hold_several_keys(owner):
    second = api_key_create(tenant=owner.tenant, name="backend")
    assert api_key_authenticate(plaintext=second.plaintext).pk == second.api_key.pk
    assert api_key_authenticate(plaintext=owner.key).tenant == owner.tenant


def test_create_tenant_command_prints_key_alone_on_last_line(capsys):
    call_command("create_tenant", "--name", "Acme Pay")
    last = capsys.readouterr().out.strip().splitlines()[-1]
    tenant = Tenant.objects.get(name="Acme Pay")
    assert api_key_authenticate(plaintext=last).tenant == tenant


def test_create_app_command_prints_code_alone_on_last_line(capsys, tmp_path):
    from devices.models import App

    call_command("create_tenant", "--name", "Acme Pay")
    p8 = tmp_path / "AuthKey.p8"
    from fakes.apns import make_apns_key

    p8.write_text(make_apns_key()[0])
    call_command(
        "create_app",
        "--tenant",
        "Acme Pay",
        "--name",
        "AcmeApp",
        "--apns-key-file",
        str(p8),
        "--apns-key-id",
        "KID1234567",
        "--apns-team-id",
        "TEAM123456",
        "--apns-topic",
        "com.acme",
        "--apns-sandbox",
    )
    last = capsys.readouterr().out.strip().splitlines()[-1]
    app = App.objects.get(code=last)
    assert (app.name, app.has_apns, app.apns_sandbox, app.has_webpush) == ("AcmeApp", True, True, True)


def test_credentials_are_encrypted_in_the_database(owner):
    from django.db import connection

    from devices.services import app_create
    from fakes.apns import make_apns_key

    p8 = make_apns_key()[0]
    app = app_create(tenant=owner.tenant, name="A", apns_key=p8, apns_key_id="K", apns_team_id="T", apns_topic="x")
    with connection.cursor() as cursor:
        cursor.execute("SELECT apns_key, vapid_private_key FROM devices_app WHERE id = %s", [app.pk])
        stored_key, stored_vapid = cursor.fetchone()
    assert "PRIVATE KEY" not in stored_key and stored_key.startswith("gAAAA")
    assert stored_vapid.startswith("gAAAA")
    assert type(app).objects.get(pk=app.pk).apns_key == p8.strip() + "\n"


def test_seed_demo_is_idempotent_and_prints_a_working_key(capsys):
    call_command("seed_demo")
    call_command("seed_demo")
    last = capsys.readouterr().out.strip().splitlines()[-1]
    tenant = Tenant.objects.get(name="Demo Fintech")
    assert api_key_authenticate(plaintext=last).tenant == tenant
    assert tenant.apps.get().name == "MyFintechApp"
    assert tenant.sms_senders.get().status == "approved"
