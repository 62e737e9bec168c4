"""A tariff is one price per (tenant or platform, channel, unit, prefix), on every database."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from billing.models import Tariff

pytestmark = pytest.mark.django_db


def test_a_second_platform_price_for_the_same_prefix_is_refused():
    Tariff.objects.create(channel="sms", unit="credits", prefix="228", price=100)
    with pytest.raises(IntegrityError), transaction.atomic():
        Tariff.objects.create(channel="sms", unit="credits", prefix="228", price=90)
    assert Tariff.objects.count() == 1


def test_a_second_tenant_price_for_the_same_prefix_is_refused(owner):
    Tariff.objects.create(tenant=owner.tenant, channel="sms", unit="credits", prefix="228", price=100)
    with pytest.raises(IntegrityError), transaction.atomic():
        Tariff.objects.create(tenant=owner.tenant, channel="sms", unit="credits", prefix="228", price=90)
    assert Tariff.objects.count() == 1


def test_a_tenant_price_and_the_platform_price_of_one_prefix_coexist(owner):
    Tariff.objects.create(channel="sms", unit="credits", prefix="228", price=100)
    Tariff.objects.create(tenant=owner.tenant, channel="sms", unit="credits", prefix="228", price=90)
    Tariff.objects.create(channel="sms", unit="XOF", prefix="228", price=25)
    assert Tariff.objects.count() == 3
