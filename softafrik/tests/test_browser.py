"""The admin in a real browser (Chromium through Playwright): the shared browser
fixtures work, and a tenant's staff user logs in and sees its own dashboard."""

from __future__ import annotations

import pytest

from accounts.models import User

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_tenant_admin_logs_in_and_sees_the_dashboard(page, browser_login, owner):
    User.objects.create_user("ama", password="s3cret-pass", is_staff=True, tenant=owner.tenant)

    browser_login("ama", "s3cret-pass")

    assert page.url.endswith("/admin/")
    assert "ama" in page.content()


def test_a_wrong_password_stays_on_the_login_page(page, browser_login, owner):
    User.objects.create_user("ama", password="s3cret-pass", is_staff=True, tenant=owner.tenant)

    browser_login("ama", "wrong")

    assert "/admin/login/" in page.url
