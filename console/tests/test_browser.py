"""Sending from the dashboard in a real browser (Chromium through Playwright), with real
Celery worker and beat processes and the SMPP fake: a tenant admin types a number and a
text, sees the price, sends, and the result page follows the send until the SMSC took it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import User
from billing.models import Tariff
from console.tests.conftest import PASSWORD
from sms.models import SmsMessage, SmsRecipient
from softafrik.testing.processes import process_env

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker_env():
    return process_env(SMS_SENDING_LEASE_SECONDS="15", SMS_DISPATCH_GRACE_SECONDS="3", BEAT_SWEEP_SECONDS="1")


def test_an_sms_sent_from_the_form_reaches_the_smpp_fake(
    page, browser_login, owner, sender, smsc, smpp_route, celery_procs
):
    User.objects.create_user("ama", password=PASSWORD, is_staff=True, tenant=owner.tenant)
    Tariff.objects.create(channel="sms", prefix="228", price=150)  # 1.50 credits a part
    # The SMSC answers after 3 s, so the result page opens before the send is final and
    # its script has to follow it.
    smsc.response_delay = 3.0
    celery_procs("worker")
    celery_procs("beat")

    browser_login("ama", PASSWORD, next_path="/admin/send/sms/")
    page.goto("/admin/send/sms/")
    page.fill("textarea[name=numbers]", "90 12 34 56")  # national: read in the tenant's region, TG
    page.fill("textarea[name=text]", "Bonjour de la console")
    expect(page.locator("[data-price-preview]")).to_contain_text("1.50 credits")  # the live preview
    page.click("button[value=price]")

    expect(page.locator('[data-price="total"]')).to_have_text("1.50 credits")
    expect(page.locator('[data-price="parts"]')).to_have_text("1 (gsm7)")
    polls = []
    page.on("response", lambda response: polls.append(response.status) if "/progress/" in response.url else None)
    page.click("#console-send")
    page.wait_for_url("**/admin/send/sms/*/")
    progress = page.locator("#console-progress")
    expect(progress).to_have_attribute("data-final", "true", timeout=60_000)

    assert polls and set(polls) == {200}  # the page's script followed it
    (got,) = smsc.received
    assert (got.destination, got.payload) == ("22890123456", b"Bonjour de la console")
    message = SmsMessage.objects.get()
    assert message.amount == 150 and message.sender == "SoftAfrik"
    (status,) = SmsRecipient.objects.filter(message=message).values_list("status", flat=True)
    assert status in ("sent", "delivered")  # the fake's receipt is immediate: delivered may already be in
    shown = {s: int(progress.locator(f'[data-count="{s}"]').inner_text()) for s in ("sent", "delivered", "pending")}
    assert shown["pending"] == 0 and shown["sent"] + shown["delivered"] == 1
    assert progress.locator("[data-status]").get_attribute("data-status") in ("sent", "delivered")
