"""BrowserOnly: the admin keeps sessions, CSRF, login and frame options; API calls skip them."""

import pytest
from django.test import Client

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_admin_login_uses_session_and_csrf():
    User.objects.create_superuser("root", password="pw-12345-long")
    browser = Client(enforce_csrf_checks=True)
    page = browser.get("/admin/login/")
    assert page.status_code == 200
    assert page["X-Frame-Options"] == "DENY"
    token = page.cookies["csrftoken"].value

    refused = browser.post("/admin/login/", {"username": "root", "password": "pw-12345-long"})
    assert refused.status_code == 403  # no CSRF token: the admin is still protected

    logged_in = browser.post(
        "/admin/login/", {"username": "root", "password": "pw-12345-long", "csrfmiddlewaretoken": token}
    )
    assert logged_in.status_code == 302
    assert browser.get("/admin/").status_code == 200  # the session carries the login


def test_api_call_sets_no_cookie_and_needs_no_csrf(owner):
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/users/register",
        {"external_user_ref": "c-1", "meta": {}},
        content_type="application/json",
        HTTP_X_API_KEY=owner.key,
    )
    assert response.status_code in (200, 201)
    assert not response.cookies
    assert "X-Frame-Options" not in response
