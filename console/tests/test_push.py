"""The push form: to one user or a broadcast, priced per delivery before sending and
charged what was shown, written as the API writes it; another tenant's app refused."""

from __future__ import annotations

import pytest

from billing.models import Tariff
from console.tests.conftest import app_with_user, price_then_send
from notifications.models import InboxEntry, Message, MessageKind

pytestmark = pytest.mark.django_db

PATH = "/admin/send/push/"


def form(**fields) -> dict:
    return {"target": "user", "title": "Commande", "body": "Votre commande est prête", "data": "", **fields}


def test_a_push_to_a_user_is_written_as_the_api_writes_it_and_charges_the_price_shown(staff, owner):
    Tariff.objects.create(channel="push", prefix="", price=20)  # 0.20 credits a delivery
    _, user = app_with_user(owner.tenant, devices=2)
    api = owner.post("/api/push/to-user", {"puid": user.puid, "title": "Commande", "body": "Votre commande est prête"})
    assert api.status_code == 202

    priced, sent = price_then_send(staff, PATH, form(puid=user.puid, data='{"order": "42"}'))

    quote = priced.context["quote"]
    assert (quote.unit_price, quote.quantity, quote.total_shown) == ("0.20", 2, "0.40")
    assert sent.status_code == 303
    mine = Message.objects.exclude(pk=api.json()["id"]).get()
    theirs = Message.objects.get(pk=api.json()["id"])
    assert sent["Location"] == f"/admin/send/push/{mine.pk}/"
    fields = ("tenant_id", "kind", "end_user_id", "title", "body", "unit_price", "paid_deliveries", "state")
    assert [getattr(mine, f) for f in fields] == [getattr(theirs, f) for f in fields]
    assert mine.data == {"order": "42"} and mine.kind == MessageKind.TO_USER
    assert mine.unit_price * mine.paid_deliveries == quote.total == 40
    assert InboxEntry.objects.filter(message=mine, end_user=user).count() == 1


def test_an_unknown_puid_is_a_form_error(staff, owner, outsider):
    _, theirs = app_with_user(outsider.tenant)

    page = staff.post(PATH, {**form(puid=theirs.puid), "action": "price"})

    assert page.context["form"].errors["puid"] == [f"Unknown puid {theirs.puid!r}."]
    assert Message.objects.count() == 0


def test_a_broadcast_goes_to_the_apps_devices_of_a_country(staff, owner):
    Tariff.objects.create(channel="push", prefix="", price=5)
    app, _ = app_with_user(owner.tenant, devices=3)

    priced, sent = price_then_send(staff, PATH, form(target="broadcast", app=str(app.pk), country="tg"))

    assert sent.status_code == 303 and priced.context["quote"].quantity == 3
    message = Message.objects.get()
    assert (message.kind, message.app_id, message.filters) == (MessageKind.BROADCAST, app.pk, {"country": "TG"})
    assert message.unit_price * message.paid_deliveries == priced.context["quote"].total == 15


def test_another_tenants_app_is_refused(staff, outsider):
    theirs, _ = app_with_user(outsider.tenant)

    page = staff.post(PATH, {**form(target="broadcast", app=str(theirs.pk)), "action": "price"})

    assert "Select a valid choice" in " ".join(page.context["form"].errors["app"])
    assert Message.objects.count() == 0


def test_data_must_be_a_json_object(staff, owner):
    _, user = app_with_user(owner.tenant)

    page = staff.post(PATH, {**form(puid=user.puid, data="[1, 2]"), "action": "price"})

    assert page.context["form"].errors["data"] == ["Give a JSON object ({...})."]


def test_an_insufficient_balance_is_a_form_error(staff, owner):
    Tariff.objects.create(channel="push", prefix="", price=10**12)
    _, user = app_with_user(owner.tenant)

    _, sent = price_then_send(staff, PATH, form(puid=user.puid))

    assert sent.status_code == 200
    (error,) = sent.context["form"].non_field_errors()
    assert error.startswith("Insufficient balance: this send costs 10000000000.00 credits and your balance is ")
    assert Message.objects.count() == 0


def test_the_result_page_follows_the_deliveries(staff, owner, outsider_staff):
    _, user = app_with_user(owner.tenant, devices=2)
    _, sent = price_then_send(staff, PATH, form(puid=user.puid))

    progress = staff.get(f"{sent['Location']}progress/").json()

    # Accepted, the fan-out not run yet (no worker here): nothing is final.
    assert progress == {
        "counts": {"pending": 0, "sent": 0, "delivered": 0, "failed": 0},
        "total": 0,
        "final": False,
        "status": "pending",
        "status_label": "pending",
    }
    assert staff.get(sent["Location"]).status_code == 200
    assert outsider_staff.get(sent["Location"]).status_code == 404
    assert outsider_staff.get(f"{sent['Location']}progress/").status_code == 404
