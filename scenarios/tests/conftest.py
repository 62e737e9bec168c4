"""Omni fixtures: the push fakes and app (notifications' fixtures), an approved SMS sender
and the SMS routes (sms' fixtures), and a person with a phone and an Android device."""

from __future__ import annotations

import pytest

from devices.models import EndUser
from devices.services import end_user_register
from notifications.tests.conftest import fake_apns, fake_fcm, fake_webpush, providers, push_app  # noqa: F401
from sms.tests.conftest import _fresh_route_clients, log_route, sender, smpp_route, smsc  # noqa: F401


@pytest.fixture
def person(owner) -> EndUser:
    user = end_user_register(tenant=owner.tenant, external_user_ref="cust-1", meta={})[0]
    EndUser.objects.filter(pk=user.pk).update(phone="+22890112233", username="kofi", email="kofi@example.tg")
    user.refresh_from_db()
    return user
