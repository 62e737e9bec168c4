"""Console fixtures: a tenant's staff user logged into the admin, the outsider's, a
platform superuser, and the SMS fixtures (approved sender, SMPP fake and route)."""

from __future__ import annotations

import re
import uuid
from html import unescape

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import User
from devices.models import App, Device, EndUser
from sms.tests.conftest import _fresh_route_clients, sender, smpp_route, smsc  # noqa: F401  (fixtures)

PASSWORD = "s3cret-pass"


def logged_in(user, language: str = "en") -> Client:
    """A browser session of ``user`` that chose ``language`` (the pages' default is French)."""
    client = Client()
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def staff_client(tenant, username: str) -> Client:
    return logged_in(User.objects.create_user(username, password=PASSWORD, is_staff=True, tenant=tenant))


@pytest.fixture
def staff(owner) -> Client:
    return staff_client(owner.tenant, "ama")


@pytest.fixture
def outsider_staff(outsider) -> Client:
    return staff_client(outsider.tenant, "kofi")


@pytest.fixture
def superuser(db) -> Client:
    return logged_in(User.objects.create_superuser("root", password=PASSWORD))


def hidden_fields(page: str) -> dict[str, str]:
    """The hidden inputs of the confirmation form, as the browser would post them back."""
    return {
        name: unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
        if name != "csrfmiddlewaretoken"
    }


def price_then_send(client: Client, path: str, data: dict):
    """The two steps: the price (its confirmation page), then Send with its hidden values."""
    priced = client.post(path, {**data, "action": "price"})
    assert priced.status_code == 200, priced.content
    confirm = hidden_fields(priced.content.decode())
    assert "token" in confirm, priced.content.decode()
    return priced, client.post(path, {**confirm, "action": "send"})


def app_with_user(tenant, *, devices: int = 1, phone: str = "") -> tuple[App, EndUser]:
    app = App.objects.create(tenant=tenant, name=f"App {uuid.uuid4().hex[:6]}", code=uuid.uuid4().hex[:12])
    user = EndUser.objects.create(tenant=tenant, puid=uuid.uuid4().hex[:12], external_user_ref="u-1", phone=phone)
    for _ in range(devices):
        token = uuid.uuid4().hex
        Device.objects.create(
            tenant=tenant, app=app, end_user=user, platform="android", token=token, token_hash=token, country="TG"
        )
    return app, user
