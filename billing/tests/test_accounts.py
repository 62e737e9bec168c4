"""Account settings through the services: units, switches, the trial."""

from __future__ import annotations

import pytest
from django.test import override_settings

from billing.models import AccountChange, EntryKind, LedgerEntry, SwitchRequest
from billing.services import account_ensure, account_topup, account_update, switch_decide, switch_request
from billing.tests.conftest import CREDIT, assert_ledger_consistent
from softafrik.errors import DomainError

pytestmark = pytest.mark.django_db


@override_settings(BILLING_TRIAL_CREDIT="10")
def test_a_new_account_gets_its_trial_credit_once(owner):
    account = account_ensure(tenant_id=owner.tenant.pk)
    assert account_ensure(tenant_id=owner.tenant.pk).pk == account.pk
    assert (account.type, account.unit, account.balance) == ("prepaid", "credits", 10 * CREDIT)
    assert LedgerEntry.objects.filter(account=account, kind=EntryKind.TRIAL).count() == 2
    assert_ledger_consistent(account)


@override_settings(BILLING_TRIAL_CREDIT="10")
def test_an_untouched_trial_is_withdrawn_when_the_unit_changes(owner):
    account = account_update(account=account_ensure(tenant_id=owner.tenant.pk), unit="XOF", reason="sold in XOF")
    assert (account.unit, account.balance, account.external) == ("XOF", 0, 0)
    assert AccountChange.objects.filter(account=account, field="unit", new_value="XOF").count() == 1
    assert_ledger_consistent(account)


@override_settings(BILLING_TRIAL_CREDIT="10")
def test_the_unit_of_an_account_holding_money_never_changes(owner):
    account = account_ensure(tenant_id=owner.tenant.pk)
    account_topup(account=account, amount=5 * CREDIT, note="paid")
    with pytest.raises(DomainError, match="adjust its balance to zero first"):
        account_update(account=account, unit="XOF")
    account.refresh_from_db()
    assert (account.unit, account.balance) == ("credits", 15 * CREDIT)


def test_one_switch_request_waits_at_a_time_and_approval_switches(owner):
    account = account_ensure(tenant_id=owner.tenant.pk)
    request = switch_request(account=account, requested_type="postpaid", reason="contract")
    with pytest.raises(DomainError, match="already waiting"):
        switch_request(account=account, requested_type="postpaid")
    assert SwitchRequest.objects.count() == 1
    switch_decide(request=request, approve=True)
    account.refresh_from_db()
    assert account.type == "postpaid"
    assert AccountChange.objects.filter(account=account, field="type", new_value="postpaid").count() == 1
