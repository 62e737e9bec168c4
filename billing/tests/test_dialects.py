"""A send the prepaid balance cannot pay, in every dialect: HTTP 402 in the dialect's own
error shape, nothing written, nothing reserved. And what a paid send answers it cost."""

from __future__ import annotations

import pytest

from billing.models import LedgerEntry, Tariff
from billing.tests.conftest import CREDIT, assert_ledger_consistent, funded
from notifications.models import Message
from notifications.tests.test_delivery import android as android_device
from scenarios.models import OmniMessage
from sms.models import SmsMessage, SmsRecipient

pytestmark = pytest.mark.django_db

TG = "+22890123456"


@pytest.fixture(autouse=True)
def _sms_ready(sender, log_route):
    """An approved default sender ("SoftAfrik") for the owner, and a LOG route."""


@pytest.fixture
def broke(owner):
    return funded(owner.tenant, 0)


@pytest.fixture
def android(owner, push_app, customer):
    return android_device(owner, push_app, customer)


def nothing_written(account) -> None:
    assert SmsMessage.objects.count() == 0
    assert SmsRecipient.objects.count() == 0
    assert Message.objects.count() == 0
    assert OmniMessage.objects.count() == 0
    assert not LedgerEntry.objects.filter(account=account, kind="reserve").exists()
    account.refresh_from_db()
    assert (account.balance, account.reserved) == (0, 0)
    assert_ledger_consistent(account)


def bearer(client) -> dict:
    return {"Authorization": f"Bearer {client.key}"}


def test_softafrik_answers_insufficient_balance(owner, broke, customer, android):
    Tariff.objects.create(channel="push", price=1)
    response = owner.post("/api/push/to-user", {"puid": customer.puid, "title": "t", "body": "b"})
    assert response.status_code == 402
    body = response.json()
    assert body["error"] == "insufficient_balance"
    assert body["message"] == "Insufficient balance: this send costs 0.01 credits."
    nothing_written(broke)


def test_ion_answers_echec_solde_insuffisant(owner, broke):
    response = owner.post("/api/V1/sms/unides", {"emetteur": "SoftAfrik", "destinataire": TG, "corps": "Bonjour"})
    assert response.status_code == 402
    assert response.json() == {
        "statut": "ECHEC",
        "motif": "solde insuffisant",
        "error": "insufficient_balance",
        "message": "Insufficient balance: this send costs 1.00 credits.",
    }
    nothing_written(broke)


def test_ion_muldes_is_refused_whole_when_the_balance_pays_only_some(owner):
    account = funded(owner.tenant, 1)
    response = owner.post(
        "/api/V1/sms/muldes", {"emetteur": "SoftAfrik", "numeros": [TG, "+22891234567"], "corps": "Bonjour"}
    )
    assert response.status_code == 402
    assert response.json()["motif"] == "solde insuffisant"
    assert SmsMessage.objects.count() == 0
    account.refresh_from_db()
    assert (account.balance, account.reserved) == (CREDIT, 0)


def test_primotexto_answers_its_error_body_with_a_code(owner, broke):
    response = owner.client.post(
        "/v2/notification/messages/send",
        {"number": TG, "message": "Code 283951", "sender": "SoftAfrik"},
        format="json",
        headers={"X-Primotexto-ApiKey": owner.key},
    )
    assert response.status_code == 402
    assert response.json() == {
        "code": 73,
        "error": "insufficient_balance",
        "message": "Insufficient balance: this send costs 1.00 credits.",
    }
    nothing_written(broke)


def test_delevera_sms_answers_its_error_body(owner, broke):
    response = owner.client.post(
        "/SMS/v1/messages",
        {"text": "Votre colis arrive demain.", "from": "SoftAfrik", "destinations": [TG]},
        format="json",
        headers=bearer(owner),
    )
    assert response.status_code == 402
    assert response.json() == {"code": 402, "message": "Insufficient balance: this send costs 1.00 credits."}
    nothing_written(broke)


def test_delevera_push_answers_its_error_body(owner, broke, push_app, android):
    Tariff.objects.create(channel="push", price=1)
    response = owner.client.post(
        "/push/v1/messages",
        {"text": "Hello", "appCode": push_app.code, "from": "Shop", "destinations": []},
        format="json",
        headers=bearer(owner),
    )
    assert response.status_code == 402
    assert response.json()["code"] == 402
    nothing_written(broke)


def test_delevera_omni_sms_channel_answers_its_error_body(owner, broke, customer):
    from devices.models import EndUser

    EndUser.objects.filter(pk=customer.pk).update(phone=TG)
    response = owner.client.post(
        "/omni/v1/messages",
        {"channel": "sms", "from": "SoftAfrik", "smsContent": {"text": "Bonjour"}, "destinations": [{"phone": TG}]},
        format="json",
        headers=bearer(owner),
    )
    assert response.status_code == 402, response.content
    assert response.json()["code"] == 402
    nothing_written(broke)


# --- What a paid send answers --------------------------------------------------------------


def test_primotexto_credits_used_is_what_was_charged(owner):
    funded(owner.tenant, 5)
    Tariff.objects.create(tenant=owner.tenant, channel="sms", prefix="228", price=150)
    response = owner.client.post(
        "/v2/notification/messages/send",
        {"number": TG, "message": "x" * 200, "sender": "SoftAfrik"},
        format="json",
        headers={"X-Primotexto-ApiKey": owner.key},
    )
    assert response.status_code == 200
    assert response.json()["creditsUsed"] == 3.0  # two parts at 1.50


def test_delevera_sms_answers_its_cost(owner):
    funded(owner.tenant, 5)
    response = owner.client.post(
        "/SMS/v1/messages",
        {"text": "Votre colis arrive demain.", "from": "SoftAfrik", "destinations": [TG]},
        format="json",
        headers=bearer(owner),
    )
    assert response.status_code == 200
    assert (response.json()["cost"], response.json()["unit"]) == ("1.00", "credits")


def test_softafrik_push_answers_its_cost(owner, customer, android):
    funded(owner.tenant, 5)
    Tariff.objects.create(channel="push", price=3)
    response = owner.post("/api/push/to-user", {"puid": customer.puid, "title": "t", "body": "b"})
    assert response.status_code == 202
    assert (response.json()["cost"], response.json()["unit"]) == ("0.03", "credits")
