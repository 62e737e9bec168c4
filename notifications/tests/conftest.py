"""Provider fakes as real loopback servers, and a tenant app wired to all of them."""

from __future__ import annotations

import pytest

from devices.services import app_create, end_user_register
from fakes.apns import FakeApnsServer, make_apns_key
from fakes.fcm import FakeFcmServer, make_service_account
from fakes.webpush import FakeWebPushServer
from notifications.push.providers.registry import providers_close_all

APNS_KEY_ID = "ABC123DEFG"
APNS_TEAM_ID = "TEAM123456"
APNS_TOPIC = "com.softafrik.demo"


@pytest.fixture(scope="session")
def fake_fcm():
    with FakeFcmServer() as server:
        yield server


@pytest.fixture(scope="session")
def fake_apns():
    with FakeApnsServer() as server:
        yield server


@pytest.fixture(scope="session")
def fake_webpush():
    with FakeWebPushServer() as server:
        yield server


@pytest.fixture
def providers(settings, fake_fcm, fake_apns, fake_webpush):
    """Point the platform at the fakes; forget cached clients and injected failures after."""
    settings.FCM_API_URL = fake_fcm.url
    settings.APNS_URL = fake_apns.url
    settings.APNS_CA_FILE = fake_apns.ca_file
    settings.WEBPUSH_ALLOW_HTTP = True
    yield
    providers_close_all()
    for fake in (fake_fcm, fake_apns, fake_webpush):
        getattr(fake, "clear_failures", lambda: None)()


@pytest.fixture
def push_app(owner, fake_fcm, fake_apns, providers):
    """The owner's app with FCM, APNs and VAPID credentials accepted by the fakes."""
    p8, public_key = make_apns_key()
    fake_apns.add_key(APNS_KEY_ID, APNS_TEAM_ID, public_key)
    return app_create(
        tenant=owner.tenant,
        name="MyFintechApp",
        fcm_service_account=make_service_account(fake_fcm),
        apns_key=p8,
        apns_key_id=APNS_KEY_ID,
        apns_team_id=APNS_TEAM_ID,
        apns_topic=APNS_TOPIC,
        apns_sandbox=True,
    )


@pytest.fixture
def customer(owner):
    return end_user_register(tenant=owner.tenant, external_user_ref="cust-1", meta={})[0]
