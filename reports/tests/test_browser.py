"""The dashboard and the reports in a real browser (Chromium through Playwright): the
charts render with the figures of a known month, and a CSV report downloads with its
rows. ``SOFTAFRIK_SCREENSHOTS=docs/screenshots`` also saves the dashboard's picture."""

from __future__ import annotations

import csv
import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from accounts.models import User
from billing.models import BillingAccount
from billing.services import account_ensure
from reports.selectors import tenant_today
from reports.tests.factories import demo_data

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tenant_admin(owner, browser_login, settings):
    """The known month, and an account of 25 credits below its 50-credit threshold."""
    settings.BILLING_TRIAL_CREDIT = "25"
    account = account_ensure(tenant_id=owner.tenant.pk)
    BillingAccount.objects.filter(pk=account.pk).update(
        low_balance_threshold=5000, low_balance_alerted_at=timezone.now()
    )
    demo_data(owner.tenant)
    User.objects.create_user("ama", password="s3cret-pass", is_staff=True, tenant=owner.tenant)
    return browser_login("ama", "s3cret-pass")


def cell(page, row: str, field: str) -> str:
    return page.locator(f"tr{row} td[data-field={field}]").inner_text().strip()


def test_the_dashboard_charts_render_the_known_figures(tenant_admin, owner):
    page = tenant_admin
    today = tenant_today(owner.tenant)
    assert cell(page, '[data-period="today"][data-channel="sms"]', "sent") == "4"
    assert cell(page, '[data-period="today"][data-channel="sms"]', "rate") == "75.0 %"
    assert cell(page, '[data-period="7d"][data-channel="sms"]', "p50") == "≤ 10 s"
    assert cell(page, '[data-period="30d"][data-channel="omni"]', "delivered") == "1"
    assert cell(page, f'[data-day="{today.isoformat()}"]', "outcomes") == "7"
    assert cell(page, f'[data-day="{(today - timedelta(days=3)).isoformat()}"]', "delivered") == "1"
    assert cell(page, '[data-country="TG"]', "outcomes") == "6"
    assert cell(page, '[data-sender="Wallet"][data-channel="push"]', "cost") == "0.10"

    # The charts are drawn: one column per day with figures, bars with the table's numbers.
    day_chart = page.locator("#reports-day-chart svg")
    assert day_chart.bounding_box()["width"] > 300
    assert (
        page.locator("#reports-day-chart rect").count() == 6
    )  # two kinds a day: today delivered and failed, 3 days ago delivered and sent, 10 days ago delivered and failed
    titles = page.locator("#reports-country-chart rect title").all_text_contents()
    assert titles == [
        "TG: 4 delivered",
        "TG: 1 other",
        "TG: 1 failed",
        "SN: 1 delivered",
        "SN: 2 failed",
        "CI: 2 delivered",
    ]
    heights = [
        page.locator(f'#reports-day-chart rect:has(title:text-is("{today.isoformat()}: {n}"))').bounding_box()["height"]
        for n in ("5 delivered", "2 failed")
    ]
    assert heights[0] == pytest.approx(heights[1] * 5 / 2, rel=0.05)  # bars to scale
    assert page.locator("#reports-failures td[data-field=reason]").all_inner_texts()[0] == "undelivered"
    assert "25.00 credits" in page.locator("#billing-balance").inner_text()
    assert "50.00 credits" in page.content()  # base_site's low-balance banner, on every admin page

    shots = os.environ.get("SOFTAFRIK_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        bottom = page.locator("#reports-dashboard").bounding_box()
        clip = {"x": 0, "y": 0, "width": 1280, "height": bottom["y"] + bottom["height"] + 16}
        page.screenshot(path=str(Path(shots) / "dashboard.png"), full_page=True, clip=clip)


def test_a_csv_report_downloads_with_the_right_rows(tenant_admin, owner, tmp_path):
    page = tenant_admin
    today = tenant_today(owner.tenant)
    page.goto("/admin/reports/")
    page.fill("input[name=start]", (today - timedelta(days=5)).isoformat())
    page.check("input[name=group_by][value=sender]")
    page.uncheck("input[name=group_by][value=day]")
    page.click("#reports-form [type=submit]")
    page.wait_for_load_state("networkidle")
    with page.expect_download() as download:
        page.click("#reports-csv")
    path = tmp_path / "report.csv"
    download.value.save_as(path)
    assert download.value.suggested_filename == f"report-{(today - timedelta(days=5)).isoformat()}-{today}.csv"
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [
        [
            "channel",
            "sender",
            "outcomes",
            "sent",
            "delivered",
            "failed",
            "delivery_rate",
            "p50_seconds",
            "cost",
            "unit",
        ],
        ["push", "", "3", "2", "2", "1", "0.6667", "1", "0.10", "credits"],
        ["sms", "BANKTG", "4", "4", "3", "1", "0.7500", "30", "4.00", "credits"],
        ["sms", "PROMO", "2", "2", "1", "0", "0.5000", "10", "2.00", "credits"],
    ]
