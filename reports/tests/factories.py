"""Known data for the reports' tests: sends and their recipients written as the channels
write them, and their status events through the core's ``events_record``."""

from __future__ import annotations

import secrets
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

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


def demo_data(tenant) -> None:
    """A tenant's known month, folded by the consumer (the reports' tests, the browser
    test and the screenshot in docs/ use it):

    - today, SMS from BANKTG (category otp) to TG, TG2, CI, SN at 1 credit: all handed
      over, TG delivered after 4 s, TG2 after 20 s, CI after 40 s, SN undelivered;
    - today, a push of the app Wallet to devices in TG, CI, SN at 0.05 credit: TG
      delivered after 1 s, CI after 2 s, SN refused (UNREGISTERED) before leaving;
    - 3 days ago, SMS from PROMO (category promo, campaign Noel) to TG and TG2: both
      handed over, TG delivered after 8 s;
    - 10 days ago, an omni message through the scenario Rappel to SN and TG: SN
      delivered, TG failed (no delivery within the timeout).
    """
    from reports.consumer import reports_consume

    zone = ZoneInfo(tenant.timezone)
    midnight = datetime.combine(timezone.now().astimezone(zone).date(), time.min, tzinfo=zone)
    today = midnight + timedelta(minutes=1)

    def at(base, seconds):
        return base + timedelta(seconds=seconds)

    _, (tg, tg2, ci, sn) = sms_send(tenant, [TG, TG2, CI, SN], sender="BANKTG", category="otp", at=today)
    record(tenant, "sms", [tg, tg2, ci, sn], "sent", at=at(today, 1))
    for number, seconds in ((tg, 4), (tg2, 20), (ci, 40)):
        record(tenant, "sms", [number], "delivered", at=at(today, seconds))
    record(tenant, "sms", [sn], "failed", at=at(today, 60), reason="undelivered")

    app = push_app(tenant, "Wallet")
    _, (p_tg, p_ci, p_sn) = push_send(tenant, app, ["TG", "CI", "SN"], unit_price=5, at=today)
    record(tenant, "push", [p_tg, p_ci], "sent", at=at(today, 0.5))
    record(tenant, "push", [p_tg], "delivered", at=at(today, 1))
    record(tenant, "push", [p_ci], "delivered", at=at(today, 2))
    record(tenant, "push", [p_sn], "failed", at=at(today, 0.5), reason="UNREGISTERED")

    earlier = midnight - timedelta(days=3) + timedelta(hours=10)
    _, (promo_tg, promo_tg2) = sms_send(
        tenant, [TG, TG2], sender="PROMO", category="promo", campaign="Noel", at=earlier
    )
    record(tenant, "sms", [promo_tg, promo_tg2], "sent", at=at(earlier, 1))
    record(tenant, "sms", [promo_tg], "delivered", at=at(earlier, 8))

    older = midnight - timedelta(days=10) + timedelta(hours=9)
    _, (step_sn, step_tg) = omni_send(tenant, [SN, TG], scenario_name="Rappel", at=older)
    record(tenant, "omni", [step_sn], "delivered", at=at(older, 30), subject="destination")
    record(
        tenant,
        "omni",
        [step_tg],
        "failed",
        at=at(older, 300),
        subject="destination",
        reason="no delivery within the timeout",
    )
    reports_consume()
