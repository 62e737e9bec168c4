"""The billing admin: a tenant's staff sees its own account, ledger and prices, read-only, and
asks for switches; platform admins change, top up, adjust and decide, every change audited."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from billing.models import AccountChange, BillingAccount, LedgerEntry, SwitchRequest, SwitchStatus, Tariff
from billing.pricing import SmsPricer
from billing.services import account_ensure, account_topup, switch_request

pytestmark = pytest.mark.django_db

ACCOUNTS = "/admin/billing/billingaccount/"
LEDGER = "/admin/billing/ledgerentry/"
CHANGES = "/admin/billing/accountchange/"
TARIFFS = "/admin/billing/tariff/"
SWITCHES = "/admin/billing/switchrequest/"


@pytest.fixture(autouse=True)
def _no_trial(settings):
    settings.BILLING_TRIAL_CREDIT = "0"
    settings.SITE_LANGUAGE_CODE = "en"  # these tests read the admin's messages in English


def funded(tenant, amount: int, reference: str = "") -> BillingAccount:
    account = account_ensure(tenant_id=tenant.pk)
    account_topup(account=account, amount=amount, note=f"funds of {tenant.name}", reference=reference)
    account.refresh_from_db()
    return account


@pytest.fixture
def accounts(owner, outsider):
    return funded(owner.tenant, 1234, "own-pay"), funded(outsider.tenant, 98765, "other-pay")


@pytest.fixture
def staff(owner) -> Client:
    client = Client()
    client.force_login(User.objects.create_user("ops", password="pw-12345-long", is_staff=True, tenant=owner.tenant))
    return client


@pytest.fixture
def outsider_staff(outsider) -> Client:
    client = Client()
    user = User.objects.create_user("other-ops", password="pw-12345-long", is_staff=True, tenant=outsider.tenant)
    client.force_login(user)
    return client


@pytest.fixture
def root_user(db):
    return User.objects.create_superuser("root", password="pw-12345-long")


@pytest.fixture
def root(root_user) -> Client:
    client = Client()
    client.force_login(root_user)
    return client


def books(account) -> tuple:
    account.refresh_from_db()
    return (account.type, account.balance, account.credit_limit, account.low_balance_threshold)


# --- Accounts: what a tenant's staff sees --------------------------------------------


def test_staff_lists_only_its_own_account(staff, accounts):
    page = staff.get(ACCOUNTS).content.decode()
    assert "Owner Bank" in page and "12.34 credits" in page
    assert "Outsider Pay" not in page and "987.65" not in page


def test_staff_dashboard_creates_its_account_on_first_visit(staff, owner):
    assert not BillingAccount.objects.filter(tenant=owner.tenant).exists()
    assert "0.00 credits" in staff.get(ACCOUNTS).content.decode()
    assert BillingAccount.objects.filter(tenant=owner.tenant).count() == 1


def test_staff_sees_its_account_live_and_read_only(staff, accounts, owner):
    own, _ = accounts
    page = staff.get(f"{ACCOUNTS}{own.pk}/change/").content.decode()
    assert "12.34 credits" in page
    funded(owner.tenant, 100)
    assert "13.34 credits" in staff.get(f"{ACCOUNTS}{own.pk}/change/").content.decode()
    assert 'name="low_balance_amount"' not in page and "Top up" not in page
    before = books(own)
    response = staff.post(
        f"{ACCOUNTS}{own.pk}/change/",
        {"type": "postpaid", "credit_limit_amount": "", "low_balance_amount": "0", "reason": "x"},
    )
    assert response.status_code == 403
    assert books(own) == before
    assert AccountChange.objects.filter(field="type").count() == 0


def test_staff_never_sees_another_tenants_account(staff, accounts):
    _, other = accounts
    response = staff.get(f"{ACCOUNTS}{other.pk}/change/", follow=True)
    assert response.redirect_chain == [("/admin/", 302)]
    assert "987.65" not in response.content.decode()
    assert staff.get(f"{ACCOUNTS}{other.pk}/topup/").status_code == 403


@pytest.mark.parametrize("kind", ["topup", "adjust"])
def test_staff_cannot_top_up_or_adjust_even_its_own(staff, accounts, kind):
    own, _ = accounts
    before = books(own)
    assert staff.get(f"{ACCOUNTS}{own.pk}/{kind}/").status_code == 403
    response = staff.post(f"{ACCOUNTS}{own.pk}/{kind}/", {"amount": "500", "note": "gift"})
    assert response.status_code == 403
    staff.post(ACCOUNTS, {"action": f"{kind}_one", "_selected_action": [own.pk]})
    assert books(own) == before
    assert LedgerEntry.objects.filter(account=own).count() == 2


def test_nobody_adds_or_deletes_an_account(root, accounts):
    own, _ = accounts
    assert root.get(f"{ACCOUNTS}add/").status_code == 403
    root.post(f"{ACCOUNTS}{own.pk}/delete/", {"post": "yes"})
    assert BillingAccount.objects.filter(pk=own.pk).exists()


# --- Accounts: what platform admins do -------------------------------------------------


def test_platform_admin_lists_every_account_with_its_low_balance_flag(root, accounts):
    own, _ = accounts
    BillingAccount.objects.filter(pk=own.pk).update(low_balance_alerted_at=timezone.now())
    page = root.get(ACCOUNTS).content.decode()
    assert "Owner Bank" in page and "Outsider Pay" in page
    assert "12.34 credits" in page and "987.65 credits" in page
    assert page.count("check_small") == 1  # the flag (the theme's tick) of the one below its threshold


def test_platform_admin_switches_type_and_sets_limits_audited(root, root_user, accounts):
    own, other = accounts
    response = root.post(
        f"{ACCOUNTS}{own.pk}/change/",
        {"type": "postpaid", "credit_limit_amount": "500", "low_balance_amount": "2.50", "reason": "contract 7"},
    )
    assert response.status_code == 302
    assert books(own) == ("postpaid", 1234, 50000, 250)
    assert list(
        AccountChange.objects.filter(account=own)
        .exclude(field="topup")
        .order_by("id")
        .values_list("field", "old_value", "new_value", "reason", "changed_by", "via")
    ) == [
        ("type", "prepaid", "postpaid", "contract 7", root_user.pk, "admin"),
        ("credit_limit", "", "50000", "contract 7", root_user.pk, "admin"),
        ("low_balance_threshold", "0", "250", "contract 7", root_user.pk, "admin"),
    ]
    root.post(
        f"{ACCOUNTS}{own.pk}/change/",
        {"type": "prepaid", "credit_limit_amount": "", "low_balance_amount": "2.5", "reason": "back"},
    )
    assert books(own) == ("prepaid", 1234, None, 250)
    assert books(other) == ("prepaid", 98765, None, 0)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"type": "postpaid", "credit_limit_amount": "", "low_balance_amount": "0.00", "reason": ""}, "reason"),
        ({"type": "prepaid", "credit_limit_amount": "-5", "low_balance_amount": "0", "reason": "x"}, "credit_limit"),
        ({"type": "prepaid", "credit_limit_amount": "", "low_balance_amount": "1.001", "reason": "x"}, "low_balance"),
        ({"type": "gold", "credit_limit_amount": "", "low_balance_amount": "0", "reason": "x"}, "type"),
    ],
)
def test_platform_admin_change_refused_changes_nothing(root, accounts, data, field):
    own, _ = accounts
    before = books(own)
    response = root.post(f"{ACCOUNTS}{own.pk}/change/", data)
    assert response.status_code == 200  # the form again, with its error
    errors = response.context["adminform"].form.errors
    assert any(name.startswith(field) for name in errors), errors
    assert books(own) == before
    assert AccountChange.objects.exclude(field="topup").count() == 0


def test_platform_admin_tops_up_through_the_form(root, root_user, accounts):
    own, other = accounts
    page = root.get(f"{ACCOUNTS}{own.pk}/change/").content.decode()
    assert f"{ACCOUNTS}{own.pk}/topup/" in page and f"{ACCOUNTS}{own.pk}/adjust/" in page
    response = root.post(f"{ACCOUNTS}{own.pk}/topup/", {"amount": "100", "note": "Order 5", "reference": "bank-1"})
    assert response.status_code == 302 and response["Location"] == f"{ACCOUNTS}{own.pk}/change/"
    assert books(own)[1] == 1234 + 10000
    entry = LedgerEntry.objects.filter(account=own, book="available").latest("id")
    assert (entry.kind, entry.amount, entry.note, entry.created_by_id) == ("topup", 10000, "Order 5", root_user.pk)
    change = AccountChange.objects.filter(account=own).latest("id")
    assert (change.field, change.new_value, change.reason, change.changed_by_id, change.via) == (
        "topup",
        "100.00",
        "Order 5",
        root_user.pk,
        "admin",
    )
    # The same reference again: refused on the form, credited once.
    again = root.post(f"{ACCOUNTS}{own.pk}/topup/", {"amount": "100", "note": "Order 5", "reference": "bank-1"})
    assert again.status_code == 200 and "credited already" in again.content.decode()
    assert books(own)[1] == 11234
    assert books(other)[1] == 98765


@pytest.mark.parametrize(
    ("kind", "data", "says"),
    [
        ("topup", {"amount": "ten"}, "is not an amount"),
        ("topup", {"amount": "-1"}, "is negative"),
        ("topup", {"amount": "0"}, "A top-up is a positive amount."),
        ("adjust", {"amount": "-1", "note": ""}, "This field is required."),
        ("adjust", {"amount": "0", "note": "why"}, "An adjustment is a non-zero amount."),
        ("adjust", {"amount": "0.001", "note": "why"}, "more than 2 decimals"),
    ],
)
def test_platform_admin_money_form_refusals_change_nothing(root, accounts, kind, data, says):
    own, _ = accounts
    entries = LedgerEntry.objects.count()
    response = root.post(f"{ACCOUNTS}{own.pk}/{kind}/", data)
    assert response.status_code == 200
    assert says in response.content.decode()
    assert books(own)[1] == 1234
    assert LedgerEntry.objects.count() == entries


def test_platform_admin_adjusts_either_way_with_a_note(root, root_user, accounts):
    own, _ = accounts
    root.post(f"{ACCOUNTS}{own.pk}/adjust/", {"amount": "-2.34", "note": "duplicate credit"})
    assert books(own)[1] == 1000
    change = AccountChange.objects.filter(account=own).latest("id")
    assert (change.field, change.new_value, change.reason, change.changed_by_id) == (
        "adjustment",
        "-2.34",
        "duplicate credit",
        root_user.pk,
    )


def test_platform_admin_actions_open_the_forms_for_one_account(root, accounts):
    own, other = accounts
    response = root.post(ACCOUNTS, {"action": "topup_one", "_selected_action": [own.pk]})
    assert response.status_code == 302 and response["Location"] == f"{ACCOUNTS}{own.pk}/topup/"
    response = root.post(ACCOUNTS, {"action": "adjust_one", "_selected_action": [own.pk, other.pk]}, follow=True)
    assert "Select one account." in response.content.decode()


def test_top_up_of_an_unknown_account_is_not_found(root, accounts):
    assert root.get(f"{ACCOUNTS}999999/topup/").status_code == 404


# --- The ledger and the audit trail ----------------------------------------------------


def test_staff_sees_only_its_own_ledger(staff, accounts):
    _, other = accounts
    page = staff.get(LEDGER).content.decode()
    assert "topup:own-pay" in page and "topup:other-pay" not in page
    assert "Outsider Pay" not in page  # not even as a filter choice
    other_entry = LedgerEntry.objects.filter(account=other).first()
    response = staff.get(f"{LEDGER}{other_entry.pk}/change/", follow=True)
    assert response.redirect_chain == [("/admin/", 302)]
    assert staff.get(f"{LEDGER}?account__id__exact={other.pk}").context["cl"].result_count == 0


def test_platform_admin_filters_the_ledger_by_account(root, accounts):
    own, _ = accounts
    response = root.get(f"{LEDGER}?account__id__exact={own.pk}")
    assert response.context["cl"].result_count == 2
    assert "topup:other-pay" not in response.content.decode()


def test_nobody_adds_changes_or_deletes_ledger_entries(root, staff, accounts):
    own, _ = accounts
    entry = LedgerEntry.objects.filter(account=own).first()
    for client in (root, staff):
        assert client.get(f"{LEDGER}add/").status_code == 403
        assert client.post(f"{LEDGER}{entry.pk}/change/", {"amount": "1"}).status_code == 403
        client.post(f"{LEDGER}{entry.pk}/delete/", {"post": "yes"})
        client.post(LEDGER, {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"})
    entry.refresh_from_db()
    assert entry.amount in (1234, -1234)
    assert LedgerEntry.objects.count() == 4


def test_the_audit_trail_is_read_only_and_scoped(root, staff, accounts):
    own, _ = accounts
    page = staff.get(CHANGES).content.decode()
    assert "funds of Owner Bank" in page and "funds of Outsider Pay" not in page
    change = AccountChange.objects.filter(account=own).get()
    for client in (root, staff):
        assert client.get(f"{CHANGES}add/").status_code == 403
        client.post(f"{CHANGES}{change.pk}/delete/", {"post": "yes"})
    assert AccountChange.objects.count() == 2
    assert "funds of Outsider Pay" in root.get(CHANGES).content.decode()


# --- Tariffs ---------------------------------------------------------------------------


def test_platform_admin_sets_prices_in_the_unit(root, owner):
    response = root.post(
        f"{TARIFFS}add/",
        {"tenant": "", "channel": "sms", "unit": "credits", "prefix": "+228", "price": "0.80", "label": "Togo"},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    tariff = Tariff.objects.get()
    assert (tariff.tenant, tariff.prefix, tariff.price, tariff.unit) == (None, "228", 80, "credits")
    # The price applies at once in this process.
    assert SmsPricer(tenant_id=owner.tenant.pk, unit="credits").part_price("+22890123456") == 80
    root.post(
        f"{TARIFFS}{tariff.pk}/change/",
        {"tenant": "", "channel": "sms", "unit": "credits", "prefix": "228", "price": "0.75", "label": "Togo"},
    )
    tariff.refresh_from_db()
    assert tariff.price == 75
    assert SmsPricer(tenant_id=owner.tenant.pk, unit="credits").part_price("+22890123456") == 75


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"unit": "credits", "prefix": "22x", "price": "1"}, "prefix"),
        ({"unit": "euro", "prefix": "", "price": "1"}, "unit"),
        ({"unit": "XOF", "prefix": "", "price": "2.5"}, "price"),
        ({"unit": "credits", "prefix": "", "price": "-1"}, "price"),
    ],
)
def test_tariff_form_refuses_bad_values(root, data, field):
    response = root.post(f"{TARIFFS}add/", {"tenant": "", "channel": "sms", "label": "", **data})
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert Tariff.objects.count() == 0


def test_staff_sees_the_platforms_prices_and_its_own_read_only(staff, owner, outsider):
    platform = Tariff.objects.create(channel="sms", prefix="228", price=80, label="Platform Togo")
    own = Tariff.objects.create(tenant=owner.tenant, channel="sms", prefix="22890", price=50, label="Own deal")
    other = Tariff.objects.create(tenant=outsider.tenant, channel="sms", prefix="22891", price=10, label="Other deal")
    page = staff.get(TARIFFS).content.decode()
    assert "Platform Togo" in page and "Own deal" in page and "Other deal" not in page
    assert staff.get(f"{TARIFFS}{own.pk}/change/").status_code == 200
    assert staff.get(f"{TARIFFS}{other.pk}/change/", follow=True).redirect_chain == [("/admin/", 302)]
    assert staff.get(f"{TARIFFS}add/").status_code == 403
    data = {"channel": "sms", "unit": "credits", "prefix": "228", "price": "0.01", "label": "cheap"}
    assert staff.post(f"{TARIFFS}{platform.pk}/change/", data).status_code == 403
    staff.post(f"{TARIFFS}{own.pk}/delete/", {"post": "yes"})
    assert sorted(Tariff.objects.values_list("price", flat=True)) == [10, 50, 80]


# --- Type switch requests --------------------------------------------------------------


def test_staff_asks_for_a_switch_once_at_a_time(staff, owner, accounts):
    own, _ = accounts
    assert f"{SWITCHES}add/" in staff.get(f"{ACCOUNTS}{own.pk}/change/").content.decode()
    response = staff.post(f"{SWITCHES}add/", {"requested_type": "postpaid", "reason": "monthly invoices"})
    assert response.status_code == 302
    switch = SwitchRequest.objects.get()
    assert (switch.account_id, switch.requested_type, switch.reason, switch.status) == (
        own.pk,
        "postpaid",
        "monthly invoices",
        "pending",
    )
    assert switch.requested_by.username == "ops"
    again = staff.post(f"{SWITCHES}add/", {"requested_type": "postpaid", "reason": "again"})
    assert again.status_code == 200 and "already waiting" in again.content.decode()
    same = staff.post(f"{SWITCHES}add/", {"requested_type": "prepaid"})
    assert "Ask for the other account type." in same.content.decode()
    assert SwitchRequest.objects.count() == 1
    assert books(own)[0] == "prepaid"


def test_staff_cannot_decide_its_own_request(staff, accounts):
    own, _ = accounts
    switch = switch_request(account=own, requested_type="postpaid", reason="please")
    assert 'value="approve"' not in staff.get(SWITCHES).content.decode()
    staff.post(SWITCHES, {"action": "approve", "_selected_action": [switch.pk]})
    switch.refresh_from_db()
    assert switch.status == SwitchStatus.PENDING
    assert books(own)[0] == "prepaid"


def test_an_outsider_never_sees_the_owners_request(outsider_staff, accounts):
    own, _ = accounts
    switch_request(account=own, requested_type="postpaid", reason="secret plans")
    assert "secret plans" not in outsider_staff.get(SWITCHES).content.decode()


def test_platform_admin_approves_and_refuses(root, root_user, accounts):
    own, other = accounts
    approved = switch_request(account=own, requested_type="postpaid", reason="monthly")
    refused = switch_request(account=other, requested_type="postpaid", reason="why not")
    page = root.get(SWITCHES).content.decode()
    assert "monthly" in page and "why not" in page and 'value="approve"' in page
    assert root.get(f"{SWITCHES}add/").status_code == 403  # platform admins switch directly
    root.post(SWITCHES, {"action": "approve", "_selected_action": [approved.pk]})
    root.post(SWITCHES, {"action": "refuse", "_selected_action": [refused.pk]})
    approved.refresh_from_db()
    refused.refresh_from_db()
    assert (approved.status, approved.decided_by_id) == ("approved", root_user.pk)
    assert (refused.status, refused.decided_by_id) == ("refused", root_user.pk)
    assert (books(own)[0], books(other)[0]) == ("postpaid", "prepaid")
    change = AccountChange.objects.get(account=own, field="type")
    assert (change.old_value, change.new_value, change.changed_by_id) == ("prepaid", "postpaid", root_user.pk)
    assert change.reason == f"request #{approved.pk}: monthly"
    # Deciding again changes nothing.
    root.post(SWITCHES, {"action": "refuse", "_selected_action": [approved.pk]})
    approved.refresh_from_db()
    assert approved.status == "approved" and books(own)[0] == "postpaid"


# --- The balance and the low-balance banner ---------------------------------------------


def test_staff_dashboard_shows_the_balance(staff, accounts):
    page = staff.get("/admin/").content.decode()
    assert "Balance:" in page and "12.34 credits" in page
    assert "Low balance" not in page


def test_low_balance_banner_on_the_staffs_pages_only_while_alerted(staff, outsider_staff, root, accounts):
    own, _ = accounts
    BillingAccount.objects.filter(pk=own.pk).update(low_balance_alerted_at=timezone.now(), low_balance_threshold=5000)
    for path in ("/admin/", ACCOUNTS, LEDGER):
        page = staff.get(path).content.decode()
        assert "Low balance: 12.34 credits left, below the threshold of 50.00 credits." in " ".join(page.split())
    assert "Low balance" not in outsider_staff.get("/admin/").content.decode()
    assert "Low balance" not in root.get("/admin/").content.decode()
    BillingAccount.objects.filter(pk=own.pk).update(low_balance_alerted_at=None)
    assert "Low balance" not in staff.get("/admin/").content.decode()


def test_a_top_up_above_the_threshold_lifts_the_banner(staff, root, owner, accounts):
    own, _ = accounts
    root.post(
        f"{ACCOUNTS}{own.pk}/change/",
        {"type": "prepaid", "credit_limit_amount": "", "low_balance_amount": "50", "reason": "warn me"},
    )
    own.refresh_from_db()
    assert own.low_balance_alerted_at is not None
    assert "Low balance" in staff.get("/admin/").content.decode()
    root.post(f"{ACCOUNTS}{own.pk}/topup/", {"amount": "100", "note": ""})
    assert "Low balance" not in staff.get("/admin/").content.decode()
