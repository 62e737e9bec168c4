"""Billing fixtures: accounts with a known balance, and the ledger's invariants."""

from __future__ import annotations

from collections import defaultdict

import pytest
from django.db.models import Sum
from django.test import override_settings

from billing.models import BillingAccount, Book, LedgerEntry
from billing.services import account_ensure, account_topup

# The SMS and push fakes, reused as they are.
from notifications.tests.conftest import customer, fake_apns, fake_fcm, fake_webpush, providers, push_app  # noqa: F401
from scenarios.tests.conftest import person  # noqa: F401
from sms.tests.conftest import _fresh_route_clients, log_route, make_route, sender, smpp_route, smsc  # noqa: F401

CREDIT = 100  # minor units of one credit


def funded(tenant, credits: float, **fields) -> BillingAccount:
    """The tenant's account (created without trial credit) with ``credits`` on it."""
    with override_settings(BILLING_TRIAL_CREDIT="0"):
        account = account_ensure(tenant_id=tenant.pk)
    for name, value in fields.items():
        setattr(account, name, value)
    if fields:
        account.save()
    if credits:
        account_topup(account=account, amount=int(credits * CREDIT), note="test funds")
    account.refresh_from_db()
    return account


def assert_ledger_consistent(account: BillingAccount) -> None:
    """Each cached book equals the sum of its entries, every transfer sums to zero, the
    four books sum to zero, and no balance_after lies about its book."""
    account.refresh_from_db()
    sums = dict(
        LedgerEntry.objects.filter(account=account).values_list("book").annotate(total=Sum("amount")).order_by()
    )
    assert sums.get(Book.AVAILABLE, 0) == account.balance
    assert sums.get(Book.RESERVED, 0) == account.reserved
    assert sums.get(Book.SPENT, 0) == account.spent
    assert sums.get(Book.EXTERNAL, 0) == account.external
    assert account.balance + account.reserved + account.spent + account.external == 0
    transfers: dict = defaultdict(int)
    running: dict = defaultdict(int)
    for transfer, book, amount, after in (
        LedgerEntry.objects.filter(account=account)
        .order_by("id")
        .values_list("transfer", "book", "amount", "balance_after")
    ):
        transfers[transfer] += amount
        running[book] += amount
        # Entries are written under the account row's lock: in id order they replay it.
        assert after == running[book], (book, amount, after, running[book])
    assert set(transfers.values()) <= {0}
    assert account.reserved >= 0


@pytest.fixture
def ledger_ok():
    return assert_ledger_consistent
