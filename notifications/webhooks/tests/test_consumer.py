"""Status events -> deliveries: one per (endpoint that wants it, event), with its body
built then, in bulk, exactly once, even when the consumer dies mid-batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from notifications.core.events import events_record
from notifications.core.models import EventCursor
from notifications.models import Delivery
from notifications.webhooks import channels, consumer
from notifications.webhooks.models import EndpointKind, WebhookDelivery, WebhookEndpoint
from notifications.webhooks.tests.conftest import (
    TG,
    consume_all,
    endpoint_for,
    push_delivery,
    record,
    sms_recipient,
    wait_visible,
)
from sms.models import SmsRecipient
from softafrik.testing.processes import ROOT, process_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def bodies(endpoint) -> list[dict]:
    return [
        json.loads(p)
        for p in WebhookDelivery.objects.filter(endpoint=endpoint).order_by("id").values_list("payload", flat=True)
    ]


def test_push_and_sms_events_become_deliveries_with_the_tenants_own_ids(owner, endpoint):
    push = push_delivery(owner.tenant, device_uid="phone-42", platform="ios")
    sms = sms_recipient(owner.tenant)
    push_event = record("push", push, "sent")
    sms_event = record("sms", sms, "failed", "UNDELIV")
    assert consume_all() == 2
    at_push = push_event.occurred_at.isoformat().replace("+00:00", "Z")
    at_sms = sms_event.occurred_at.isoformat().replace("+00:00", "Z")
    assert bodies(endpoint) == [
        {
            "type": "push.delivery.sent",
            "timestamp": at_push,
            "data": {
                "channel": "push",
                "id": str(push.message_id),
                "device_uid": "phone-42",
                "platform": "ios",
                "status": "sent",
                "reason": "",
                "at": at_push,
            },
        },
        {
            "type": "sms.recipient.failed",
            "timestamp": at_sms,
            "data": {
                "channel": "sms",
                "ref": str(sms.message_id),
                "number": TG,
                "status": "failed",
                "reason": "UNDELIV",
                "at": at_sms,
            },
        },
    ]
    rows = list(WebhookDelivery.objects.order_by("id").values_list("event_id", "event_type", "status", "tenant_id"))
    assert rows == [
        (push_event.id, "push.delivery.sent", "pending", owner.tenant.pk),
        (sms_event.id, "sms.recipient.failed", "pending", owner.tenant.pk),
    ]


def test_each_endpoint_gets_the_types_it_asked_for(owner, receiver, allow_private):
    everything = endpoint_for(owner.tenant, receiver, "/all")
    delivered_only = endpoint_for(owner.tenant, receiver, "/delivered", events=["sms.recipient.delivered"])
    disabled = endpoint_for(owner.tenant, receiver, "/off")
    WebhookEndpoint.objects.filter(pk=disabled.pk).update(is_enabled=False)
    row = sms_recipient(owner.tenant)
    record("sms", row, "sent")
    record("sms", row, "delivered")
    consume_all()
    assert [b["type"] for b in bodies(everything)] == ["sms.recipient.sent", "sms.recipient.delivered"]
    assert [b["type"] for b in bodies(delivered_only)] == ["sms.recipient.delivered"]
    assert bodies(disabled) == []


def test_one_event_to_two_endpoints_shares_its_webhook_id(owner, receiver, allow_private):
    endpoint_for(owner.tenant, receiver, "/a")
    endpoint_for(owner.tenant, receiver, "/b")
    record("sms", sms_recipient(owner.tenant), "sent")
    consume_all()
    (a, b) = WebhookDelivery.objects.all()
    assert a.message_id == b.message_id and a.endpoint_id != b.endpoint_id


def test_another_tenants_events_do_not_reach_the_owners_endpoint(owner, outsider, endpoint):
    record("sms", sms_recipient(outsider.tenant), "delivered")
    record("push", push_delivery(outsider.tenant), "delivered")
    consume_all()
    assert WebhookDelivery.objects.count() == 0


def test_a_rerun_makes_no_duplicate(owner, endpoint):
    record("sms", sms_recipient(owner.tenant), "sent")
    consume_all()
    assert consumer.webhooks_consume() == 0
    (delivery,) = WebhookDelivery.objects.all()
    # Even a batch handed over twice (a cursor moved back by hand) writes nothing twice.
    EventCursor.objects.filter(consumer=consumer.CONSUMER).update(txid=0, event_id=0)
    consume_all()
    assert list(WebhookDelivery.objects.values_list("pk", flat=True)) == [delivery.pk]


def test_a_batch_costs_the_same_queries_whatever_its_size(owner, endpoint):
    def batch(n):
        pushes = [push_delivery(owner.tenant, device_uid=f"d{i}") for i in range(n)]
        smss = [sms_recipient(owner.tenant, number=f"+2289000{i:04d}") for i in range(n)]
        with transaction.atomic():
            events_record(channel="push", changes=[(owner.tenant.pk, d.message_id, d.pk, "sent", "") for d in pushes])
            events_record(channel="sms", changes=[(owner.tenant.pk, r.message_id, r.pk, "sent", "") for r in smss])
        wait_visible()
        with CaptureQueriesContext(connection) as captured:
            assert consumer.webhooks_consume() == 2 * n
        return len(captured.captured_queries)

    assert batch(2) == batch(200)
    assert WebhookDelivery.objects.count() == 404


def test_events_of_tenants_without_endpoints_cost_no_channel_query(owner):
    record("sms", sms_recipient(owner.tenant), "sent")
    record("push", push_delivery(owner.tenant), "sent")
    wait_visible()
    with CaptureQueriesContext(connection) as captured:
        assert consumer.webhooks_consume() == 2
    tables = (SmsRecipient._meta.db_table, Delivery._meta.db_table)
    assert not [q["sql"] for q in captured.captured_queries if any(t in q["sql"] for t in tables)]
    assert WebhookDelivery.objects.count() == 0


def test_an_exception_mid_batch_writes_nothing_and_the_batch_is_handled_again(owner, endpoint, monkeypatch):
    owner.tenant.status_callback_url = "https://93.184.215.14/callback"
    owner.tenant.save()
    rows = [sms_recipient(owner.tenant, number=f"+2289000{i:04d}") for i in range(5)]
    with transaction.atomic():
        events_record(channel="sms", changes=[(owner.tenant.pk, r.message_id, r.pk, "sent", "") for r in rows])
    wait_visible()
    real = channels.CHANNELS["sms"]

    def exploding(ids):
        raise RuntimeError("worker lost mid-batch")

    monkeypatch.setitem(channels.CHANNELS, "sms", channels.ChannelPlug("ref", exploding, real.missing))
    with pytest.raises(RuntimeError, match="worker lost mid-batch"):
        consumer.webhooks_consume()
    assert WebhookDelivery.objects.count() == 0
    assert WebhookEndpoint.objects.filter(kind=EndpointKind.LEGACY).count() == 0  # rolled back with it
    assert EventCursor.objects.get(consumer=consumer.CONSUMER).event_id == 0
    monkeypatch.setitem(channels.CHANNELS, "sms", real)
    assert consume_all() == 5
    assert sorted(b["data"]["number"] for b in bodies(endpoint)) == sorted(r.number for r in rows)
    assert WebhookDelivery.objects.count() == 10  # the endpoint's 5 and the legacy callback's 5


def test_a_consumer_killed_with_sigkill_mid_batch_resumes_without_loss_or_duplicate(owner, endpoint, tmp_path):
    rows = [sms_recipient(owner.tenant, number=f"+2289000{i:04d}") for i in range(30)]
    with transaction.atomic():
        events_record(channel="sms", changes=[(owner.tenant.pk, r.message_id, r.pk, "sent", "") for r in rows])
    marker = tmp_path / "inside-the-batch"
    log = (tmp_path / "consumer.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "notifications.webhooks.tests.killable_consumer", str(marker)],
        cwd=ROOT,
        env=process_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(marker.exists, timeout=60, what="the consumer to be inside its batch")
        assert json.loads(marker.read_text()) == {"written": 30}
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    assert proc.returncode == -signal.SIGKILL
    assert WebhookDelivery.objects.count() == 0  # its transaction died with it
    assert consume_all() == 30
    assert sorted(b["data"]["number"] for b in bodies(endpoint)) == sorted(r.number for r in rows)
    assert WebhookDelivery.objects.count() == 30
    assert Path(tmp_path / "consumer.log").read_text().count("Traceback") == 0
