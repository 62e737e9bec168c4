"""Low balance: crossing below the threshold raises one alert (the account.balance_low
webhook through the core's pipeline, and one e-mail to the tenant's staff), once per
crossing, re-armed by a top-up that lifts the balance back to the threshold."""

from __future__ import annotations

import json
import logging
import threading
import uuid

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import close_old_connections, connection, transaction

from accounts.models import User
from billing.alerts import BALANCE_LOW, low_balance_email_send
from billing.models import BillingAccount
from billing.services import (
    InsufficientBalance,
    account_adjust,
    account_ensure,
    account_topup,
    account_update,
    charge_reserve,
)
from notifications.core.models import StatusEvent
from notifications.webhooks import transport
from notifications.webhooks.consumer import webhooks_consume
from notifications.webhooks.models import WebhookDelivery
from notifications.webhooks.tests.conftest import consume_all, endpoint_for, send_due
from notifications.webhooks.tests.receiver import WebhookReceiver
from sms.models import RouteKind, SenderName, SenderStatus
from sms.receipts import receipt_sink
from sms.routing import route_clients_close_all
from sms.services import sms_submit
from sms.tests.conftest import make_route
from softafrik.celery import app as celery_app

pytestmark = pytest.mark.django_db(transaction=True)

CREDIT = 100  # minor units of one credit
THRESHOLD = 5 * CREDIT


@pytest.fixture(autouse=True)
def _tasks_in_process():
    """The alert's e-mail task runs where it is queued, so its message lands in mail.outbox."""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = eager


@pytest.fixture(autouse=True)
def _fresh_clients():
    """No webhook or SMS route client outlives the test that made it."""
    transport.client_close()
    route_clients_close_all()
    yield
    transport.client_close()
    route_clients_close_all()
    receipt_sink().discard()


@pytest.fixture
def hook_receiver(settings):
    """A receiver on loopback (which the address guard lets through only here) that
    verifies each request as a tenant would."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
def sms_ready(owner):
    """The owner's approved default sender and a route that takes every number."""
    SenderName.objects.create(tenant=owner.tenant, name="SoftAfrik", status=SenderStatus.APPROVED, is_default=True)
    make_route("log", RouteKind.LOG, priority=1000)


def account_with(tenant, settings, *, credits: int, threshold: int = THRESHOLD, **fields) -> BillingAccount:
    """The tenant's prepaid account holding ``credits``, with the low-balance ``threshold``
    (set after the money came in: nothing crosses on the way)."""
    settings.BILLING_TRIAL_CREDIT = "0"
    account = account_ensure(tenant_id=tenant.pk)
    if credits:
        account_topup(account=account, amount=credits * CREDIT, note="test funds")
    return account_update(account=account, low_balance_threshold=threshold, **fields)


def staff(tenant, username: str, email: str, *, active: bool = True) -> User:
    return User.objects.create(username=username, email=email, tenant=tenant, is_active=active, is_staff=True)


@pytest.fixture
def account(owner, outsider, settings):
    """The owner's account (10 credits, threshold 5) and its staff: one who is told, one
    inactive, one without an address; a platform admin and the outsider's staff, who are
    not the owner's staff."""
    staff(owner.tenant, "ama", "ama@owner.example")
    staff(owner.tenant, "kofi", "kofi@owner.example", active=False)
    staff(owner.tenant, "yao", "")
    User.objects.create(username="root", email="root@platform.example", is_superuser=True, is_staff=True)
    staff(outsider.tenant, "eve", "eve@outsider.example")
    return account_with(owner.tenant, settings, credits=10)


@pytest.fixture
def hooks(owner, outsider, hook_receiver):
    """An owner endpoint that wants only account.balance_low, one that wants SMS only,
    and the outsider's endpoint that wants everything."""
    return (
        endpoint_for(owner.tenant, hook_receiver, "/low", events=[BALANCE_LOW]),
        endpoint_for(owner.tenant, hook_receiver, "/sms", events=["sms.recipient.failed"]),
        endpoint_for(outsider.tenant, hook_receiver, "/outsider"),
    )


