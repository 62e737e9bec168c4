"""The admin dashboard in a real browser (Chromium through Playwright): a tenant admin
sees its tenant's name and logo, switches language and the choice stays; another
tenant's staff sees nothing of it; a platform superuser approves a sender name and an
account type switch."""

from __future__ import annotations

import io

import pytest
from django.core.files.base import ContentFile
from PIL import Image

from accounts.models import Tenant, User
from billing.models import AccountType, SwitchRequest, SwitchStatus
from billing.services import account_ensure, switch_request
from devices.services import app_create
from sms.models import SenderName, SenderStatus

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "s3cret-pass"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def staff(tenant, name: str) -> User:
    return User.objects.create_user(name, password=PASSWORD, is_staff=True, tenant=tenant)


def set_logo(tenant: Tenant) -> None:
    data = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(data, "PNG")
    tenant.logo.save("owner.png", ContentFile(data.getvalue()))


def test_a_tenant_admin_sees_its_tenants_name_and_logo(page, browser_login, owner):
    set_logo(owner.tenant)
    staff(owner.tenant, "ama")

    browser_login("ama", PASSWORD)

    sidebar = page.locator("#nav-sidebar-inner")
    assert "Owner Bank" in sidebar.inner_text()
    logo = page.locator(f'#nav-sidebar-inner img[src^="/admin/logo/{owner.tenant.pk}/"]')
    assert logo.count() >= 1
    # The image loaded (the browser decoded it), not a broken link.
    assert logo.first.evaluate("img => img.complete && img.naturalWidth") == 8


def test_the_language_switch_is_remembered(page, browser_login, owner):
    staff(owner.tenant, "ama")
    browser_login("ama", PASSWORD)
    assert page.locator("html").get_attribute("lang") == "fr"
    assert "Facturation" in page.locator("#nav-sidebar-apps").inner_text()

    page.locator("#nav-sidebar-inner").get_by_text("ama", exact=True).click()
    page.locator('form[action="/i18n/setlang/"] button', has_text="English").click()
    page.wait_for_load_state("networkidle")

    assert page.locator("html").get_attribute("lang") == "en"
    page.goto("/admin/sms/sendername/")  # another page, later: still English
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Billing" in page.locator("#nav-sidebar-apps").inner_text()


def test_an_outsiders_staff_sees_nothing_of_another_tenant(page, browser_login, owner, outsider):
    app = app_create(tenant=owner.tenant, name="Owner Wallet App")
    sender = SenderName.objects.create(tenant=owner.tenant, name="OWNRBANK")
    staff(outsider.tenant, "intruder")

    browser_login("intruder", PASSWORD)

    assert "Owner Bank" not in page.content()
    for changelist, secret in (("/admin/devices/app/", app.name), ("/admin/sms/sendername/", sender.name)):
        page.goto(changelist)
        assert secret not in page.content()
    for change in (f"/admin/devices/app/{app.pk}/change/", f"/admin/sms/sendername/{sender.pk}/change/"):
        page.goto(change)
        assert page.url.endswith("/admin/")  # "doesn't exist": sent back to its own dashboard
        assert app.name not in page.content() and sender.name not in page.content()
    page.goto(f"/admin/accounts/tenant/{owner.tenant.pk}/change/")
    assert page.url.endswith("/admin/") and "Owner Bank" not in page.content()


def _run_action(page, changelist: str, pk, action: str) -> None:
    page.goto(changelist)
    page.check(f'input.action-select[value="{pk}"]')
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")
    page.wait_for_load_state("networkidle")


def test_a_superuser_approves_a_sender_and_an_account_switch(page, browser_login, owner):
    sender = SenderName.objects.create(tenant=owner.tenant, name="OWNRBANK")
    account = account_ensure(tenant_id=owner.tenant.pk)
    asker = staff(owner.tenant, "ama")
    switch = switch_request(account=account, requested_type=AccountType.POSTPAID, reason="monthly", user=asker)
    User.objects.create_superuser("root", password=PASSWORD)

    browser_login("root", PASSWORD)
    _run_action(page, "/admin/sms/sendername/", sender.pk, "approve")
    _run_action(page, "/admin/billing/switchrequest/", switch.pk, "approve")

    sender.refresh_from_db()
    account.refresh_from_db()
    assert sender.status == SenderStatus.APPROVED
    assert SwitchRequest.objects.get(pk=switch.pk).status == SwitchStatus.APPROVED
    assert account.type == AccountType.POSTPAID


def test_the_tenants_staff_sees_the_approval_status(page, browser_login, owner):
    SenderName.objects.create(tenant=owner.tenant, name="OWNRBANK", status=SenderStatus.APPROVED)
    SenderName.objects.create(tenant=owner.tenant, name="OTHERID")
    staff(owner.tenant, "ama")

    browser_login("ama", PASSWORD)
    page.goto("/admin/sms/sendername/")

    rows = {
        row.locator("th, td").nth(1).inner_text().strip(): row.inner_text()
        for row in page.locator("#result_list tbody tr").all()
    }
    assert set(rows) == {"OTHERID", "OWNRBANK"}
    assert str(SenderStatus.APPROVED.label) in rows["OWNRBANK"] and str(SenderStatus.PENDING.label) in rows["OTHERID"]
