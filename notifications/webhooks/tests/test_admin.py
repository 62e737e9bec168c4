"""Webhooks in the admin: tenant staff manage their own endpoints (secret shown once, the
SSRF rule applied), see their deliveries with every attempt, and replay failed ones."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from accounts.models import User
from notifications.webhooks import services
from notifications.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from notifications.webhooks.tests.conftest import consume_all, endpoint_for, record, send_due, sms_recipient

pytestmark = pytest.mark.django_db(transaction=True)


def staff_of(tenant, name="ops"):
    return User.objects.create_user(name, password="pw-12345-long", is_staff=True, tenant=tenant)


def test_staff_adds_an_endpoint_and_sees_its_secret_once(client, owner, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    client.force_login(staff_of(owner.tenant))
    response = client.post(
        "/admin/webhooks/webhookendpoint/add/",
        {"url": "https://93.184.215.14/hooks", "event_types": ["sms.recipient.delivered"], "is_enabled": "on"},
        follow=True,
    )
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.tenant_id, endpoint.event_types, endpoint.is_enabled) == (
        owner.tenant.pk,
        ["sms.recipient.delivered"],
        True,
    )
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert f"Signing secret (shown once, copy it now): {endpoint.secret}" in shown
    page = client.get(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/").content.decode()
    assert endpoint.secret not in page


def test_admin_refuses_a_private_url(client, owner, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    client.force_login(staff_of(owner.tenant))
    response = client.post(
        "/admin/webhooks/webhookendpoint/add/", {"url": "http://169.254.169.254/", "is_enabled": "on"}
    )
    assert response.status_code == 200
    assert "Webhook URLs may not point at private, loopback or link-local addresses." in response.content.decode()
    assert WebhookEndpoint.objects.count() == 0


def test_staff_see_only_their_tenants_endpoints_and_deliveries(client, owner, outsider, receiver, allow_private):
    mine = endpoint_for(owner.tenant, receiver, "/mine")
    theirs = endpoint_for(outsider.tenant, receiver, "/theirs")
    record("sms", sms_recipient(owner.tenant), "sent")
    record("sms", sms_recipient(outsider.tenant), "sent")
    consume_all()
    client.force_login(staff_of(owner.tenant))
    listing = client.get("/admin/webhooks/webhookendpoint/").content.decode()
    assert mine.url in listing and theirs.url not in listing
    assert client.get(f"/admin/webhooks/webhookendpoint/{theirs.pk}/change/").status_code == 302  # not found
    their_delivery = WebhookDelivery.objects.get(endpoint=theirs)
    assert client.get(f"/admin/webhooks/webhookdelivery/{their_delivery.pk}/change/").status_code == 302
    my_delivery = WebhookDelivery.objects.get(endpoint=mine)
    assert client.get(f"/admin/webhooks/webhookdelivery/{my_delivery.pk}/change/").status_code == 200


def test_every_attempt_is_shown_and_a_failed_delivery_is_replayed(client, owner, outsider, receiver, allow_private):
    endpoint_for(owner.tenant, receiver)
    receiver.status = 500
    record("sms", sms_recipient(owner.tenant), "failed", "UNDELIV")
    consume_all()
    for _ in range(8):
        WebhookDelivery.objects.filter(status="pending").update(next_attempt_at="2000-01-01T00:00:00Z")
        send_due()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, WebhookAttempt.objects.count()) == ("failed", 8)
    client.force_login(staff_of(owner.tenant))
    page = client.get(f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/").content.decode()
    assert page.count("HTTP 500") >= 8  # one row per attempt (and the delivery's own error)
    assert delivery.webhook_id in page
    receiver.status = 200
    response = client.post(
        "/admin/webhooks/webhookdelivery/", {"action": "replay", "_selected_action": [delivery.pk]}, follow=True
    )
    assert "1 deliveries queued again." in [str(m) for m in get_messages(response.wsgi_request)]
    assert send_due() == {"sent": 1}
    assert WebhookDelivery.objects.get().status == "sent"


def test_staff_cannot_replay_another_tenants_delivery(client, owner, outsider, receiver, allow_private):
    endpoint_for(outsider.tenant, receiver)
    record("sms", sms_recipient(outsider.tenant), "sent")
    consume_all()
    WebhookDelivery.objects.update(status="failed", error="HTTP 500", attempts=8, next_attempt_at=None)
    theirs = WebhookDelivery.objects.get()
    client.force_login(staff_of(owner.tenant))
    client.post("/admin/webhooks/webhookdelivery/", {"action": "replay", "_selected_action": [theirs.pk]})
    theirs.refresh_from_db()
    assert (theirs.status, theirs.attempts) == ("failed", 8)
    assert send_due() == {}
    assert receiver.received == []


def test_a_platform_superuser_sees_every_tenant(client, owner, outsider, receiver, allow_private):
    a = endpoint_for(owner.tenant, receiver, "/a")
    b = endpoint_for(outsider.tenant, receiver, "/b")
    client.force_login(User.objects.create_superuser("root", password="pw-12345-long"))
    listing = client.get("/admin/webhooks/webhookendpoint/").content.decode()
    assert a.url in listing and b.url in listing


def test_the_tenants_callback_url_follows_the_address_rule(client, owner, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    client.force_login(staff_of(owner.tenant))
    url = f"/admin/accounts/tenant/{owner.tenant.pk}/change/"
    response = client.post(url, {"status_callback_url": "http://169.254.169.254/latest", "callback_secret": "s"})
    assert response.status_code == 200
    assert "Webhook URLs may not point at private, loopback or link-local addresses." in response.content.decode()
    owner.tenant.refresh_from_db()
    assert owner.tenant.status_callback_url == ""
    response = client.post(url, {"status_callback_url": "https://93.184.215.14/cb", "callback_secret": "s"})
    assert response.status_code == 302
    owner.tenant.refresh_from_db()
    assert (owner.tenant.status_callback_url, owner.tenant.callback_secret) == ("https://93.184.215.14/cb", "s")


def test_staff_rotates_an_endpoints_secret_shown_once_and_an_outsider_cannot(client, owner, outsider, allow_private):
    created = services.endpoint_create(tenant=owner.tenant, url="http://127.0.0.1:9/hook")
    endpoints = "/admin/webhooks/webhookendpoint/"
    intruder = Client()
    intruder.force_login(staff_of(outsider.tenant, "intruder"))
    intruder.post(endpoints, {"action": "rotate_secret", "_selected_action": [created.endpoint.pk]})
    created.endpoint.refresh_from_db()
    assert created.endpoint.secret == created.secret

    client.force_login(staff_of(owner.tenant))
    page = client.post(endpoints, {"action": "rotate_secret", "_selected_action": [created.endpoint.pk]}, follow=True)
    created.endpoint.refresh_from_db()
    assert created.endpoint.secret != created.secret
    assert created.endpoint.secret in page.content.decode()  # shown once, in the message
    assert created.endpoint.secret not in client.get(f"{endpoints}{created.endpoint.pk}/change/").content.decode()