def reserve(account: BillingAccount, credits: int) -> None:
    with transaction.atomic():
        charge_reserve(
            tenant_id=account.tenant_id, unit=account.unit, amount=credits * CREDIT, reference=f"sms:{uuid.uuid4()}"
        )


def alerts() -> list[tuple]:
    return list(
        StatusEvent.objects.filter(type=BALANCE_LOW)
        .order_by("id")
        .values_list("tenant_id", "channel", "recipient_id", "status", "reason")
    )


def reason(balance: str, threshold: str = "5.00", unit: str = "credits", account_type: str = "prepaid") -> str:
    return json.dumps(
        {"balance": balance, "threshold": threshold, "unit": unit, "account_type": account_type},
        separators=(",", ":"),
    )


def deliveries(endpoint) -> list[dict]:
    return [
        json.loads(body)
        for body in WebhookDelivery.objects.filter(endpoint=endpoint).order_by("id").values_list("payload", flat=True)
    ]


def balance(account: BillingAccount) -> tuple[int, bool]:
    account.refresh_from_db()
    return account.balance, account.low_balance_alerted_at is not None


def test_a_send_that_crosses_raises_one_webhook_and_one_email(owner, account, hooks, hook_receiver):
    low, sms_only, outsider_hook = hooks
    reserve(account, 3)  # 10 -> 7 credits: above the threshold
    assert alerts() == []
    assert mail.outbox == []
    reserve(account, 3)  # 7 -> 4: below
    assert balance(account) == (400, True)
    assert alerts() == [(owner.tenant.pk, "account", account.pk, "low", reason("4.00"))]
    event = StatusEvent.objects.get(type=BALANCE_LOW)

    assert [(m.to, m.subject) for m in mail.outbox] == [
        (["ama@owner.example"], "Low balance / Solde bas: Owner Bank, 4.00 credits")
    ]
    body = mail.outbox[0].body
    assert "below its low-balance threshold of 5.00 credits" in body
    assert "sous son seuil d'alerte de 5.00 credits" in body

    consume_all()
    at = event.occurred_at.isoformat().replace("+00:00", "Z")
    payload = {
        "type": "account.balance_low",
        "timestamp": at,
        "data": {
            "channel": "account",
            "alert_id": str(event.send_id),
            "balance": "4.00",
            "threshold": "5.00",
            "unit": "credits",
            "account_type": "prepaid",
            "at": at,
        },
    }
    assert deliveries(low) == [payload]
    assert deliveries(sms_only) == []
    assert deliveries(outsider_hook) == []

    # Through the core's delivery: signed, verified by the receiver as a tenant would.
    assert send_due() == {"sent": 1}
    [received] = hook_receiver.received
    assert (received.path, received.verified, received.payload) == ("/low", True, payload)
    assert WebhookDelivery.objects.get(endpoint=low).status == "sent"


def test_a_second_send_still_below_raises_nothing_more(owner, account, hooks):
    reserve(account, 6)  # 10 -> 4
    reserve(account, 3)  # 4 -> 1: still below, already told
    assert balance(account) == (100, True)
    assert len(alerts()) == 1
    assert len(mail.outbox) == 1
    consume_all()
    assert len(deliveries(hooks[0])) == 1


def test_a_top_up_above_the_threshold_rearms_and_the_next_crossing_alerts_again(owner, account, hooks):
    reserve(account, 6)  # 10 -> 4: first alert
    account_topup(account=account, amount=50, note="not enough")  # 4.50: still below, still alerted
    assert balance(account) == (450, True)
    reserve(account, 1)  # 3.50
    assert len(alerts()) == 1
    account_topup(account=account, amount=150, note="back to the threshold")  # 5.00: re-armed
    assert balance(account) == (500, False)
    assert len(alerts()) == 1
    reserve(account, 2)  # 3.00: crosses again
    assert balance(account) == (300, True)
    assert alerts() == [
        (owner.tenant.pk, "account", account.pk, "low", reason("4.00")),
        (owner.tenant.pk, "account", account.pk, "low", reason("3.00")),
    ]
    assert [m.subject for m in mail.outbox] == [
        "Low balance / Solde bas: Owner Bank, 4.00 credits",
        "Low balance / Solde bas: Owner Bank, 3.00 credits",
    ]
    consume_all()
    first, second = deliveries(hooks[0])
    assert (first["data"]["balance"], second["data"]["balance"]) == ("4.00", "3.00")
    assert first["data"]["alert_id"] != second["data"]["alert_id"]


