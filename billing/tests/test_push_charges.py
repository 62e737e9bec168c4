"""Priced pushes: the accepted push reserves its devices' price, the fan-out writes no
more than it paid for, and each delivery settles when the provider takes it or is
released when it fails before the network."""

from __future__ import annotations

import pytest
from django.db import connection

from billing.consumer import billing_consume
from billing.models import Tariff
from billing.services import InsufficientBalance
from billing.tests.conftest import CREDIT, assert_ledger_consistent, funded
from devices.models import Device
from notifications.core.status import DeliveryStatus
from notifications.models import Delivery, Message
from notifications.push import accept, fanout, send
from notifications.tests.test_delivery import android, run

pytestmark = pytest.mark.django_db(transaction=True)

PRICE = 5  # 0.05 credit a delivery


@pytest.fixture
def priced(db):
    return Tariff.objects.create(channel="push", price=PRICE)


def books(account):
    account.refresh_from_db()
    return account.balance, account.reserved, account.spent


def test_a_free_push_writes_nothing_to_the_ledger(owner, push_app, customer, fake_fcm):
    account = funded(owner.tenant, 1)
    android(owner, push_app, customer)
    message = accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="t", body="b", data={})
    assert (message.unit_price, message.paid_deliveries) == (0, None)
    run(message)
    billing_consume()
    assert books(account) == (CREDIT, 0, 0)
    assert_ledger_consistent(account)


def test_a_priced_push_to_a_user_reserves_each_device_and_settles_what_fcm_took(
    owner, push_app, customer, fake_fcm, priced
):
    account = funded(owner.tenant, 1)
    phones = [android(owner, push_app, customer) for _ in range(3)]
    fake_fcm.fail_token(phones[0].token, "UNREGISTERED")
    message = accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="t", body="b", data={})
    assert (message.unit_price, message.paid_deliveries) == (PRICE, 3)
    assert books(account) == (CREDIT - 3 * PRICE, 3 * PRICE, 0)
    run(message)
    billing_consume()
    assert Delivery.objects.filter(status=DeliveryStatus.SENT).count() == 2
    assert books(account) == (CREDIT - 2 * PRICE, 0, 2 * PRICE)
    assert_ledger_consistent(account)


def test_a_push_the_balance_cannot_pay_is_refused_and_writes_nothing(owner, push_app, customer, fake_fcm, priced):
    account = funded(owner.tenant, 0.1)  # 10: two deliveries
    for _ in range(3):
        android(owner, push_app, customer)
    with pytest.raises(InsufficientBalance):
        accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="t", body="b", data={})
    assert Message.objects.count() == 0
    assert books(account) == (10, 0, 0)
    assert_ledger_consistent(account)


def test_the_fan_out_writes_no_more_than_was_paid_for(owner, push_app, customer, fake_fcm, priced):
    account = funded(owner.tenant, 1)
    android(owner, push_app, customer)
    message = accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="t", body="b", data={})
    android(owner, push_app, customer)  # registered after the push was accepted
    run(message)
    billing_consume()
    assert Delivery.objects.count() == 1
    assert books(account) == (CREDIT - PRICE, 0, PRICE)
    assert_ledger_consistent(account)


def test_devices_gone_by_the_fan_out_are_released(owner, push_app, customer, fake_fcm, priced):
    account = funded(owner.tenant, 1)
    phones = [android(owner, push_app, customer) for _ in range(2)]
    message = accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="t", body="b", data={})
    Device.objects.filter(pk=phones[0].pk).update(is_active=False)
    delivery_ids, handled = fanout.messages_fan_out_direct(message_ids=[str(message.pk)])
    assert (len(delivery_ids), handled) == (1, {str(message.pk)})
    send.deliveries_send(delivery_ids=delivery_ids)
    billing_consume()
    assert books(account) == (CREDIT - PRICE, 0, PRICE)
    assert_ledger_consistent(account)


def test_a_priced_broadcast_reserves_its_audience_and_releases_the_unwritten(
    owner, push_app, customer, fake_fcm, priced
):
    account = funded(owner.tenant, 1)
    phones = [android(owner, push_app, customer) for _ in range(4)]
    message = accept.push_broadcast(tenant=owner.tenant, app=push_app, title="t", body="b", data={})
    assert books(account) == (CREDIT - 4 * PRICE, 4 * PRICE, 0)
    Device.objects.filter(pk=phones[1].pk).update(is_active=False)
    run(message)
    billing_consume()
    assert Delivery.objects.count() == 3
    assert books(account) == (CREDIT - 3 * PRICE, 0, 3 * PRICE)
    assert_ledger_consistent(account)


def test_a_sent_then_confirmed_delivery_settles_once(owner, push_app, customer, fake_fcm, priced):
    from notifications.push.confirm import delivery_confirm

    account = funded(owner.tenant, 1)
    android(owner, push_app, customer)
    message = accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="t", body="b", data={})
    run(message)
    delivery = Delivery.objects.get()
    delivery_confirm(tenant=owner.tenant, message_id=str(message.pk), device=delivery.device)
    billing_consume()
    assert books(account) == (CREDIT - PRICE, 0, PRICE)
    assert_ledger_consistent(account)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement form is PostgreSQL's")
def test_a_priced_push_to_a_user_is_accepted_in_one_statement(owner, push_app, customer, fake_fcm, priced, monkeypatch):
    import psycopg

    account = funded(owner.tenant, 1)
    android(owner, push_app, customer)
    accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="warm", body="b", data={})
    statements = []
    execute = psycopg.Cursor.execute

    def counting(self, query, params=None, **kwargs):
        statements.append(str(query))
        return execute(self, query, params, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counting)
    message = accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="t", body="b", data={})
    monkeypatch.undo()
    work = [q for q in statements if not q.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    assert len(work) == 1 and work[0].startswith("WITH u AS"), work
    assert (message.unit_price, message.paid_deliveries) == (PRICE, 1)
    assert books(account) == (CREDIT - 2 * PRICE, 2 * PRICE, 0)
    assert_ledger_consistent(account)


def test_a_priced_push_to_a_user_without_devices_is_kept_in_the_inbox_for_nothing(
    owner, push_app, customer, fake_fcm, priced
):
    from notifications.models import InboxEntry

    account = funded(owner.tenant, 1)
    message = accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="t", body="b", data={})
    assert (message.unit_price, message.paid_deliveries) == (PRICE, 0)
    assert InboxEntry.objects.filter(message_id=message.pk).count() == 1
    assert books(account) == (CREDIT, 0, 0)
    assert_ledger_consistent(account)


def test_a_priced_push_to_an_unknown_user_is_not_found_and_charges_nothing(owner, push_app, fake_fcm, priced):
    from softafrik.errors import NotFound

    account = funded(owner.tenant, 1)
    with pytest.raises(NotFound):
        accept.push_send_to_user(tenant=owner.tenant, puid="nobody", title="t", body="b", data={})
    assert Message.objects.count() == 0
    assert books(account) == (CREDIT, 0, 0)


def test_a_priced_push_that_crosses_the_threshold_alerts_once(owner, push_app, customer, fake_fcm, priced):
    from notifications.core.models import StatusEvent

    account = funded(owner.tenant, 0.12, low_balance_threshold=5)
    android(owner, push_app, customer)
    for _ in range(2):  # 12 -> 7 -> 2: below 5 once
        accept.push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="t", body="b", data={})
    assert StatusEvent.objects.filter(type="account.balance_low").count() == 1
    account.refresh_from_db()
    assert account.low_balance_alerted_at is not None
    assert_ledger_consistent(account)
