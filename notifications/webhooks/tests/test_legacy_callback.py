"""The tenant's status_callback_url keeps working, as an endpoint of its own: SMS status
changes arrive with the body and the X-SoftAfrik-Signature they always had, now beside
the Standard Webhooks headers, through the retrying pipeline. (Ported from the SMS
tests of the StatusCallback outbox it replaces.)"""

from __future__ import annotations

import json

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from accounts.models import Tenant
from notifications.webhooks.models import EndpointKind, WebhookDelivery, WebhookEndpoint
from notifications.webhooks.signing import SIGNATURE_HEADER
from notifications.webhooks.signing import legacy_signature as callback_signature
from notifications.webhooks.tests.conftest import consume_all, push_delivery, record, send_due, sms_recipient
from sms import delivery as sms_delivery
from sms.services import sms_submit

pytestmark = pytest.mark.django_db(transaction=True)

TG = "+22890123456"


@pytest.fixture(autouse=True)
def _loopback(allow_private):
    """The callback recorder listens on loopback."""


def submit(owner, numbers, text="Votre code est 1234"):
    return sms_submit(tenant=owner.tenant, dialect="test", sender="SoftAfrik", numbers=numbers, text=text).message


def send_all(message):
    for chunk in sms_delivery.sms_dispatch(message_id=str(message.pk)):
        sms_delivery.sms_send_chunk(recipient_ids=chunk)


def set_callback(tenant, url, secret=""):
    tenant = Tenant.objects.get(pk=tenant.pk)
    tenant.status_callback_url = url
    tenant.callback_secret = secret
    tenant.save()
    return tenant


def test_status_changes_are_posted_signed_to_the_tenant_callback(owner, sender, at_route, callback_server):
    set_callback(owner.tenant, callback_server.url + "/hook", "s3cret")
    message = submit(owner, [TG])
    send_all(message)
    consume_all()
    assert send_due() == {"sent": 1}
    (got,) = callback_server.callbacks
    assert got.path == "/hook"
    assert got.headers[SIGNATURE_HEADER.lower()] == callback_signature("s3cret", got.body)
    body = json.loads(got.body)
    assert (body["ref"], body["number"], body["status"], body["reason"]) == (str(message.pk), TG, "sent", "")
    assert set(body) == {"ref", "number", "status", "reason", "at"}
    # The Standard Webhooks headers beside it, signed with the same secret.
    assert Webhook(b"s3cret").verify(got.body, got.headers) == body
    assert got.headers["webhook-id"] == WebhookDelivery.objects.get().webhook_id


def test_failing_callback_is_retried_later(owner, sender, at_route, callback_server):
    callback_server.status = 500
    set_callback(owner.tenant, callback_server.url + "/hook")
    send_all(submit(owner, [TG]))
    consume_all()
    assert send_due() == {"retry": 1}
    callback = WebhookDelivery.objects.get()
    assert (callback.status, callback.attempts, callback.error) == ("pending", 1, "HTTP 500")
    assert callback.next_attempt_at > timezone.now()
    assert callback.endpoint.kind == EndpointKind.LEGACY


def test_status_change_queues_a_callback_only_for_tenants_that_want_one(owner, outsider):
    set_callback(owner.tenant, "https://93.184.215.14/sms")
    mine, theirs = sms_recipient(owner.tenant), sms_recipient(outsider.tenant)
    record("sms", mine, "delivered")
    record("sms", theirs, "delivered")
    consume_all()
    (callback,) = WebhookDelivery.objects.all()
    body = json.loads(callback.payload)
    assert (callback.tenant_id, body["number"], body["status"]) == (owner.tenant.pk, TG, "delivered")
    assert WebhookEndpoint.objects.get().tenant_id == owner.tenant.pk


def test_an_unsigned_callback_still_gets_the_webhook_id(owner, receiver):
    set_callback(owner.tenant, receiver.url + "/cb")
    record("sms", sms_recipient(owner.tenant), "failed", "blacklisted")
    consume_all()
    send_due()
    (got,) = receiver.received
    assert got.payload["reason"] == "blacklisted"
    assert "webhook-signature" not in got.headers and SIGNATURE_HEADER.lower() not in got.headers
    assert got.headers["webhook-id"].startswith("msg_")


def test_push_events_do_not_go_to_the_legacy_callback(owner, receiver):
    set_callback(owner.tenant, receiver.url + "/cb", "s3cret")
    record("push", push_delivery(owner.tenant), "delivered")
    consume_all()
    assert WebhookDelivery.objects.count() == 0


def test_a_410_disables_the_callback_until_its_url_changes(owner, receiver):
    set_callback(owner.tenant, receiver.url + "/old", "s3cret")
    receiver.answers = [410]
    row = sms_recipient(owner.tenant)
    record("sms", row, "sent")
    consume_all()
    assert send_due() == {"failed": 1}
    legacy = WebhookEndpoint.objects.get(kind=EndpointKind.LEGACY)
    assert legacy.is_enabled is False
    record("sms", row, "delivered")
    consume_all()
    assert WebhookDelivery.objects.count() == 1  # disabled: nothing new
    set_callback(owner.tenant, receiver.url + "/new", "s3cret")
    record("sms", sms_recipient(owner.tenant, number="+22891234567"), "sent")
    consume_all()
    assert send_due() == {"sent": 1}
    legacy.refresh_from_db()
    assert (legacy.is_enabled, legacy.url) == (True, receiver.url + "/new")
    assert [r.path for r in receiver.received] == ["/old", "/new"]