def test_an_sms_send_that_crosses_alerts_once(owner, account, sms_ready, hooks):
    numbers = [f"+2289100000{i}" for i in range(6)]
    sms_submit(tenant=owner.tenant, dialect="test", sender=None, numbers=numbers, text="Bonjour")  # 6 credits
    assert balance(account) == (400, True)
    sms_submit(tenant=owner.tenant, dialect="test", sender=None, numbers=numbers[:2], text="Bonjour")
    assert balance(account) == (200, True)
    assert alerts() == [(owner.tenant.pk, "account", account.pk, "low", reason("4.00"))]
    assert [m.to for m in mail.outbox] == [["ama@owner.example"]]
    consume_all()
    assert [d["data"]["balance"] for d in deliveries(hooks[0])] == ["4.00"]


def test_a_refused_send_raises_nothing(owner, account):
    with pytest.raises(InsufficientBalance):
        reserve(account, 11)
    assert balance(account) == (1000, False)
    assert alerts() == []
    assert mail.outbox == []


def test_a_rolled_back_crossing_raises_nothing_and_stays_armed(owner, account):
    with pytest.raises(RuntimeError), transaction.atomic():
        charge_reserve(tenant_id=owner.tenant.pk, unit="credits", amount=600, reference="sms:rolled-back")
        raise RuntimeError("the send failed after its reservation")
    assert balance(account) == (1000, False)
    assert alerts() == []
    assert mail.outbox == []
    reserve(account, 6)
    assert len(alerts()) == 1
    assert len(mail.outbox) == 1


def test_a_negative_adjustment_and_a_raised_threshold_cross_too(owner, account):
    account_adjust(account=account, amount=-600, note="refund of a duplicate top-up")  # 4.00
    assert balance(account) == (400, True)
    account_topup(account=account, amount=100, note="back to 5")  # re-armed
    account_update(account=account, low_balance_threshold=800)  # 5.00 < 8.00: crosses
    assert alerts() == [
        (owner.tenant.pk, "account", account.pk, "low", reason("4.00")),
        (owner.tenant.pk, "account", account.pk, "low", reason("5.00", threshold="8.00")),
    ]
    assert len(mail.outbox) == 2


def test_a_currency_account_shows_its_own_decimals(owner, outsider, settings):
    staff(owner.tenant, "ama", "ama@owner.example")
    settings.BILLING_TRIAL_CREDIT = "0"
    account = account_ensure(tenant_id=owner.tenant.pk)
    account_update(account=account, unit="XOF")
    account_topup(account=account, amount=10000, note="XOF")
    account_update(account=account, low_balance_threshold=5000)
    with transaction.atomic():
        charge_reserve(tenant_id=owner.tenant.pk, unit="XOF", amount=6000, reference="sms:xof")
    assert alerts() == [(owner.tenant.pk, "account", account.pk, "low", reason("4000", "5000", "XOF"))]
    assert mail.outbox[0].subject == "Low balance / Solde bas: Owner Bank, 4000 XOF"


class RefusingBackend(BaseEmailBackend):
    """A mail server that is down: every connection is refused."""

    attempts = 0

    def send_messages(self, messages):
        RefusingBackend.attempts += 1
        raise ConnectionRefusedError(111, "Connection refused")


def test_a_mail_server_that_is_down_never_breaks_the_send(owner, account, hooks, settings, caplog):
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    RefusingBackend.attempts = 0
    with caplog.at_level(logging.WARNING, logger="billing.alerts"):
        reserve(account, 6)
    assert balance(account) == (400, True)
    assert RefusingBackend.attempts == 6  # the first try and its 5 retries (at once here: in process)
    assert mail.outbox == []
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        f"low-balance e-mail of account {account.pk} not sent: ConnectionRefusedError(111, 'Connection refused')"
    ]
    consume_all()
    assert len(deliveries(hooks[0])) == 1  # the webhook does not depend on the e-mail


