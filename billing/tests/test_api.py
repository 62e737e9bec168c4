"""The account API: balance, usage, ledger pages and prices, each tenant seeing its own only."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from billing import selectors
from billing.models import AccountType, BillingAccount, LedgerEntry, Tariff
from billing.services import Outcome, account_ensure, account_topup, account_update, charge_reserve, charges_apply

pytestmark = pytest.mark.django_db

PATHS = (
    "/api/account",
    "/api/account/usage",
    "/api/account/entries",
    "/api/account/price?to=%2B22890123456&text=Hi",
)


@pytest.fixture(autouse=True)
def _no_trial(settings):
    """Accounts start at zero: every balance below is what the test put there."""
    settings.BILLING_TRIAL_CREDIT = "0"


def funded(tenant, amount: int) -> BillingAccount:
    account = account_ensure(tenant_id=tenant.pk)
    if amount:
        account_topup(account=account, amount=amount, note="funds")
    account.refresh_from_db()
    return account


_recipient_ids = itertools.count(1)


def ended(account, *, channel: str, at: datetime, settled: list[tuple[int, int]], released: list[int] = ()) -> None:
    """A send reserved at ``at`` whose recipients then settle ((amount, quantity) each) or are
    released (amount each), as the billing consumer applies them."""
    send_id = uuid.uuid4()
    total = sum(amount for amount, _ in settled) + sum(released)
    charge_reserve(
        tenant_id=account.tenant_id, unit=account.unit, amount=total, reference=f"{channel}:{send_id}", at=at
    )
    outcomes = [
        Outcome(channel, next(_recipient_ids), account.pk, send_id, True, amount, quantity)
        for amount, quantity in settled
    ]
    outcomes += [Outcome(channel, next(_recipient_ids), account.pk, send_id, False, amount) for amount in released]
    charges_apply(outcomes=outcomes, at=at)


# --- Authentication and scoping -------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_every_endpoint_needs_a_key_and_creates_nothing_without_one(path):
    response = APIClient().get(path)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert BillingAccount.objects.count() == 0


@pytest.mark.parametrize("path", PATHS)
def test_a_revoked_key_is_refused(owner, path):
    from accounts.services import api_key_revoke

    api_key_revoke(api_key=owner.tenant.api_keys.get())
    assert owner.get(path).status_code == 401
    assert BillingAccount.objects.count() == 0


def test_an_outsider_sees_only_its_own_account_usage_and_ledger(owner, outsider):
    account = funded(owner.tenant, 5000)
    account_update(account=account, type=AccountType.POSTPAID, credit_limit=20000, reason="contract")
    ended(account, channel="sms", at=datetime(2025, 3, 1, 12, tzinfo=UTC), settled=[(100, 1)])

    assert outsider.get("/api/account").json() == {
        "type": "prepaid",
        "unit": "credits",
        "balance": "0.00",
        "reserved": "0.00",
        "credit_limit": None,
        "low_balance_threshold": "0.00",
    }
    usage = outsider.get("/api/account/usage?from=2025-03-01&to=2025-03-31").json()
    assert (usage["days"], usage["totals"]) == ([], [])
    assert outsider.get("/api/account/entries").json() == {"unit": "credits", "entries": [], "next": None}
    # The owner's account is as it was.
    assert owner.get("/api/account").json()["balance"] == "49.00"
    assert LedgerEntry.objects.filter(account__tenant=outsider.tenant).count() == 0


# --- GET /api/account -----------------------------------------------------------------


def test_account_is_created_on_first_read_with_the_trial_credit(owner, settings):
    settings.BILLING_TRIAL_CREDIT = "10"
    assert owner.get("/api/account").json() == {
        "type": "prepaid",
        "unit": "credits",
        "balance": "10.00",
        "reserved": "0.00",
        "credit_limit": None,
        "low_balance_threshold": "0.00",
    }
    assert owner.get("/api/account").json()["balance"] == "10.00"  # the trial once
    assert BillingAccount.objects.get(tenant=owner.tenant).balance == 1000


def test_account_shows_a_postpaid_currency_account_in_its_unit(owner):
    account = account_ensure(tenant_id=owner.tenant.pk)
    account_update(
        account=account, unit="XOF", type=AccountType.POSTPAID, credit_limit=50000, low_balance_threshold=2500
    )
    charge_reserve(tenant_id=owner.tenant.pk, unit="XOF", amount=1500, reference="sms:x")
    assert owner.get("/api/account").json() == {
        "type": "postpaid",
        "unit": "XOF",
        "balance": "-1500",
        "reserved": "1500",
        "credit_limit": "50000",
        "low_balance_threshold": "2500",
    }


# --- GET /api/account/usage -----------------------------------------------------------


def test_usage_sums_per_channel_and_day_in_the_tenants_time_zone(owner):
    owner.tenant.timezone = "Asia/Tokyo"  # UTC+9
    owner.tenant.save()
    account = funded(owner.tenant, 100000)
    # 20:00 UTC on 1 March is 05:00 on 2 March in Tokyo.
    ended(account, channel="sms", at=datetime(2025, 3, 1, 20, tzinfo=UTC), settled=[(200, 2), (300, 3)], released=[100])
    ended(account, channel="sms", at=datetime(2025, 3, 2, 10, tzinfo=UTC), settled=[(100, 1)])
    ended(account, channel="push", at=datetime(2025, 3, 2, 11, tzinfo=UTC), settled=[(5, 1), (5, 1)], released=[5])
    ended(account, channel="sms", at=datetime(2025, 3, 2, 16, tzinfo=UTC), settled=[(700, 7)])  # 3 March in Tokyo
    ended(account, channel="sms", at=datetime(2025, 3, 1, 14, tzinfo=UTC), settled=[(900, 9)])  # 1 March: outside

    response = owner.get("/api/account/usage?from=2025-03-02&to=2025-03-03")
    assert response.status_code == 200
    assert response.json() == {
        "from": "2025-03-02",
        "to": "2025-03-03",
        "timezone": "Asia/Tokyo",
        "unit": "credits",
        "days": [
            {"date": "2025-03-02", "channel": "push", "settled": 2, "quantity": 2, "amount": "0.10", "released": 1},
            {"date": "2025-03-02", "channel": "sms", "settled": 3, "quantity": 6, "amount": "6.00", "released": 1},
            {"date": "2025-03-03", "channel": "sms", "settled": 1, "quantity": 7, "amount": "7.00", "released": 0},
        ],
        "totals": [
            {"channel": "push", "settled": 2, "quantity": 2, "amount": "0.10", "released": 1},
            {"channel": "sms", "settled": 4, "quantity": 13, "amount": "13.00", "released": 1},
        ],
    }


def test_usage_is_one_aggregate_query(owner):
    account = funded(owner.tenant, 10000)
    for hour in range(5):
        ended(account, channel="sms", at=datetime(2025, 3, 1, hour, tzinfo=UTC), settled=[(100, 1)], released=[100])
    with CaptureQueriesContext(connection) as queries:
        rows = selectors.account_usage(
            account_id=account.pk, zone=ZoneInfo("UTC"), start=date(2025, 3, 1), end=date(2025, 3, 1)
        )
    assert len(queries) == 1
    assert [(r["settled_count"], r["quantity"], r["amount"], r["released_count"]) for r in rows] == [(5, 5, 500, 5)]


def test_usage_defaults_to_this_month_so_far(owner):
    from django.utils import timezone

    account = funded(owner.tenant, 10000)
    now = timezone.now()
    ended(account, channel="sms", at=now, settled=[(100, 1)])
    body = owner.get("/api/account/usage").json()
    today = now.date()
    assert (body["from"], body["to"]) == (today.replace(day=1).isoformat(), today.isoformat())
    assert body["totals"] == [{"channel": "sms", "settled": 1, "quantity": 1, "amount": "1.00", "released": 0}]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2025-13-01&to=2025-12-31", "from"),
        ("from=yesterday", "from"),
        ("from=2025-01-01&to=2025-02-30", "to"),
        ("from=2025-03-02&to=2025-03-01", "to"),  # from after to
        ("from=2024-01-01&to=2025-01-01", "to"),  # 367 days
        ("from=0001-01-01&to=0001-01-02", "from"),
        ("from=9999-12-30&to=9999-12-31", "from"),
    ],
)
def test_usage_refuses_bad_dates_naming_the_field(owner, query, field):
    response = owner.get(f"/api/account/usage?{query}")
    assert response.status_code == 400
    body = response.json()
    assert (body["error"], body["field"]) == ("invalid", field)


def test_usage_takes_a_whole_year_of_366_days(owner):
    response = owner.get("/api/account/usage?from=2024-01-01&to=2024-12-31")
    assert response.status_code == 200
    assert (response.json()["from"], response.json()["to"]) == ("2024-01-01", "2024-12-31")


# --- GET /api/account/entries ---------------------------------------------------------


def test_entries_page_the_ledger_newest_first(owner):
    account = funded(owner.tenant, 5000)
    charge_reserve(tenant_id=owner.tenant.pk, unit="credits", amount=300, reference="sms:abc", quantity=3)
    ids = list(LedgerEntry.objects.filter(account=account).order_by("-id").values_list("id", flat=True))
    assert len(ids) == 4

    first = owner.get("/api/account/entries?limit=3").json()
    assert [e["id"] for e in first["entries"]] == ids[:3]
    assert first["next"] == ids[2]
    reserved, available = first["entries"][0], first["entries"][1]
    assert {k: v for k, v in reserved.items() if k not in ("id", "created_at")} == {
        "book": "reserved",
        "kind": "reserve",
        "amount": "3.00",
        "balance_after": "3.00",
        "reference": "sms:abc",
        "quantity": 3,
        "note": "",
    }
    assert (available["book"], available["amount"], available["balance_after"]) == ("available", "-3.00", "47.00")
    assert first["entries"][2]["kind"] == "topup" and first["entries"][2]["note"] == "funds"
    assert reserved["created_at"].endswith("Z")

    last = owner.get(f"/api/account/entries?limit=3&after={first['next']}").json()
    assert [e["id"] for e in last["entries"]] == ids[3:]
    assert last["entries"][0]["balance_after"] == "-50.00"  # the external book
    assert last["next"] is None


def test_entries_default_limit_is_100_and_a_book_can_be_chosen(owner):
    account = funded(owner.tenant, 0)
    for n in range(60):
        account_topup(account=account, amount=100, reference=f"pay-{n}")
    body = owner.get("/api/account/entries").json()
    assert len(body["entries"]) == 100 and body["next"] is not None
    available = owner.get("/api/account/entries?book=available&limit=500").json()
    assert [e["balance_after"] for e in available["entries"]][:2] == ["60.00", "59.00"]
    assert len(available["entries"]) == 60 and available["next"] is None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=x", "limit"),
        ("after=0", "after"),
        ("after=99999999999999999999", "after"),
        ("book=vault", "book"),
    ],
)
def test_entries_refuse_bad_paging(owner, query, field):
    response = owner.get(f"/api/account/entries?{query}")
    assert response.status_code == 400
    assert response.json()["field"] == field


# --- GET /api/account/price -----------------------------------------------------------


@pytest.fixture
def tariffs(owner, outsider):
    Tariff.objects.create(channel="sms", unit="credits", prefix="", price=120)
    Tariff.objects.create(channel="sms", unit="credits", prefix="228", price=80, label="Togo")
    Tariff.objects.create(channel="sms", unit="credits", prefix="22890", price=50, label="Togo operator")
    Tariff.objects.create(tenant=owner.tenant, channel="sms", unit="credits", prefix="22891", price=30)
    Tariff.objects.create(channel="push", unit="credits", prefix="", price=5)


def test_price_of_an_sms_by_longest_prefix_without_sending(owner, tariffs):
    response = owner.get("/api/account/price?channel=sms&to=%2B22890123456&text=Bonjour")
    assert response.status_code == 200
    assert response.json() == {
        "channel": "sms",
        "unit": "credits",
        "encoding": "gsm7",
        "parts": 1,
        "unit_price": "0.50",
        "quantity": 1,
        "total": "0.50",
        "lines": [{"to": "+22890123456", "unit_price": "0.50", "total": "0.50"}],
    }
    assert LedgerEntry.objects.count() == 0
    from sms.models import SmsMessage

    assert SmsMessage.objects.count() == 0


def test_price_of_several_numbers_and_parts(owner, tariffs):
    text = "a" * 161  # two GSM-7 parts
    response = owner.get(
        "/api/account/price", {"to": "+22890123456,91234567, +22870123456,+33612345678,90123456", "text": text}
    )
    assert response.json() == {
        "channel": "sms",
        "unit": "credits",
        "encoding": "gsm7",
        "parts": 2,
        "unit_price": "0.50",
        "quantity": 8,  # the repeated number is priced once, as it is sent once
        "total": "5.60",
        "lines": [
            {"to": "+22890123456", "unit_price": "0.50", "total": "1.00"},
            {"to": "+22891234567", "unit_price": "0.30", "total": "0.60"},  # the owner's own price
            {"to": "+22870123456", "unit_price": "0.80", "total": "1.60"},
            {"to": "+33612345678", "unit_price": "1.20", "total": "2.40"},  # the default
        ],
    }


def test_an_outsider_gets_the_platform_prices_not_the_owners(outsider, tariffs):
    body = outsider.get("/api/account/price", {"to": "+22891234567", "text": "Hi"}).json()
    assert (body["unit_price"], body["total"]) == ("0.80", "0.80")


def test_price_of_a_ucs2_text_without_tariffs_is_one_credit_a_part(owner):
    body = owner.get("/api/account/price", {"to": "+22890123456", "text": "Привет " * 11}).json()
    assert (body["encoding"], body["parts"], body["unit_price"], body["total"]) == ("ucs2", 2, "1.00", "2.00")


def test_an_unencoded_plus_is_read_as_one(owner, tariffs):
    # "+" in a query string means a space: "to=+228..." arrives as " 228...".
    body = owner.get("/api/account/price?to=+22890123456,+22870123456&text=Hi").json()
    assert [line["to"] for line in body["lines"]] == ["+22890123456", "+22870123456"]


def test_price_in_a_currency_account(owner):
    account = account_ensure(tenant_id=owner.tenant.pk)
    account_update(account=account, unit="XOF")
    Tariff.objects.create(channel="sms", unit="XOF", prefix="228", price=25)
    body = owner.get("/api/account/price", {"to": "+22890123456,+22891234567", "text": "Hi"}).json()
    assert (body["unit"], body["unit_price"], body["total"]) == ("XOF", "25", "50")


def test_price_of_push_deliveries(owner, tariffs):
    assert owner.get("/api/account/price?channel=push").json() == {
        "channel": "push",
        "unit": "credits",
        "unit_price": "0.05",
        "quantity": 1,
        "total": "0.05",
    }
    assert owner.get("/api/account/price?channel=push&devices=30").json()["total"] == "1.50"


def test_push_is_free_by_default(owner):
    assert owner.get("/api/account/price?channel=push&devices=3").json()["total"] == "0.00"


@pytest.mark.parametrize(
    ("params", "field", "says"),
    [
        ({"to": "+2289", "text": "Hi"}, "to", "+2289: "),
        ({"to": "+22890123456,hello", "text": "Hi"}, "to", "hello: not a number."),
        ({"to": ",,", "text": "Hi"}, "to", "Give at least one number."),
        ({"text": "Hi"}, "to", "This field is required."),
        ({"to": "+22890123456"}, "text", "This field is required."),
        ({"to": "+22890123456", "text": "x" * 2000}, "text", "parts"),
        ({"channel": "fax", "to": "+22890123456", "text": "Hi"}, "channel", ""),
        ({"channel": "push", "devices": "0"}, "devices", ""),
    ],
)
def test_price_refuses_bad_input_naming_the_field(owner, params, field, says):
    response = owner.get("/api/account/price", params)
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == field
    assert says in body["message"]


def test_price_refuses_more_than_a_thousand_numbers(owner):
    numbers = ",".join(f"+2289{n:07d}" for n in range(1001))
    response = owner.get("/api/account/price", {"to": numbers, "text": "Hi"})
    assert (response.status_code, response.json()["field"]) == (400, "to")
