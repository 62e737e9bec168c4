"""A tenant's time zone: an IANA name, UTC by default, checked wherever it is entered."""

import io

import pytest
from django.core.exceptions import ValidationError

from accounts.models import Tenant, User, validate_time_zone

pytestmark = pytest.mark.django_db


def test_a_new_tenant_is_in_utc(owner):
    assert Tenant.objects.get(pk=owner.tenant.pk).timezone == "UTC"


@pytest.mark.parametrize("name", ["UTC", "Africa/Lome", "Africa/Libreville", "America/Argentina/Buenos_Aires"])
def test_iana_names_are_valid(name):
    validate_time_zone(name)


@pytest.mark.parametrize("name", ["", "Mars/Olympus", "africa/lome", "GMT+1 ", "../etc/passwd", "/etc/localtime"])
def test_other_names_are_refused(name):
    with pytest.raises(ValidationError) as exc:
        validate_time_zone(name)
    assert exc.value.messages == [f"{name!r} is not an IANA time zone name (e.g. Africa/Lome, UTC)."]


def test_full_clean_refuses_a_bad_time_zone(owner):
    owner.tenant.timezone = "Africa/Atlantis"
    with pytest.raises(ValidationError) as exc:
        owner.tenant.full_clean()
    assert list(exc.value.message_dict) == ["timezone"]


@pytest.fixture
def platform_client(client):
    client.force_login(User.objects.create_superuser("root", password="pw-12345-long"))
    return client


def _change(client, tenant, **fields):
    data = {"name": tenant.name, "default_region": tenant.default_region, "is_active": "on", **fields}
    data.update({"status_callback_url": "", "callback_secret": ""})
    return client.post(f"/admin/accounts/tenant/{tenant.pk}/change/", data)


def test_platform_admin_sets_the_time_zone(platform_client, owner):
    response = _change(platform_client, owner.tenant, timezone="Africa/Libreville")
    assert response.status_code == 302
    assert Tenant.objects.get(pk=owner.tenant.pk).timezone == "Africa/Libreville"


def test_platform_admin_cannot_save_a_bad_time_zone(platform_client, owner):
    response = _change(platform_client, owner.tenant, timezone="Europe/Gotham")
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "timezone": ["'Europe/Gotham' is not an IANA time zone name (e.g. Africa/Lome, UTC)."]
    }
    assert Tenant.objects.get(pk=owner.tenant.pk).timezone == "UTC"


def test_tenant_staff_sees_its_time_zone_but_cannot_change_it(client, owner):
    staff = User.objects.create_user("ops", password="pw-12345-long", is_staff=True, tenant=owner.tenant)
    client.force_login(staff)
    page = client.get(f"/admin/accounts/tenant/{owner.tenant.pk}/change/")
    assert page.status_code == 200
    assert page.context["adminform"].readonly_fields == ("name", "default_region", "timezone")
    html = page.content.decode()
    assert 'name="timezone"' not in html and ">UTC</div>" in html  # shown as text (the theme's readonly div)
    _change(client, owner.tenant, timezone="Africa/Libreville")
    assert Tenant.objects.get(pk=owner.tenant.pk).timezone == "UTC"


def test_create_tenant_takes_a_time_zone():
    from django.core.management import call_command

    call_command("create_tenant", "--name", "Lome Bank", "--timezone", "Africa/Lome", stdout=io.StringIO())
    assert Tenant.objects.get(name="Lome Bank").timezone == "Africa/Lome"


def test_create_tenant_refuses_an_unknown_time_zone_and_creates_nothing():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="IANA"):
        call_command("create_tenant", "--name", "Nowhere", "--timezone", "Mars/Olympus", stdout=io.StringIO())
    assert not Tenant.objects.filter(name="Nowhere").exists()