def test_a_broker_that_is_down_never_breaks_the_send(owner, account, monkeypatch, caplog):
    from billing.alerts import low_balance_email

    def down(**kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(low_balance_email, "delay", down)
    with caplog.at_level(logging.ERROR, logger="billing.alerts"):
        reserve(account, 6)
    assert balance(account) == (400, True)
    assert len(alerts()) == 1
    assert [r.getMessage() for r in caplog.records] == [f"low-balance e-mail of account {account.pk} not queued"]


def test_a_tenant_without_staff_addresses_gets_no_email_but_the_webhook(owner, settings, hooks):
    account = account_with(owner.tenant, settings, credits=10)
    staff(owner.tenant, "gone", "gone@owner.example", active=False)
    reserve(account, 6)
    assert len(alerts()) == 1
    assert mail.outbox == []
    assert low_balance_email_send(account_id=account.pk, balance=400, threshold=500, unit="credits") == []
    consume_all()
    assert len(deliveries(hooks[0])) == 1


def test_every_staff_address_gets_the_one_email(owner, account):
    staff(owner.tenant, "akosua", "akosua@owner.example")
    reserve(account, 6)
    assert [m.to for m in mail.outbox] == [["akosua@owner.example", "ama@owner.example"]]


def test_a_postpaid_account_is_low_when_its_credit_limit_is_nearly_used(owner, settings):
    staff(owner.tenant, "ama", "ama@owner.example")
    account = account_with(
        owner.tenant, settings, credits=0, threshold=10 * CREDIT, type="postpaid", credit_limit=20 * CREDIT
    )
    reserve(account, 9)  # 0 -> -9: 11 credits of limit left, above 10
    assert alerts() == []
    reserve(account, 2)  # -> -11: 9 left, below 10
    assert alerts() == [
        (owner.tenant.pk, "account", account.pk, "low", reason("-11.00", "10.00", "credits", "postpaid"))
    ]
    assert "Sends stop at the account's credit limit." in mail.outbox[0].body


def test_a_postpaid_account_without_a_credit_limit_is_never_low(owner, settings):
    staff(owner.tenant, "ama", "ama@owner.example")
    account = account_with(owner.tenant, settings, credits=0, threshold=10 * CREDIT, type="postpaid")
    reserve(account, 500)
    assert alerts() == []
    assert mail.outbox == []


def test_the_other_consumers_ignore_account_events(owner, account):
    from billing.consumer import billing_consume
    from billing.models import Charge
    from scenarios.engine import omni_events_handle

    reserve(account, 6)
    event = StatusEvent.objects.get(type=BALANCE_LOW)
    omni_events_handle([event])  # not a push or SMS event: nothing looked up, nothing written
    billing_consume()
    assert not Charge.objects.exists()
    assert balance(account) == (400, True)
    assert webhooks_consume() >= 1  # and no endpoint: no delivery
    assert not WebhookDelivery.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
def test_concurrent_sends_crossing_together_raise_exactly_one_alert(owner, account, hooks):
    senders = 12
    barrier = threading.Barrier(senders)
    refused: list[int] = []

    def send(i: int) -> None:
        try:
            barrier.wait()
            reserve(account, 1)
        except InsufficientBalance:
            refused.append(i)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 10 credits for 12 sends of 1: ten pass, two are refused; 6 of them crossed below 5.
    assert len(refused) == 2
    assert balance(account) == (0, True)
    [(tenant_id, channel, account_id, status, data)] = alerts()
    assert (tenant_id, channel, account_id, status) == (owner.tenant.pk, "account", account.pk, "low")
    assert json.loads(data)["balance"] == "4.00"  # the send that crossed: the first one below
    assert [m.to for m in mail.outbox] == [["ama@owner.example"]]
    consume_all()
    assert len(deliveries(hooks[0])) == 1
