"""Many sends at once against one prepaid balance (PostgreSQL: real concurrent
transactions). The balance never goes below zero, exactly what it can pay is accepted,
and the ledger still sums to the balance."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from billing.models import BillingAccount
from billing.tests.conftest import CREDIT, assert_ledger_consistent, funded
from sms import campaigns
from sms.models import SmsMessage, SmsRecipient
from sms.services import CampaignSpec, sms_submit

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs concurrent writers (PostgreSQL)"),
]


def _concurrently(n: int, work) -> list:
    """Run ``work(i)`` in ``n`` threads released together; each closes its connection."""
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait()
            return work(i)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def test_fifty_concurrent_sends_against_twenty_credits_accept_exactly_twenty(owner, sender, log_route):
    account = funded(owner.tenant, 20)

    def send(i):
        response = APIClient().post(
            "/api/V1/sms/unides",
            {"emetteur": "SoftAfrik", "destinataire": f"+2289012{i:04d}", "corps": "Code 1234"},
            format="json",
            headers={"X-API-KEY": owner.key},
        )
        return response.status_code, response.json()

    answers = _concurrently(50, send)
    codes = [code for code, _ in answers]
    assert codes.count(201) == 20
    assert codes.count(402) == 30
    refused = [body for code, body in answers if code == 402]
    assert all((body["statut"], body["motif"]) == ("ECHEC", "solde insuffisant") for body in refused)
    account.refresh_from_db()
    assert (account.balance, account.reserved) == (0, 20 * CREDIT)
    assert SmsMessage.objects.count() == 20
    assert_ledger_consistent(account)


def test_campaign_batches_and_api_sends_share_one_balance_without_overdraft(owner, sender, log_route):
    account = funded(owner.tenant, 25)
    now = timezone.now()
    campaign = sms_submit(
        tenant=owner.tenant,
        dialect="test",
        sender="SoftAfrik",
        numbers=[f"+2289100{i:04d}" for i in range(40)],
        text="Promo",
        campaign=CampaignSpec(window_start=now, window_end=now + timedelta(days=1), per_day=2400, interval_minutes=6),
    ).message  # batches of 10

    def work(i):
        if i % 4 == 0:  # a beat tick releasing the campaign's next batch
            SmsMessage.objects.filter(pk=campaign.pk).update(next_batch_at=timezone.now() - timedelta(seconds=1))
            return "batch", len(campaigns.campaign_release(message_id=str(campaign.pk)))
        response = APIClient().post(
            "/api/V1/sms/unides",
            {"emetteur": "SoftAfrik", "destinataire": f"+2289012{i:04d}", "corps": "Code"},
            format="json",
            headers={"X-API-KEY": owner.key},
        )
        return "api", response.status_code

    results = _concurrently(24, work)
    account.refresh_from_db()
    api_accepted = sum(1 for kind, value in results if kind == "api" and value == 201)
    released = SmsRecipient.objects.filter(message=campaign, next_attempt_at__isnull=False).count()
    assert account.balance >= 0
    assert account.reserved == (api_accepted + released) * CREDIT
    assert account.balance == 25 * CREDIT - account.reserved
    assert all(value in (201, 402) for kind, value in results if kind == "api")
    assert_ledger_consistent(account)


def test_concurrent_reservations_never_lose_an_update(owner):
    from billing.services import account_unit, charge_reserve

    account = funded(owner.tenant, 1000)

    def reserve(i):
        with transaction.atomic():
            charge_reserve(
                tenant_id=owner.tenant.pk, unit=account_unit(tenant_id=owner.tenant.pk), amount=7, reference=f"t:{i}"
            )

    _concurrently(40, reserve)
    account = BillingAccount.objects.get(pk=account.pk)
    assert (account.balance, account.reserved) == (1000 * CREDIT - 280, 280)
    assert_ledger_consistent(account)
    assert connection.vendor == "postgresql"


# --- Priced pushes to users: one account's concurrent accepts combined ----------------------


@pytest.fixture
def spied_batches(monkeypatch):
    """The combined statements' sizes; the first waits a moment, so that the callers
    arriving meanwhile queue and are combined into the next."""
    from notifications.push import accept

    sizes = []
    run = accept._priced_batch

    def spy(sends):
        sizes.append(len(sends))
        if len(sizes) == 1:
            time.sleep(0.3)
        return run(sends)

    monkeypatch.setattr(accept, "_priced_batch", spy)
    return sizes


def _users(owner, app, count, *, devices=1):
    from devices.services import end_user_register
    from notifications.tests.test_delivery import android

    users = []
    for index in range(count):
        user = end_user_register(tenant=owner.tenant, external_user_ref=f"combined-{devices}-{index}", meta={})[0]
        for _ in range(devices):
            android(owner, app, user)
        users.append(user)
    return users


def _push(owner, puid):
    from billing.services import InsufficientBalance
    from notifications.push import accept
    from softafrik.errors import NotFound

    try:
        return accept.push_send_to_user(tenant=owner.tenant, puid=puid, title="t", body="b", data={"k": "é"})
    except (InsufficientBalance, NotFound) as refused:
        return type(refused).__name__


def test_concurrent_priced_pushes_are_combined_and_pay_exactly_what_the_balance_covers(
    owner, push_app, fake_fcm, spied_batches
):
    from billing.models import Tariff
    from notifications.models import InboxEntry, Message

    Tariff.objects.create(channel="push", price=CREDIT)
    account = funded(owner.tenant, 20)
    users = _users(owner, push_app, 30)
    answers = _concurrently(30, lambda i: _push(owner, users[i].puid))
    accepted = [answer for answer in answers if isinstance(answer, Message)]
    assert len(accepted) == 20 and answers.count("InsufficientBalance") == 10
    assert max(spied_batches) > 1, spied_batches  # some were combined
    account.refresh_from_db()
    assert (account.balance, account.reserved) == (0, 20 * CREDIT)
    assert Message.objects.filter(pk__in=[m.pk for m in accepted], paid_deliveries=1).count() == 20
    assert Message.objects.count() == InboxEntry.objects.count() == 20
    assert_ledger_consistent(account)


def test_a_combined_batch_answers_each_send_for_itself(owner, push_app, fake_fcm, spied_batches):
    from billing.models import Tariff
    from devices.services import end_user_register
    from notifications.models import InboxEntry, Message

    Tariff.objects.create(channel="push", price=3)
    account = funded(owner.tenant, 1)
    paying = _users(owner, push_app, 4, devices=2)
    nobody_home = end_user_register(tenant=owner.tenant, external_user_ref="no-device", meta={})[0]
    puids = [user.puid for user in paying] + [nobody_home.puid, "sa_unknown"]
    answers = _concurrently(len(puids), lambda i: _push(owner, puids[i]))
    assert max(spied_batches) > 1, spied_batches
    by_puid = dict(zip(puids, answers, strict=True))
    assert by_puid["sa_unknown"] == "NotFound"
    assert by_puid[nobody_home.puid].paid_deliveries == 0
    assert [by_puid[user.puid].paid_deliveries for user in paying] == [2, 2, 2, 2]
    account.refresh_from_db()
    assert (account.balance, account.reserved) == (CREDIT - 24, 24)
    assert Message.objects.count() == InboxEntry.objects.count() == 5
    stored = Message.objects.get(pk=by_puid[paying[0].puid].pk)
    assert (stored.data, stored.end_user_id, stored.unit_price) == ({"k": "é"}, paying[0].pk, 3)
    assert_ledger_consistent(account)
