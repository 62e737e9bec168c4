"""The omni form: a message through one of the tenant's scenarios, its first step priced
before sending and charged what was shown, written as Delevera's omni API writes it;
another tenant's scenario refused."""

from __future__ import annotations

import pytest

from billing.models import Tariff
from billing.selectors import reserved_for
from console.tests.conftest import app_with_user, price_then_send
from scenarios.models import OmniDestination, OmniMessage, Product
from scenarios.services import scenario_create
from sms.models import SmsMessage, SmsRecipient

pytestmark = pytest.mark.django_db

PATH = "/admin/send/omni/"
TG = "+22890123456"


def form(scenario, **fields) -> dict:
    return {"scenario": scenario.key, "destination_kind": "phone", "destinations": TG, "sms_text": "Bonjour", **fields}


@pytest.fixture
def sms_only(owner, sender):
    return scenario_create(tenant=owner.tenant, name="SMS only", flow=[{"channel": "sms", "from": "SoftAfrik"}])


def test_an_sms_scenario_is_written_as_the_omni_api_writes_it_and_charges_the_price_shown(staff, owner, sms_only):
    Tariff.objects.create(channel="sms", prefix="228", price=120)
    body = {"scenarioKey": sms_only.key, "destinations": [{"phone": TG[1:]}], "smsContent": {"text": "Bonjour"}}
    api = owner.client.post("/omni/v1/messages", body, format="json", headers={"Authorization": f"Bearer {owner.key}"})
    assert api.status_code == 200, api.content

    priced, sent = price_then_send(staff, PATH, form(sms_only))

    assert sent.status_code == 303
    mine = OmniMessage.objects.exclude(pk=api.json()["messageId"]).get()
    theirs = OmniMessage.objects.get(pk=api.json()["messageId"])
    assert sent["Location"] == f"/admin/send/omni/{mine.pk}/"
    fields = ("tenant_id", "product", "scenario_id", "flow", "state", "destinations_count")
    assert [getattr(mine, f) for f in fields] == [getattr(theirs, f) for f in fields]
    assert mine.product == Product.OMNI and mine.sms_content["text"] == "Bonjour"
    assert list(OmniDestination.objects.filter(message=mine).values_list("phone", "channel")) == [(TG, "sms")]
    assert SmsRecipient.objects.get(message_id=mine.pk).number == TG  # the first SMS step is the message
    quote = priced.context["quote"]
    assert quote.total == 120
    assert reserved_for(tenant_id=owner.tenant.pk, references=[f"sms:{mine.pk}"]) == quote.total


def test_a_push_then_sms_scenario_prices_its_push_step_and_tells_the_fallback(staff, owner, sender):
    Tariff.objects.create(channel="push", prefix="", price=10)
    Tariff.objects.create(channel="sms", prefix="228", price=100)
    app, user = app_with_user(owner.tenant, devices=2, phone=TG)
    user.external_user_ref = "cust-7"
    user.save()
    flow = [
        {"channel": "push", "from": "Banque", "appCode": app.code, "timeout": 60},
        {"channel": "sms", "from": "SoftAfrik"},
    ]
    scenario = scenario_create(tenant=owner.tenant, name="Push then SMS", flow=flow)

    priced, sent = price_then_send(
        staff,
        PATH,
        form(scenario, destination_kind="userId", destinations="cust-7", push_title="Banque", push_text="Code 1234"),
    )

    quote = priced.context["quote"]
    assert (quote.what, quote.quantity, quote.total) == ("push deliveries", 2, 20)
    assert quote.note == "If the SMS step runs for everyone, it costs 1.00 credits more."
    message = OmniMessage.objects.get()
    assert reserved_for(tenant_id=owner.tenant.pk, references=[f"omni:{message.pk}:0"]) == 20
    assert message.devices_count == 2 and SmsMessage.objects.count() == 0
    progress = staff.get(f"{sent['Location']}progress/").json()
    assert progress["final"] is False  # the push step waits on its timer
    assert progress["steps"] == {"push": {"started": 1}}


def test_another_tenants_scenario_is_refused(staff, outsider):
    theirs = scenario_create(tenant=outsider.tenant, name="Theirs", flow=[{"channel": "sms", "from": "Theirs"}])

    page = staff.post(PATH, {**form(theirs), "action": "price"})

    assert "Select a valid choice" in " ".join(page.context["form"].errors["scenario"])
    assert OmniMessage.objects.count() == 0


def test_bad_phone_lines_are_named(staff, sms_only):
    page = staff.post(PATH, {**form(sms_only, destinations=f"{TG}\nabc"), "action": "price"})

    assert page.context["form"].errors["destinations"] == ["Invalid numbers: line 2: 'abc' (not a number)."]


def test_an_sms_step_needs_its_text(staff, sms_only):
    page = staff.post(PATH, {**form(sms_only, sms_text=""), "action": "price"})

    assert page.context["form"].errors["sms_text"] == ["This scenario has an SMS step: give its text."]


def test_a_push_step_without_an_app_asks_for_one(staff, owner):
    scenario = scenario_create(tenant=owner.tenant, name="Push", flow=[{"channel": "push", "from": "Banque"}])

    page = staff.post(PATH, {**form(scenario, push_text="Hello"), "action": "price"})

    assert page.context["form"].errors["app"] == ["This scenario's push step names no app: choose one."]
