"""``/api/webhooks``: create (secret shown once), list, delete; 400s naming the field; an
outsider gets 404 and changes nothing."""

from __future__ import annotations

import base64
import ipaddress

import pytest
from django.db import connection

from notifications.webhooks import ssrf
from notifications.webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db

PUBLIC = "https://93.184.215.14/hooks/softafrik"  # a literal public address: no DNS needed


@pytest.fixture(autouse=True)
def _dns(monkeypatch):
    """Names the tests use, resolved as a public DNS server would (no DNS here)."""
    answers = {
        "hooks.example.com": ["93.184.215.14"],
        "intranet.example.com": ["10.0.0.7"],
        "rebind.example.com": ["93.184.215.14", "127.0.0.1"],
        "localhost": ["127.0.0.1", "::1"],
    }

    def resolve(host, port):
        if host not in answers:
            raise OSError(f"{host}: Name or service not known")
        return [ipaddress.ip_address(a) for a in answers[host]]

    monkeypatch.setattr(ssrf, "resolve", resolve)


def create(client, body, **headers):
    return client.post("/api/webhooks", body, **headers)


def test_create_answers_201_with_the_secret_once(owner):
    response = create(owner, {"url": "https://hooks.example.com/sa", "events": ["sms.recipient.delivered"]})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "url", "events", "secret"}
    assert (body["url"], body["events"]) == ("https://hooks.example.com/sa", ["sms.recipient.delivered"])
    assert body["secret"].startswith("whsec_")
    assert len(base64.b64decode(body["secret"].removeprefix("whsec_"))) == 24
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert (endpoint.tenant_id, endpoint.is_enabled, endpoint.secret) == (owner.tenant.pk, True, body["secret"])
    listed = owner.get("/api/webhooks").json()
    assert listed == [
        {
            "id": body["id"],
            "url": "https://hooks.example.com/sa",
            "events": ["sms.recipient.delivered"],
            "enabled": True,
            "created_at": listed[0]["created_at"],
        }
    ]
    assert body["secret"] not in owner.get("/api/webhooks").content.decode()


def test_secret_is_stored_encrypted(owner):
    secret = create(owner, {"url": PUBLIC}).json()["secret"]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secret FROM {WebhookEndpoint._meta.db_table}")  # noqa: S608
        (stored,) = cursor.fetchone()
    assert stored and secret not in stored and secret.removeprefix("whsec_") not in stored


def test_events_absent_or_empty_means_every_type(owner):
    assert create(owner, {"url": PUBLIC}).json()["events"] == []
    assert create(owner, {"url": PUBLIC, "events": []}).json()["events"] == []
    assert WebhookEndpoint.objects.filter(event_types=[]).count() == 2


def test_bearer_authentication_works(owner):
    response = owner.client.post(
        "/api/webhooks", {"url": PUBLIC}, format="json", headers={"Authorization": f"Bearer {owner.key}"}
    )
    assert response.status_code == 201


def test_no_key_is_401_and_creates_nothing(owner):
    response = owner.client.post("/api/webhooks", {"url": PUBLIC}, format="json")
    assert response.status_code == 401
    assert WebhookEndpoint.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "url"),
        ({"url": ""}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "ftp://93.184.215.14/x"}, "url"),
        ({"url": PUBLIC, "events": ["sms.recipient.bounced"]}, "events"),
        ({"url": PUBLIC, "events": "sms.recipient.sent"}, "events"),
        ({"url": PUBLIC, "events": [{"type": "x"}]}, "events.0"),
    ],
)
def test_bad_input_is_400_naming_the_field(owner, body, field):
    response = create(owner, body)
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field
    assert WebhookEndpoint.objects.count() == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://10.1.2.3/hook",
        "http://192.168.1.10/hook",
        "http://172.16.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://[fd00::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://localhost:8000/hook",
        "https://intranet.example.com/hook",
        "https://rebind.example.com/hook",
    ],
)
def test_private_urls_are_refused_naming_url(owner, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    response = create(owner, {"url": url})
    assert response.status_code == 400
    body = response.json()
    assert (body["field"], body["message"]) == (
        "url",
        "Webhook URLs may not point at private, loopback or link-local addresses.",
    )
    assert WebhookEndpoint.objects.count() == 0


def test_a_name_that_does_not_resolve_is_refused_naming_url(owner):
    response = create(owner, {"url": "https://nowhere.example.com/hook"})
    assert response.status_code == 400
    assert response.json()["field"] == "url"


def test_private_urls_are_accepted_when_the_setting_allows_them(owner, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    assert create(owner, {"url": "http://127.0.0.1:8000/hook"}).status_code == 201


def test_delete_removes_the_endpoint(owner):
    endpoint_id = create(owner, {"url": PUBLIC}).json()["id"]
    response = owner.client.delete(f"/api/webhooks/{endpoint_id}", headers={"X-API-KEY": owner.key})
    assert response.status_code == 204
    assert WebhookEndpoint.objects.count() == 0
    assert owner.get("/api/webhooks").json() == []


def test_unknown_or_malformed_id_is_404(owner):
    for endpoint_id in ("7d5a1a6e-4f4e-4c36-9a5b-1b2b3c4d5e6f", "not-a-uuid"):
        response = owner.client.delete(f"/api/webhooks/{endpoint_id}", headers={"X-API-KEY": owner.key})
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"


def test_outsider_cannot_see_or_delete_the_owners_endpoint(owner, outsider):
    endpoint_id = create(owner, {"url": PUBLIC}).json()["id"]
    assert outsider.get("/api/webhooks").json() == []
    response = outsider.client.delete(f"/api/webhooks/{endpoint_id}", headers={"X-API-KEY": outsider.key})
    assert response.status_code == 404
    assert WebhookEndpoint.objects.filter(pk=endpoint_id, tenant=owner.tenant).exists()
    assert [e["id"] for e in owner.get("/api/webhooks").json()] == [endpoint_id]


def test_the_legacy_callback_endpoint_is_not_listed_or_deletable(owner):
    legacy = WebhookEndpoint.objects.create(tenant=owner.tenant, kind="legacy", url=PUBLIC)
    assert owner.get("/api/webhooks").json() == []
    response = owner.client.delete(f"/api/webhooks/{legacy.pk}", headers={"X-API-KEY": owner.key})
    assert response.status_code == 404
    assert WebhookEndpoint.objects.filter(pk=legacy.pk).exists()
