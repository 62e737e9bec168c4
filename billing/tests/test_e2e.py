"""Billing with real processes: API -> Celery worker and beat -> SMSC, the worker killed
mid-chunk and restarted; beat's billing consumer settles what the network took and
releases the rest, each number once."""

from __future__ import annotations

import time

import pytest

from billing.models import BillingAccount, Charge
from billing.tests.conftest import CREDIT, assert_ledger_consistent, funded
from notifications.models import DeliveryStatus
from sms.models import SmsRecipient
from softafrik.testing.processes import process_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker_env():
    return process_env(SMS_SENDING_LEASE_SECONDS="15", SMS_DISPATCH_GRACE_SECONDS="3", BEAT_SWEEP_SECONDS="1")


def numbers(n: int) -> list[str]:
    return [f"+2289{n_:07d}" for n_ in range(2000000, 2000000 + n)]


def test_a_worker_killed_mid_chunk_leaves_charged_exactly_what_the_network_took(
    owner, sender, smsc, smpp_route, celery_procs
):
    account = funded(owner.tenant, 1000)
    targets = numbers(600)
    refused = targets[::50]  # the SMSC refuses these for good: released
    for number in refused:
        smsc.reject(number[1:], 0x0B)
    smsc.response_delay = 0.3
    worker = celery_procs("worker", "-c", "1")
    celery_procs("beat")
    response = owner.post("/api/V1/sms/muldes", {"emetteur": "SoftAfrik", "numeros": targets, "corps": "Promo"})
    assert response.status_code == 201, response.content
    ref = response.json()["ref"]
    account.refresh_from_db()
    assert (account.balance, account.reserved) == (400 * CREDIT, 600 * CREDIT)
    wait_for(lambda: smsc.received_count > 0, timeout=30, what="the first submits")
    worker.kill()
    time.sleep(1.0)
    smsc.response_delay = 0.0
    celery_procs("worker")
    wait_for(
        lambda: not SmsRecipient.objects.filter(message_id=ref, status__in=["pending", "sending"]).exists(),
        timeout=120,
        what="every number ended",
    )
    wait_for(lambda: BillingAccount.objects.get(pk=account.pk).reserved == 0, timeout=60, what="everything settled")
    handed = SmsRecipient.objects.filter(
        message_id=ref, status__in=[DeliveryStatus.SENT, DeliveryStatus.DELIVERED]
    ).count()
    assert handed == 600 - len(refused)
    account.refresh_from_db()
    assert (account.spent, account.balance) == (handed * CREDIT, (1000 - handed) * CREDIT)
    assert Charge.objects.filter(send_id=ref).count() == 600
    assert Charge.objects.filter(send_id=ref, settled=False).count() == len(refused)
    assert_ledger_consistent(account)
