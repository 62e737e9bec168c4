"""Omni scenarios: each step is priced as the send it starts; a fallback SMS is priced as
an SMS when it starts, and one the balance cannot pay fails its step without sending."""

from __future__ import annotations

import pytest

from billing.consumer import billing_consume
from billing.models import Tariff
from billing.tests.conftest import CREDIT, assert_ledger_consistent, funded
from notifications.tests.test_delivery import android
from scenarios import engine
from scenarios.models import OmniDestination, OmniStep
from scenarios.tests.test_engine import expire_timers, fan_out_and_send, push_then_sms
from sms.models import SmsMessage, SmsRecipient

pytestmark = pytest.mark.django_db(transaction=True)


def books(account):
    account.refresh_from_db()
    return account.balance, account.reserved, account.spent


def test_a_fallback_sms_is_priced_as_an_sms_when_it_starts(owner, push_app, person, sender, log_route):
    account = funded(owner.tenant, 3)
    Tariff.objects.create(channel="push", price=10)
    android(owner, push_app, person)
    push_then_sms(owner, push_app, [{"userId": "cust-1"}])
    assert books(account) == (3 * CREDIT - 10, 10, 0)  # the push step's one device
    fan_out_and_send()
    engine.omni_consume()
    expire_timers()
    assert engine.steps_time_out() == 1
    (recipient,) = SmsRecipient.objects.all()
    assert recipient.price == CREDIT
    billing_consume()
    assert books(account) == (2 * CREDIT - 10, CREDIT, 10)  # push settled, SMS reserved
    assert_ledger_consistent(account)


def test_a_fallback_sms_the_balance_cannot_pay_fails_its_step_and_sends_nothing(
    owner, push_app, person, sender, log_route
):
    account = funded(owner.tenant, 0.5)  # the push (0.10) yes, the SMS (1.00) no
    Tariff.objects.create(channel="push", price=10)
    android(owner, push_app, person)
    push_then_sms(owner, push_app, [{"userId": "cust-1"}])
    fan_out_and_send()
    engine.omni_consume()
    expire_timers()
    engine.steps_time_out()
    assert SmsMessage.objects.count() == 0
    (step,) = OmniStep.objects.filter(index=1)
    assert (step.state, step.reason) == ("failed", "Insufficient balance: this send costs 1.00 credits.")
    assert OmniDestination.objects.get().status == "failed"
    billing_consume()
    assert books(account) == (40, 0, 10)
    assert_ledger_consistent(account)


def test_an_unpaid_later_push_step_fails_with_solde_insuffisant(owner, push_app, person, sender, log_route):
    account = funded(owner.tenant, 1)
    Tariff.objects.create(channel="push", price=2 * CREDIT)  # the push costs more than the balance
    android(owner, push_app, person)
    from scenarios.accept import omni_send
    from scenarios.models import Product

    # The push is a later step (not an API call's first): unpaid, it fails and the flow moves on.
    flow = [
        {"channel": "sms", "from": "SoftAfrik", "sender": "SoftAfrik", "timeout": 10},
        {"channel": "push", "from": "MyBank", "appCode": push_app.code},
    ]
    omni_send(
        tenant=owner.tenant,
        product=Product.OMNI,
        flow=flow,
        sender="MyBank",
        destinations=[{"userId": "cust-1"}],
        push={"text": "Your code"},
        sms={"text": "Your code"},
    )
    assert books(account) == (0, CREDIT, 0)
    expire_timers()
    engine.steps_time_out()  # the SMS timed out: the push step starts, unpaid
    steps = list(OmniStep.objects.order_by("index").values_list("index", "channel", "state", "reason"))
    assert steps[1] == (1, "push", "failed", "solde insuffisant")
    assert_ledger_consistent(account)
