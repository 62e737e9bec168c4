"""The admin's theme (softafrik.dashboard): the tenant's name and logo in the header, the
sidebar by what the user may see, the language choice remembered, and secrets that are
write-only (typed in, never shown back, kept when left empty)."""

from __future__ import annotations

import io

import pytest
from django.test import Client
from PIL import Image

from accounts.models import Tenant, User
from devices.services import app_create
from sms.models import RouteKind, SmsRoute

pytestmark = pytest.mark.django_db

SERVICE_ACCOUNT = (
    '{"type": "service_account", "project_id": "p", "private_key_id": "k",'
    ' "private_key": "-----BEGIN PRIVATE KEY-----\\nSECRETKEYMATERIAL\\n-----END PRIVATE KEY-----\\n",'
    ' "client_email": "a@p.iam.gserviceaccount.com", "token_uri": "https://oauth2.googleapis.com/token"}'
)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def staff_client(tenant, name="ops") -> Client:
    client = Client()
    client.force_login(User.objects.create_user(name, password="pw-12345-long", is_staff=True, tenant=tenant))
    return client


@pytest.fixture
def root() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="pw-12345-long"))
    return client


def png(color="red") -> io.BytesIO:
    data = io.BytesIO()
    Image.new("RGB", (4, 4), color).save(data, "PNG")
    data.seek(0)
    data.name = "logo.png"
    return data


def tenant_form(tenant: Tenant, **changes) -> dict:
    return {
        "default_region": tenant.default_region,
        "timezone": tenant.timezone,
        "status_callback_url": tenant.status_callback_url,
        "callback_secret": "",
        **changes,
    }


def test_a_tenants_staff_sees_its_tenants_name_in_the_header(owner):
    page = staff_client(owner.tenant).get("/admin/").content.decode()
    assert "Owner Bank" in page
    assert "<title>" in page and "SoftAfrik" in page.split("<title>")[1].split("</title>")[0]


def test_a_platform_superuser_sees_the_platforms_name(root, owner):
    page = root.get("/admin/").content.decode()
    assert "SoftAfrik" in page and "Owner Bank" not in page.split('id="nav-sidebar-apps"')[0]


def test_the_logo_a_tenants_staff_uploads_is_in_its_header(owner):
    client = staff_client(owner.tenant)
    change = f"/admin/accounts/tenant/{owner.tenant.pk}/change/"
    assert client.post(change, tenant_form(owner.tenant, logo=png())).status_code == 302
    owner.tenant.refresh_from_db()
    assert owner.tenant.logo.name.startswith("tenant-logos/")

    page = client.get("/admin/").content.decode()
    logo_url = f"/admin/logo/{owner.tenant.pk}/?v="
    assert f'src="{logo_url}' in page
    served = client.get(f"/admin/logo/{owner.tenant.pk}/")
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert b"".join(served.streaming_content).startswith(b"\x89PNG")


def test_no_logo_no_image_in_the_header(owner):
    page = staff_client(owner.tenant).get("/admin/").content.decode()
    assert "/admin/logo/" not in page
    assert staff_client(owner.tenant, "ops2").get(f"/admin/logo/{owner.tenant.pk}/").status_code == 404


def test_the_sidebar_shows_a_tenants_staff_its_groups_not_the_platforms(owner):
    page = staff_client(owner.tenant).get("/admin/").content.decode()
    for link in (
        "/admin/sms/smsmessage/",
        "/admin/devices/app/",
        "/admin/sms/sendername/",
        "/admin/accounts/apikey/",
        "/admin/webhooks/webhookendpoint/",
        "/admin/billing/invoice/",
        "/admin/billing/switchrequest/",
        "/admin/send/sms/",
        f"/admin/accounts/tenant/{owner.tenant.pk}/change/",  # its own page: logo, status callback
    ):
        assert f'href="{link}"' in page, link
    for link in ("/admin/sms/smsroute/", "/admin/accounts/user/", "/admin/django_celery_beat/periodictask/"):
        assert f'href="{link}"' not in page, link


def test_the_sidebar_shows_a_superuser_the_platform_group(root):
    page = root.get("/admin/").content.decode()
    for link in ("/admin/accounts/tenant/", "/admin/billing/tariff/", "/admin/sms/smsroute/"):
        assert f'href="{link}"' in page
    assert 'href="/admin/send/sms/"' not in page  # sending is a tenant's


