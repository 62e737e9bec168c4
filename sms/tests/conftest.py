"""SMS fixtures: an approved sender, routes wired to real loopback fakes (SMSC, HTTP providers)."""

from __future__ import annotations

import secrets

import pytest

from fakes.sms_http import CallbackRecorder, FakeAfricasTalking, FakeTwilio
from fakes.smsc import FakeSmsc
from sms.models import RouteKind, SenderName, SenderStatus, SmsRoute
from sms.receipts import receipt_sink
from sms.routing import route_clients_close_all


@pytest.fixture(autouse=True)
def _fresh_route_clients():
    route_clients_close_all()
    yield
    route_clients_close_all()
    receipt_sink().discard()


@pytest.fixture
def sender(owner):
    return SenderName.objects.create(
        tenant=owner.tenant, name="SoftAfrik", status=SenderStatus.APPROVED, is_default=True
    )


def make_route(name: str, kind: str, **fields) -> SmsRoute:
    return SmsRoute.objects.create(name=name, kind=kind, callback_token=secrets.token_urlsafe(16), **fields)


@pytest.fixture
def smsc():
    with FakeSmsc() as server:
        yield server


@pytest.fixture
def smpp_route(db, smsc):
    return make_route(
        "smsc-main", RouteKind.SMPP, host=smsc.host, port=smsc.port, system_id=smsc.system_id, secret=smsc.password
    )


@pytest.fixture
def log_route(db):
    return make_route("log", RouteKind.LOG, priority=1000)


@pytest.fixture
def fake_at():
    with FakeAfricasTalking() as server:
        yield server


@pytest.fixture
def at_route(db, fake_at):
    return make_route(
        "at", RouteKind.AFRICASTALKING, username=fake_at.username, secret=fake_at.api_key, base_url=fake_at.url
    )


@pytest.fixture
def fake_twilio():
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def twilio_route(db, fake_twilio):
    return make_route(
        "twilio",
        RouteKind.TWILIO,
        username=fake_twilio.account_sid,
        secret=fake_twilio.auth_token,
        base_url=fake_twilio.url,
    )


@pytest.fixture
def callback_server():
    with CallbackRecorder() as server:
        yield server
