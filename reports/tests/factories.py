"""Known data for the reports' tests: sends and their recipients written as the channels
write them, and their status events through the core's ``events_record``."""

from __future__ import annotations

import secrets
from datetime import datetime

from django.utils import timezone

from devices.models import App, Device
from notifications.core.events import events_record
from notifications.models import Delivery, Message, MessageKind
from scenarios.models import OmniDestination, OmniMessage, OmniStep, Product, Scenario
from sms.models import SmsKind, SmsMessage, SmsRecipient

TG = "+22890123456"
TG2 = "+22891234567"
CI = "+2250701020304"
SN = "+221771234567"


def sms_send(tenant, numbers, *, sender="SoftAfrik", category="", campaign="", price=100, at=None):
    """An accepted bulk SMS send of one part to ``numbers``, each priced ``price``."""
    message = SmsMessage.objects.create(
        tenant=tenant,
        dialect="test",
        kind=SmsKind.BULK,
        sender=sender,
        text="Votre code est 1234",
        encoding="gsm7",
        parts=1,
        category=category,
        campaign_name=campaign,
        total_recipients=len(numbers),
        credits=len(numbers),
        amount=price * len(numbers),
    )
    if at is not None:
        SmsMessage.objects.filter(pk=message.pk).update(created_at=at)
        message.created_at = at
    recipients = SmsRecipient.objects.bulk_create(
        SmsRecipient(message=message, tenant=tenant, number=number, price=price) for number in numbers
    )
    return message, recipients


def push_app(tenant, name="MyFintechApp") -> App:
    return App.objects.create(tenant=tenant, name=name, code=secrets.token_hex(8))


def push_send(tenant, app, countries, *, unit_price=5, at=None):
    """A broadcast of ``app`` to one new device per entry of ``countries``."""
    message = Message.objects.create(
        tenant=tenant, kind=MessageKind.BROADCAST, app=app, title="t", body="b", unit_price=unit_price
    )
    if at is not None:
        Message.objects.filter(pk=message.pk).update(created_at=at)
    devices = [
        Device.objects.create(
            tenant=tenant,
            app=app,
            platform="android",
            token=secrets.token_hex(8),
            token_hash=secrets.token_hex(8),
            country=c,
        )
        for c in countries
    ]
    deliveries = Delivery.objects.bulk_create(Delivery(message=message, device=device) for device in devices)
    return message, deliveries


def omni_send(tenant, phones, *, scenario_name="Rappel", at=None):
    """An omni message through a saved scenario, one SMS step per destination; returns
    (message, [the step of each destination])."""
    scenario = Scenario.objects.create(tenant=tenant, name=scenario_name, flow=[{"channel": "sms"}])
    message = OmniMessage.objects.create(
        tenant=tenant, product=Product.OMNI, scenario=scenario, flow=scenario.flow, sender="SoftAfrik"
    )
    if at is not None:
        OmniMessage.objects.filter(pk=message.pk).update(created_at=at)
    steps = []
    for phone in phones:
        destination = OmniDestination.objects.create(message=message, tenant=tenant, phone=phone, channel="sms")
        steps.append(
            OmniStep.objects.create(
                destination=destination,
                message=message,
                tenant=tenant,
                index=0,
                channel="sms",
                started_at=at or timezone.now(),
            )
        )
    return message, steps


def record(tenant, channel, rows, status, *, at: datetime | None = None, reason="", subject=None) -> None:
    """The status events of ``rows`` (recipients, deliveries or omni steps) reaching ``status``."""
    changes = [(tenant.pk, row.message_id, row.pk, status, reason) for row in rows]
    events_record(channel=channel, changes=changes, occurred_at=at or timezone.now(), subject=subject)