def test_the_language_chosen_is_remembered(owner):
    client = staff_client(owner.tenant)
    assert client.post("/i18n/setlang/", {"language": "en", "next": "/admin/"}).status_code == 302
    assert 'lang="en"' in client.get("/admin/").content.decode()
    client.post("/i18n/setlang/", {"language": "fr", "next": "/admin/"})
    page = client.get("/admin/").content.decode()
    assert 'lang="fr"' in page and "Messages" in page and "Facturation" in page


def test_app_credentials_are_never_shown_back(owner):
    app = app_create(tenant=owner.tenant, name="Shop", fcm_service_account=SERVICE_ACCOUNT)
    page = staff_client(owner.tenant).get(f"/admin/devices/app/{app.pk}/change/").content.decode()
    assert "SECRETKEYMATERIAL" not in page and "a@p.iam.gserviceaccount.com" not in page
    assert 'type="file" name="fcm_service_account_file"' in page


def test_the_callback_secret_is_write_only_and_kept_when_left_empty(owner):
    Tenant.objects.filter(pk=owner.tenant.pk).update(callback_secret="old-secret-123")
    client = staff_client(owner.tenant)
    change = f"/admin/accounts/tenant/{owner.tenant.pk}/change/"
    page = client.get(change).content.decode()
    assert "old-secret-123" not in page and 'type="password" name="callback_secret"' in page

    assert client.post(change, tenant_form(owner.tenant)).status_code == 302
    owner.tenant.refresh_from_db()
    assert owner.tenant.callback_secret == "old-secret-123"

    client.post(change, tenant_form(owner.tenant, callback_secret="new-secret-456"))
    owner.tenant.refresh_from_db()
    assert owner.tenant.callback_secret == "new-secret-456"


def test_an_sms_routes_secret_is_write_only_and_kept_when_left_empty(root):
    route = SmsRoute.objects.create(
        name="tw", kind=RouteKind.TWILIO, username="AC1", secret="tok-secret", callback_token="t1"
    )
    change = f"/admin/sms/smsroute/{route.pk}/change/"
    page = root.get(change).content.decode()
    assert "tok-secret" not in page and 'type="password" name="secret"' in page
    form = {
        "name": "tw",
        "kind": RouteKind.TWILIO,
        "username": "AC2",
        "secret": "",
        "priority": route.priority,
        "countries": route.countries,
        "window": route.window,
        "is_active": "on",
    }
    response = root.post(change, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    route.refresh_from_db()
    assert (route.username, route.secret) == ("AC2", "tok-secret")


def test_a_list_of_records_filters_by_period(owner):
    from datetime import UTC, datetime

    from billing.models import LedgerEntry
    from billing.services import account_ensure, account_topup

    account = account_ensure(tenant_id=owner.tenant.pk)
    account_topup(account=account, amount=100, note="", reference="pay-january")
    account_topup(account=account, amount=100, note="", reference="pay-march")
    LedgerEntry.objects.filter(reference__endswith="pay-january").update(
        created_at=datetime(2026, 1, 5, 12, tzinfo=UTC)
    )
    LedgerEntry.objects.filter(reference__endswith="pay-march").update(created_at=datetime(2026, 3, 5, 12, tzinfo=UTC))
    period = {
        "created_at_from_0": "2026-01-01",
        "created_at_from_1": "00:00",
        "created_at_to_0": "2026-01-31",
        "created_at_to_1": "23:59",
    }

    page = staff_client(owner.tenant).get("/admin/billing/ledgerentry/", period).content.decode()

    assert "pay-january" in page and "pay-march" not in page


def test_model_names_are_in_the_pages_language(owner):
    client = staff_client(owner.tenant)
    page = client.get("/admin/sms/sendername/").content.decode()  # French: SITE_LANGUAGE_CODE
    assert "Noms d’expéditeur" in page and "Ajouter nom d’expéditeur" in page and "sender name" not in page
    client.post("/i18n/setlang/", {"language": "en", "next": "/admin/"})
    page = client.get("/admin/sms/sendername/").content.decode()
    assert "Sender names" in page and "Add sender name" in page
