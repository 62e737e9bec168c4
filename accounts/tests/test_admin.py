"""The admin as each tenant's dashboard: a tenant's staff sees and changes only its own rows."""

import pytest

from devices.models import Device
from devices.services import app_create, device_register, end_user_register

pytestmark = pytest.mark.django_db


@pytest.fixture
def both_tenants_data(owner, outsider):
    rows = {}
    for who in (owner, outsider):
        app = app_create(tenant=who.tenant, name=f"{who.tenant.name} App")
        user = end_user_register(tenant=who.tenant, external_user_ref="ref", meta={})[0]
        device = device_register(
            tenant=who.tenant, end_user=user, app=app, platform="ios", device_token=f"{who.tenant.pk:064x}"
        )[0]
        rows[who.tenant.pk] = (app, user, device)
    return rows


def test_staff_lists_only_own_apps_users_devices(staff_client, owner, outsider, both_tenants_data):
    for path, needle in (("app", " App"), ("enduser", "sa_"), ("device", "ios")):
        page = staff_client.get(f"/admin/devices/{path}/").content.decode()
        own = both_tenants_data[owner.tenant.pk]
        other = both_tenants_data[outsider.tenant.pk]
        assert needle in page
        if path == "app":
            assert own[0].name in page and other[0].name not in page
        if path == "enduser":
            assert own[1].puid in page and other[1].puid not in page


def test_staff_cannot_open_another_tenants_device(staff_client, outsider, both_tenants_data):
    other_device = both_tenants_data[outsider.tenant.pk][2]
    response = staff_client.get(f"/admin/devices/device/{other_device.pk}/change/")
    assert response.status_code in (302, 404)
    assert Device.objects.get(pk=other_device.pk).is_active is True


def test_staff_cannot_change_another_tenants_device(staff_client, outsider, both_tenants_data):
    other_device = both_tenants_data[outsider.tenant.pk][2]
    staff_client.post(f"/admin/devices/device/{other_device.pk}/delete/", {"post": "yes"})
    assert Device.objects.filter(pk=other_device.pk).exists()


def test_admin_never_shows_stored_credentials(staff_client, owner, both_tenants_data):
    app = both_tenants_data[owner.tenant.pk][0]
    page = staff_client.get(f"/admin/devices/app/{app.pk}/change/").content.decode()
    assert app.vapid_public_key in page
    assert "PRIVATE KEY" not in page


def test_staff_sees_only_own_api_keys_and_a_new_key_is_shown_once(staff_client, owner, outsider):
    page = staff_client.get("/admin/accounts/apikey/").content.decode()
    own_prefix = owner.key.split("_")[1]
    other_prefix = outsider.key.split("_")[1]
    assert own_prefix in page and other_prefix not in page
    response = staff_client.post(
        "/admin/accounts/apikey/add/", {"name": "ci", "expires_at_0": "", "expires_at_1": ""}, follow=True
    )
    assert "shown once" in response.content.decode()
    assert owner.tenant.api_keys.count() == 2
    assert outsider.tenant.api_keys.count() == 1
