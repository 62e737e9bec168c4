"""Webhook fixtures: a verifying receiver on loopback, endpoints, rows that status events
name (push deliveries, SMS numbers), and helpers that consume and send as beat would."""

from __future__ import annotations

import time
import uuid

import pytest
from django.db import connection, transaction

from devices.models import App, Device, EndUser
from notifications.core.events import events_horizon, events_record
from notifications.core.models import EventCursor, StatusEvent
from notifications.models import Delivery, Message

# The push providers' loopback fakes and a tenant app wired to them, for end-to-end tests.
from notifications.tests.conftest import customer, fake_apns, fake_fcm, fake_webpush, providers, push_app  # noqa: F401
from notifications.webhooks import consumer, delivery, services, transport
from notifications.webhooks.tests.receiver import WebhookReceiver
from sms.models import SmsMessage, SmsRecipient

# The SMS app's loopback providers and sender, for tests that send real SMS (and its
# autouse clean-up of cached route clients, which would outlive a test's routes).
from sms.tests.conftest import (  # noqa: F401
    _fresh_route_clients,
    at_route,
    callback_server,
    fake_at,
    sender,
    smpp_route,
    smsc,
)

TG = "+22890123456"


@pytest.fixture(autouse=True)
def _fresh_client():
    transport.client_close()
    yield
    transport.client_close()


@pytest.fixture
def allow_private(settings):
    """The tests' receivers are on loopback, which the SSRF guard refuses otherwise."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True


@pytest.fixture
def receiver():
    with WebhookReceiver() as server:
        yield server


def endpoint_for(tenant, receiver: WebhookReceiver, path: str = "/hook", events=None):
    """An endpoint of ``tenant`` posting to ``receiver`` at ``path``, which verifies it."""
    created = services.endpoint_create(tenant=tenant, url=receiver.url + path, event_types=events)
    receiver.keys[path] = created.secret
    return created.endpoint


@pytest.fixture
def endpoint(owner, receiver, allow_private):
    return endpoint_for(owner.tenant, receiver)


def push_delivery(tenant, *, device_uid="phone-1", platform="android") -> Delivery:
    app, _ = App.objects.get_or_create(tenant=tenant, name="App", defaults={"code": uuid.uuid4().hex})
    user, _ = EndUser.objects.get_or_create(
        tenant=tenant, external_user_ref="u-1", defaults={"puid": uuid.uuid4().hex[:12]}
    )
    token = uuid.uuid4().hex
    device = Device.objects.create(
        tenant=tenant, app=app, end_user=user, platform=platform, token=token, token_hash=token, device_uid=device_uid
    )
    message = Message.objects.create(tenant=tenant, kind="to_user", title="t", body="b")
    return Delivery.objects.create(message=message, device=device)


def sms_recipient(tenant, *, number=TG) -> SmsRecipient:
    message = SmsMessage.objects.create(
        tenant=tenant, dialect="test", kind="single", sender="SoftAfrik", text="x", encoding="gsm7", parts=1
    )
    return SmsRecipient.objects.create(message=message, tenant=tenant, number=number)


def record(channel: str, row, status: str, reason: str = "") -> StatusEvent:
    """One status event for a push Delivery or an SmsRecipient, committed."""
    tenant_id = row.message.tenant_id
    with transaction.atomic():
        events_record(channel=channel, changes=[(tenant_id, row.message_id, row.pk, status, reason)])
    return StatusEvent.objects.order_by("-id").first()


def wait_visible(timeout: float = 30.0) -> None:
    """Until every event written so far is visible to consumers. On PostgreSQL an event is
    visible once every older transaction of the database has ended; SQLite commits in order."""
    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + timeout
    while True:
        horizon = events_horizon().txid
        if not StatusEvent.objects.filter(txid__gte=horizon).exists():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"events still invisible to consumers after {timeout}s")
        time.sleep(0.05)


def consume_all(timeout: float = 30.0) -> int:
    """Consume until the webhooks cursor has passed the newest event, waiting for events
    that are not visible yet (``wait_visible``), as beat would."""
    newest = StatusEvent.objects.order_by("-id").values_list("id", flat=True).first()
    total = 0
    deadline = time.monotonic() + timeout
    while newest is not None:
        total += consumer.webhooks_consume()
        cursor = EventCursor.objects.filter(consumer=consumer.CONSUMER).first()
        if cursor is not None and _passed(cursor, newest):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"events up to {newest} not consumed in {timeout}s")
        time.sleep(0.05)
    return total


def _passed(cursor: EventCursor, newest: int) -> bool:
    if connection.vendor != "postgresql":
        return cursor.event_id >= newest
    # (txid, id) order: every event is handled once no event is left after the cursor.
    return (
        not StatusEvent.objects.filter(txid__gt=cursor.txid).exists()
        and not StatusEvent.objects.filter(txid=cursor.txid, id__gt=cursor.event_id).exists()
    )


def send_due() -> dict[str, int]:
    """What beat's tick then the send tasks do, in process."""
    totals: dict[str, int] = {}
    for chunk in delivery.deliveries_due():
        for name, count in delivery.deliveries_send(delivery_ids=chunk).items():
            totals[name] = totals.get(name, 0) + count
    return totals
