"""Every tenant-owned admin page, opened by another tenant's staff (an outsider): the
owner's rows are in none of its lists and each of their change pages is not found; the
owner's own staff does see them (so the test is not vacuous), and the platform-only
admins are refused to both.

The rows are made generically, one per model of every ``TenantScopedAdmin`` registered,
so a new tenant-owned admin is covered the day it is registered."""

from __future__ import annotations

import secrets
from datetime import date

import pytest
from django.contrib import admin
from django.db import models
from django.test import Client
from django.utils import timezone

from accounts.models import Tenant, User
from softafrik.tenant_admin import TenantScopedAdmin

pytestmark = pytest.mark.django_db


def _value(field: models.Field):
    if field.choices:
        return field.choices[0][0]
    if isinstance(field, models.BooleanField):
        return False
    if isinstance(field, models.DateTimeField):
        return timezone.now()
    if isinstance(field, models.DateField):
        return date.today()
    if isinstance(field, models.IntegerField | models.FloatField | models.DecimalField | models.DurationField):
        return 1 if not isinstance(field, models.DurationField) else timezone.timedelta(seconds=1)
    if isinstance(field, models.JSONField):
        return {}
    if isinstance(field, models.BinaryField):
        return b""
    if isinstance(field, models.UUIDField):
        import uuid

        return uuid.uuid4()
    return secrets.token_hex(6)[: field.max_length or 12]


def row_for(model, tenant: Tenant, made: dict):
    """One row of ``model`` owned by ``tenant``: every required field filled, foreign keys
    pointing at the same tenant's rows (made once each)."""
    if model is Tenant:
        return tenant
    if (model, tenant.pk) in made:
        return made[(model, tenant.pk)]
    values = {}
    for field in model._meta.concrete_fields:
        if field.primary_key or getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            continue
        if field.is_relation:
            if field.related_model is Tenant:
                values[field.name] = tenant
            elif not field.null:
                related = field.related_model
                if related is User:
                    values[field.name] = User.objects.create_user(f"u{secrets.token_hex(4)}", tenant=tenant)
                else:
                    values[field.name] = row_for(related, tenant, made)
            continue
        if field.has_default() or field.null:
            continue
        if isinstance(field, models.CharField | models.TextField) and not field.unique and not field.choices:
            continue  # "" is fine
        if isinstance(field, models.FileField):
            continue
        values[field.name] = _value(field)
    if model._meta.label_lower == "billing.billingaccount":
        from billing.services import account_ensure

        row = account_ensure(tenant_id=tenant.pk)
    else:
        row = model._default_manager.create(**values)
    made[(model, tenant.pk)] = row
    return row


def tenant_scoped_admins():
    return sorted(
        ((model, model_admin) for model, model_admin in admin.site._registry.items()),
        key=lambda pair: pair[0]._meta.label,
    )


SCOPED = [(m, a) for m, a in tenant_scoped_admins() if isinstance(a, TenantScopedAdmin)]


def _staff_client(tenant: Tenant, name: str) -> Client:
    client = Client()
    client.force_login(User.objects.create_user(name, password="pw-12345-long", is_staff=True, tenant=tenant))
    return client


@pytest.fixture
def owners_rows(owner):
    made: dict = {}
    return {model: row_for(model, owner.tenant, made) for model, _ in SCOPED}


def _urls(model, pk):
    meta = model._meta
    base = f"/admin/{meta.app_label}/{meta.model_name}/"
    return base, f"{base}{pk}/change/"


def test_every_tenant_owned_admin_is_covered():
    labels = {model._meta.label_lower for model, _ in SCOPED}
    # The list the issue names: keys, webhooks, senders, blacklist, scenarios, apps, billing.
    for label in (
        "accounts.apikey",
        "webhooks.webhookendpoint",
        "webhooks.webhookdelivery",
        "sms.sendername",
        "sms.blacklistednumber",
        "scenarios.scenario",
        "devices.app",
        "billing.billingaccount",
        "billing.invoice",
        "billing.switchrequest",
        "billing.ledgerentry",
    ):
        assert label in labels


@pytest.mark.parametrize(("model", "model_admin"), SCOPED, ids=[m._meta.label_lower for m, _ in SCOPED])
def test_an_outsider_sees_none_of_the_owners_rows(model, model_admin, owner, outsider, owners_rows):
    row = owners_rows[model]
    changelist, change = _urls(model, row.pk)
    own_staff = _staff_client(owner.tenant, "ops")
    outsider_staff = _staff_client(outsider.tenant, "intruder")

    assert own_staff.get(changelist).status_code == 200
    assert f"{change}" in own_staff.get(changelist).content.decode()
    assert own_staff.get(change).status_code == 200

    page = outsider_staff.get(changelist)
    assert page.status_code == 200
    assert change not in page.content.decode()
    refused = outsider_staff.get(change)
    # Django's admin answers a row outside the queryset with a redirect to the index
    # ("doesn't exist"), never the row.
    assert refused.status_code in (302, 404)
    if refused.status_code == 302:
        assert refused["Location"] == "/admin/"
    history = outsider_staff.get(f"{changelist}{row.pk}/history/")
    assert history.status_code in (302, 403, 404)
    deleted = outsider_staff.post(f"{changelist}{row.pk}/delete/", {"post": "yes"})
    assert deleted.status_code in (302, 403, 404)
    assert model._default_manager.filter(pk=row.pk).exists()


def test_an_outsider_sees_only_its_own_tenant(owner, outsider):
    outsider_staff = _staff_client(outsider.tenant, "intruder")
    page = outsider_staff.get("/admin/accounts/tenant/").content.decode()
    assert f"/admin/accounts/tenant/{outsider.tenant.pk}/change/" in page
    assert f"/admin/accounts/tenant/{owner.tenant.pk}/change/" not in page
    assert outsider_staff.get(f"/admin/accounts/tenant/{owner.tenant.pk}/change/").status_code == 302


PLATFORM_ONLY = [
    "/admin/sms/smsroute/",
    "/admin/accounts/user/",
    "/admin/django_celery_beat/periodictask/",
]


@pytest.mark.parametrize("path", PLATFORM_ONLY)
def test_a_tenants_staff_is_refused_the_platforms_admins(path, owner):
    assert _staff_client(owner.tenant, "ops").get(path).status_code == 403


def test_an_outsider_gets_no_invoice_document_nor_logo_of_the_owner(owner, outsider, owners_rows):
    from billing.models import Invoice

    invoice = owners_rows[Invoice]
    outsider_staff = _staff_client(outsider.tenant, "intruder")
    for path in (f"/admin/billing/invoice/{invoice.pk}/pdf/", f"/admin/billing/invoice/{invoice.pk}/csv/"):
        assert outsider_staff.get(path).status_code == 404
    assert outsider_staff.get(f"/admin/logo/{owner.tenant.pk}/").status_code == 404
