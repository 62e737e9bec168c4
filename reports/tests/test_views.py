"""The admin's first page and the reports page, through Django's test client: the known
month of ``demo_data`` gives exact figures, another tenant's staff sees none of them,
bad input is a 400 naming the field."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import timedelta

import pytest

from accounts.models import User
from billing.models import AccountType, BillingAccount
from billing.services import account_ensure
from reports.selectors import dashboard_figures, tenant_today
from reports.tests.factories import demo_data

pytestmark = pytest.mark.django_db(transaction=True)  # consumers read only committed events


@pytest.fixture
def staff_client(client, owner):
    User.objects.create_user("ama", password="pw-ama-123", is_staff=True, tenant=owner.tenant)
    client.login(username="ama", password="pw-ama-123")
    return client


def cells(html: str, row_attrs: str) -> dict[str, str]:
    """{data-field: text} of the table row whose attributes are ``row_attrs``."""
    row = re.search(rf"<tr {re.escape(row_attrs)}>(.*?)</tr>", html, re.S)
    assert row, row_attrs
    return {name: text.strip() for name, text in re.findall(r'data-field="(\w+)">([^<]*)<', row.group(1))}


def bars(html: str, chart_id: str) -> list[tuple[str, str]]:
    """(kind, title) of each bar of the chart in the element ``chart_id``, in order."""
    svg = html.split(f'id="{chart_id}"', 1)[1].split("</svg>", 1)[0]
    return re.findall(r'class="chart-(\w+)"><title>([^<]*)</title>', svg)


def test_the_first_page_shows_the_figures_per_period_and_channel(staff_client, owner):
    demo_data(owner.tenant)
    html = staff_client.get("/admin/").content.decode()
    sms_today = {"sent": "4", "delivered": "3", "failed": "1", "rate": "75.0 %", "p50": "≤ 30 s", "cost": "4.00"}
    assert cells(html, 'data-period="today" data-channel="sms"') == sms_today
    push = {"sent": "2", "delivered": "2", "failed": "1", "rate": "66.7 %", "p50": "≤ 1 s", "cost": "0.10"}
    assert cells(html, 'data-period="today" data-channel="push"') == push
    assert cells(html, 'data-period="7d" data-channel="push"') == push
    assert cells(html, 'data-period="7d" data-channel="sms"') == {
        **sms_today,
        "sent": "6",
        "delivered": "4",
        "rate": "66.7 %",
        "p50": "≤ 10 s",
        "cost": "6.00",
    }
    nothing = {"sent": "0", "delivered": "0", "failed": "0", "rate": "—", "p50": "—", "cost": "0.00"}
    assert cells(html, 'data-period="7d" data-channel="omni"') == nothing
    omni = {"sent": "0", "delivered": "1", "failed": "1", "rate": "50.0 %", "p50": "≤ 30 s", "cost": "0.00"}
    assert cells(html, 'data-period="30d" data-channel="omni"') == omni


def test_the_charts_tables_hold_each_days_countrys_and_senders_figures(staff_client, owner):
    demo_data(owner.tenant)
    html = staff_client.get("/admin/").content.decode()
    today = tenant_today(owner.tenant)
    day = lambda n: f'data-day="{(today - timedelta(days=n)).isoformat()}"'  # noqa: E731
    assert cells(html, day(0)) == {"outcomes": "7", "sent": "6", "delivered": "5", "failed": "2", "cost": "4.10"}
    assert cells(html, day(3)) == {"outcomes": "2", "sent": "2", "delivered": "1", "failed": "0", "cost": "2.00"}
    assert cells(html, day(10)) == {"outcomes": "2", "sent": "0", "delivered": "1", "failed": "1", "cost": "0.00"}
    assert re.findall(r'<tr data-country="(\w*)">', html) == ["TG", "SN", "CI"]
    assert cells(html, 'data-country="TG"') == {"outcomes": "6", "delivered": "4", "failed": "1", "rate": "66.7 %"}
    assert re.findall(r'<tr data-sender="([^"]*)" data-channel="(\w+)">', html) == [
        ("BANKTG", "sms"),
        ("Wallet", "push"),
        ("PROMO", "sms"),
        ("SoftAfrik", "omni"),
    ]
    assert cells(html, 'data-sender="Wallet" data-channel="push"') == {
        "outcomes": "3",
        "delivered": "2",
        "failed": "1",
        "cost": "0.10",
    }
    failed = [title for kind, title in bars(html, "reports-day-chart") if kind == "failed"]
    assert failed == [f"{(today - timedelta(days=10)).isoformat()}: 1 failed", f"{today.isoformat()}: 2 failed"]
    assert bars(html, "reports-country-chart") == [
        ("delivered", "TG: 4 delivered"),
        ("other", "TG: 1 other"),
        ("failed", "TG: 1 failed"),
        ("delivered", "SN: 1 delivered"),
        ("failed", "SN: 2 failed"),
        ("delivered", "CI: 2 delivered"),
    ]
    assert re.findall(r'data-field="reason">([^<]*)<', html) == [
        "undelivered",
        "UNREGISTERED",
        "no delivery within the timeout",
    ]


def test_a_postpaid_account_shows_the_months_amount_so_far(staff_client, owner):
    demo_data(owner.tenant)
    BillingAccount.objects.filter(pk=account_ensure(tenant_id=owner.tenant.pk).pk).update(type=AccountType.POSTPAID)
    today = tenant_today(owner.tenant)
    expected = 410 + (200 if (today - timedelta(days=3)).month == today.month else 0)
    assert dashboard_figures(tenant=owner.tenant).month_cost == expected
    html = staff_client.get("/admin/").content.decode()
    assert re.search(r'id="reports-month-cost">[^<]*<strong>([^<]*)</strong>', html).group(1) == (
        f"{expected / 100:.2f} credits"
    )


def test_another_tenants_staff_sees_none_of_these_figures(client, owner, outsider):
    demo_data(owner.tenant)
    User.objects.create_user("kofi", password="pw-kofi-123", is_staff=True, tenant=outsider.tenant)
    client.login(username="kofi", password="pw-kofi-123")
    html = client.get("/admin/").content.decode()
    assert cells(html, 'data-period="30d" data-channel="sms"')["sent"] == "0"
    assert "BANKTG" not in html and "undelivered" not in html and 'data-country="TG"' not in html
    # Asking for the owner's tenant changes nothing: a staff user's tenant is its own.
    report = client.get(f"/admin/reports/?tenant={owner.tenant.pk}&export=csv").getvalue().decode()
    assert list(csv.reader(io.StringIO(report)))[1:] == []


def test_a_csv_report_has_one_row_per_day_and_channel(staff_client, owner):
    demo_data(owner.tenant)
    response = staff_client.get("/admin/reports/?export=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    today = tenant_today(owner.tenant)
    rows = list(csv.reader(io.StringIO(response.getvalue().decode())))
    assert rows == [
        ["day", "channel", "outcomes", "sent", "delivered", "failed", "delivery_rate", "p50_seconds", "cost", "unit"],
        [(today - timedelta(days=10)).isoformat(), "omni", "2", "0", "1", "1", "0.5000", "30", "0.00", "credits"],
        [(today - timedelta(days=3)).isoformat(), "sms", "2", "2", "1", "0", "0.5000", "10", "2.00", "credits"],
        [today.isoformat(), "push", "3", "2", "2", "1", "0.6667", "1", "0.10", "credits"],
        [today.isoformat(), "sms", "4", "4", "3", "1", "0.7500", "30", "4.00", "credits"],
    ]


def test_a_report_groups_by_any_dimensions_and_filters_a_channel(staff_client, owner):
    demo_data(owner.tenant)
    today = tenant_today(owner.tenant).isoformat()
    start = (tenant_today(owner.tenant) - timedelta(days=5)).isoformat()
    query = f"start={start}&end={today}&group_by=sender&group_by=campaign&channel=sms&export=csv"
    rows = list(csv.reader(io.StringIO(staff_client.get(f"/admin/reports/?{query}").getvalue().decode())))
    assert [row[:6] for row in rows] == [
        ["sender", "campaign", "outcomes", "sent", "delivered", "failed"],
        ["BANKTG", "", "4", "4", "3", "1"],
        ["PROMO", "Noel", "2", "2", "1", "0"],
    ]


def test_an_xlsx_report_holds_the_same_rows(staff_client, owner):
    demo_data(owner.tenant)
    response = staff_client.get("/admin/reports/?group_by=scenario&group_by=country&channel=omni&export=xlsx")
    assert response.status_code == 200
    book = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    sheet = book.read("xl/worksheets/sheet1.xml").decode()
    texts = re.findall(r"<t[^>]*>([^<]*)</t>", sheet)  # constant memory: strings inline
    assert texts[:2] == ["country", "scenario"]  # in the order of the choices, whatever the query's
    assert (texts[10:12], texts[15:17]) == (["SN", "Rappel"], ["TG", "Rappel"])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("start=2026-02-30&end=2026-03-01&group_by=day", "start"),
        ("start=2026-03-02&end=2026-03-01&group_by=day", "end"),
        ("start=2024-01-01&end=2026-03-01&group_by=day", "end"),
        ("start=2026-03-01&end=2026-03-01&group_by=nothing", "group_by"),
        ("start=2026-03-01&end=2026-03-01&group_by=day&channel=fax", "channel"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(staff_client, owner, query, field):
    response = staff_client.get(f"/admin/reports/?{query}&export=csv")
    assert response.status_code == 400
    assert response.context["form"].errors.keys() == {field}


def test_a_superuser_picks_the_tenant(client, owner, outsider):
    demo_data(owner.tenant)
    User.objects.create_superuser("root", password="pw-root-123")
    client.login(username="root", password="pw-root-123")
    assert client.get("/admin/reports/?export=csv").status_code == 400  # which tenant?
    rows = list(
        csv.reader(io.StringIO(client.get(f"/admin/reports/?tenant={owner.tenant.pk}&export=csv").getvalue().decode()))
    )
    assert len(rows) == 5
    html = client.get(f"/admin/?tenant={owner.tenant.pk}").content.decode()
    assert cells(html, 'data-period="today" data-channel="sms"')["sent"] == "4"


def test_an_unknown_export_format_is_a_400(staff_client, owner):
    response = staff_client.get("/admin/reports/?export=pdf")
    assert response.status_code == 400
    assert "pdf" in response.context["form"].non_field_errors()[0]
