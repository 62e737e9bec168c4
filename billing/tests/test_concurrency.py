"""Many sends at once against one prepaid balance (PostgreSQL: real concurrent
transactions). The balance never goes below zero, exactly what it can pay is accepted,
and the ledger still sums to the balance."""

from __future__ import annotations

import threading
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
