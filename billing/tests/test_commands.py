"""billing_account and billing_topup: every change audited via "command", refusals change nothing."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from billing.models import AccountChange, BillingAccount, LedgerEntry
from billing.services import account_ensure, account_topup

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_trial(settings):
    settings.BILLING_TRIAL_CREDIT = "0"


def run(*args: str) -> list[str]:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().splitlines()


def audit(account) -> list[tuple]:
    return list(
        AccountChange.objects.filter(account=account)
        .order_by("id")
        .values_list("field", "old_value", "new_value", "reason", "via", "changed_by")
    )


def test_billing_account_shows_the_account_creating_it_on_first_need(owner):
    assert run("billing_account", "--tenant", "Owner Bank") == [
        "Account of Owner Bank: prepaid, in credits",
        "  balance: 0.00 credits",
        "  reserved: 0.00 credits",
        "  credit limit: none",
        "  low-balance threshold: 0.00 credits",
    ]
    assert BillingAccount.objects.filter(tenant=owner.tenant).count() == 1
    assert AccountChange.objects.count() == 0


def test_billing_account_changes_type_limit_and_threshold_each_audited(owner):
    lines = run(
        "billing_account",
        "--tenant",
        "Owner Bank",
        "--type",
        "postpaid",
        "--credit-limit",
        "5000",
        "--low-balance",
        "12.5",
        "--reason",
        "contract 42",
    )
    assert lines == [
        "Account of Owner Bank: postpaid, in credits",
        "  balance: 0.00 credits",
        "  reserved: 0.00 credits",
        "  credit limit: 5000.00 credits",
        "  low-balance threshold: 12.50 credits",  # 5000 credits of limit left: not low
    ]
    account = BillingAccount.objects.get(tenant=owner.tenant)
    assert (account.type, account.credit_limit, account.low_balance_threshold) == ("postpaid", 500000, 1250)
    assert audit(account) == [
        ("type", "prepaid", "postpaid", "contract 42", "command", None),
        ("credit_limit", "", "500000", "contract 42", "command", None),
        ("low_balance_threshold", "0", "1250", "contract 42", "command", None),
    ]
    run("billing_account", "--tenant", "Owner Bank", "--credit-limit", "none")
    account.refresh_from_db()
    assert account.credit_limit is None
    assert audit(account)[-1] == ("credit_limit", "500000", "", "", "command", None)


def test_billing_account_sets_a_currency_while_the_account_is_empty(owner):
    lines = run("billing_account", "--tenant", "Owner Bank", "--unit", "xof", "--low-balance", "2500")
    assert lines[0] == "Account of Owner Bank: prepaid, in XOF"
    assert lines[-1] == "  low-balance threshold: 2500 XOF (below it)"
    account = BillingAccount.objects.get(tenant=owner.tenant)
    assert (account.unit, account.low_balance_threshold) == ("XOF", 2500)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--tenant", "Nobody"], "No tenant named 'Nobody'."),
        (["--tenant", "Owner Bank", "--credit-limit", "lots"], "--credit-limit: 'lots' is not an amount."),
        (["--tenant", "Owner Bank", "--credit-limit", "-5"], "--credit-limit: -5 is negative."),
        (["--tenant", "Owner Bank", "--low-balance", "1.005"], "--low-balance: 1.005 has more than 2 decimals"),
        (["--tenant", "Owner Bank", "--unit", "XOF", "--low-balance", "2.5"], "has more than 0 decimals for XOF"),
        (["--tenant", "Owner Bank", "--unit", "EURO"], "Unknown unit 'EURO'"),
        (["--tenant", "Owner Bank", "--unit", "EUR", "--type", "postpaid"], "only change while the account holds"),
    ],
)
def test_billing_account_refusals_change_nothing(owner, args, says):
    account = account_ensure(tenant_id=owner.tenant.pk)
    account_topup(account=account, amount=100, note="funds")
    changes = AccountChange.objects.count()
    with pytest.raises(CommandError) as refused:
        call_command("billing_account", *args)
    assert says in str(refused.value)
    account.refresh_from_db()
    assert (account.type, account.unit, account.credit_limit, account.low_balance_threshold) == (
        "prepaid",
        "credits",
        None,
        0,
    )
    assert AccountChange.objects.count() == changes


def test_billing_account_refuses_an_unknown_type():
    with pytest.raises(CommandError, match="invalid choice: 'gold'"):
        call_command("billing_account", "--tenant", "Owner Bank", "--type", "gold")


def test_billing_topup_credits_the_account_audited(owner):
    lines = run("billing_topup", "--tenant", "Owner Bank", "--amount", "1000", "--note", "Order 17")
    assert lines[:3] == [
        "Credited 1000.00 credits.",
        "Account of Owner Bank: prepaid, in credits",
        "  balance: 1000.00 credits",
    ]
    account = BillingAccount.objects.get(tenant=owner.tenant)
    assert (account.balance, account.external) == (100000, -100000)
    assert audit(account) == [("topup", "", "1000.00", "Order 17", "command", None)]
    entry = LedgerEntry.objects.get(account=account, book="available")
    assert (entry.kind, entry.amount, entry.balance_after, entry.note) == ("topup", 100000, 100000, "Order 17")


def test_billing_topup_with_a_reference_credits_it_once(owner):
    run("billing_topup", "--tenant", "Owner Bank", "--amount", "25.50", "--reference", "pay-9")
    again = run("billing_topup", "--tenant", "Owner Bank", "--amount", "25.50", "--reference", "pay-9")
    assert again[0] == "Reference 'pay-9' was credited already: nothing done."
    assert again[2] == "  balance: 25.50 credits"
    account = BillingAccount.objects.get(tenant=owner.tenant)
    assert account.balance == 2550
    assert LedgerEntry.objects.filter(account=account).count() == 2
    assert AccountChange.objects.filter(account=account).count() == 1


def test_billing_topup_in_a_currency(owner):
    account = account_ensure(tenant_id=owner.tenant.pk)
    run("billing_account", "--tenant", "Owner Bank", "--unit", "XOF")
    run("billing_topup", "--tenant", "Owner Bank", "--amount", "50000")
    account.refresh_from_db()
    assert (account.unit, account.balance) == ("XOF", 50000)


@pytest.mark.parametrize(
    ("tenant", "amount", "says"),
    [
        ("Nobody", "10", "No tenant named 'Nobody'."),
        ("Owner Bank", "ten", "--amount: 'ten' is not an amount."),
        ("Owner Bank", "-10", "--amount: -10 is negative."),
        ("Owner Bank", "0", "A top-up is a positive amount."),
        ("Owner Bank", "0.001", "--amount: 0.001 has more than 2 decimals for credits."),
        ("Owner Bank", "1e20", "--amount: 1e20 is too large."),
    ],
)
def test_billing_topup_refusals_change_nothing(owner, tenant, amount, says):
    with pytest.raises(CommandError) as refused:
        call_command("billing_topup", "--tenant", tenant, "--amount", amount)
    assert str(refused.value) == says
    assert LedgerEntry.objects.count() == 0
    assert AccountChange.objects.count() == 0
    assert BillingAccount.objects.filter(balance__gt=0).count() == 0
