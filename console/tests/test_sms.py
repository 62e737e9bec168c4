"""The SMS form: its checks (each a form error on its field), the price shown before
sending and equal to what is charged, the send written as the API writes it, once."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.models import User
from billing.models import BillingAccount, Tariff
from console.tests.conftest import PASSWORD, hidden_fields, logged_in, price_then_send
from sms.models import SenderName, SenderStatus, SmsKind, SmsMessage, SmsRecipient, SmsState

pytestmark = pytest.mark.django_db

PATH = "/admin/send/sms/"
TG = "+22890123456"


def form(**fields) -> dict:
    return {"sender": "", "numbers": TG, "text": "Bonjour", "when": "now", **fields}


def errors_of(response, field: str) -> str:
    """The text of the errors shown on ``field``'s row."""
    form = response.context["form"]
    return " ".join(form.errors.get(field, []))


def test_the_form_offers_the_tenants_approved_senders_only(staff, owner, outsider, sender):
    SenderName.objects.create(tenant=owner.tenant, name="Pending", status=SenderStatus.PENDING)
    SenderName.objects.create(tenant=outsider.tenant, name="Theirs", status=SenderStatus.APPROVED)

    page = staff.get(PATH)

    assert page.status_code == 200
    choices = [value for value, _ in page.context["form"].fields["sender"].choices]
    assert choices == ["", "SoftAfrik"]
    assert "Default (SoftAfrik)" in page.content.decode()


def test_the_price_step_shows_parts_unit_price_total_and_balance_and_sends_nothing(staff, owner, sender):
    Tariff.objects.create(channel="sms", prefix="228", price=250)  # 2.50 credits a part

    page = staff.post(PATH, {**form(numbers=f"{TG}\n+22891234567", text="ê" * 71), "action": "price"})

    assert page.status_code == 200
    quote = page.context["quote"]
    account = BillingAccount.objects.get(tenant=owner.tenant)
    assert (quote.parts, quote.encoding, quote.unit_price, quote.quantity) == (2, "ucs2", "2.50", 4)
    assert quote.total == 1000 and quote.total_shown == "10.00"
    assert quote.balance_after == f"{(account.balance - 1000) / 100:.2f}"
    html = page.content.decode()
    assert "10.00 credits" in html and 'name="token"' in html
    assert SmsMessage.objects.count() == 0


def test_a_send_is_written_as_the_api_writes_it_and_charges_the_price_shown(staff, owner, sender):
    Tariff.objects.create(channel="sms", prefix="228", price=250)
    api = owner.post("/api/V1/sms/unides", {"emetteur": "SoftAfrik", "destinataire": TG, "corps": "Bonjour"})
    assert api.status_code == 201

    priced, sent = price_then_send(staff, PATH, form(sender="SoftAfrik"))

    assert sent.status_code == 303
    mine = SmsMessage.objects.exclude(pk=api.json()["ref"]).get()
    assert sent["Location"] == f"/admin/send/sms/{mine.pk}/"
    theirs = SmsMessage.objects.get(pk=api.json()["ref"])
    fields = ("tenant_id", "kind", "sender", "text", "encoding", "parts", "state", "total_recipients", "credits")
    assert [getattr(mine, f) for f in fields] == [getattr(theirs, f) for f in fields]
    assert mine.kind == SmsKind.SINGLE and mine.dialect == "console"
    assert mine.amount == theirs.amount == priced.context["quote"].total == 250
    (row,) = SmsRecipient.objects.filter(message=mine).values("number", "status", "price", "parts")
    assert row == {"number": TG, "status": "pending", "price": 250, "parts": 1}


def test_a_pasted_list_with_bad_numbers_names_their_lines(staff, sender):
    page = staff.post(PATH, {**form(numbers=f"{TG}\n12ab\n+22891234567, 999"), "action": "price"})

    assert page.status_code == 200
    error = errors_of(page, "numbers")
    assert "line 2: '12ab'" in error and "line 3: '999'" in error
    assert "quote" not in page.context
    assert SmsMessage.objects.count() == 0


def test_bad_numbers_may_be_skipped(staff, sender):
    _, sent = price_then_send(staff, PATH, form(numbers=f"{TG}\n12ab\n+22891234567", skip_invalid="on"))

    assert sent.status_code == 303
    message = SmsMessage.objects.get()
    assert message.kind == SmsKind.BULK
    assert sorted(SmsRecipient.objects.values_list("number", flat=True)) == [TG, "+22891234567"]


def test_an_empty_list_is_a_form_error(staff, sender):
    page = staff.post(PATH, {**form(numbers="  \n , "), "action": "price"})

    assert "Give at least one number" in errors_of(page, "numbers")


def test_numbers_from_a_csv_file_are_sent(staff, sender):
    csv = b"nom;numero\nAma;+22890123456\nKofi;90 12 34 57\n"
    upload = SimpleUploadedFile("clients.csv", csv, content_type="text/csv")

    priced = staff.post(PATH, {**form(numbers=""), "numbers_file": upload, "action": "price"})

    assert priced.context["quote"].quantity == 2
    confirm = hidden_fields(priced.content.decode())
    assert confirm["numbers"].splitlines() == ["+22890123456", "+22890123457"]
    sent = staff.post(PATH, {**confirm, "action": "send"})
    assert sent.status_code == 303
    assert sorted(SmsRecipient.objects.values_list("number", flat=True)) == ["+22890123456", "+22890123457"]


def test_a_csv_file_without_numbers_is_refused(staff, sender):
    upload = SimpleUploadedFile("clients.csv", b"nom,ville\nAma,Lome\nKofi,Kara\n", content_type="text/csv")

    page = staff.post(PATH, {**form(numbers=""), "numbers_file": upload, "action": "price"})

    assert "Invalid numbers: file line 2: 'Ama'" in errors_of(page, "numbers_file")
    empty = SimpleUploadedFile("empty.csv", b"nom,ville\n", content_type="text/csv")
    page = staff.post(PATH, {**form(numbers=""), "numbers_file": empty, "action": "price"})
    assert errors_of(page, "numbers_file") == "No phone number found in this file."


def test_a_schedule_in_the_past_is_a_form_error(staff, owner, sender):
    past = (timezone.now() - timedelta(hours=2)).astimezone(ZoneInfo(owner.tenant.timezone))

    page = staff.post(PATH, {**form(when="scheduled", scheduled_at=f"{past:%Y-%m-%dT%H:%M}"), "action": "price"})

    assert errors_of(page, "scheduled_at") == "This date is in the past."


def test_a_scheduled_send_waits_for_its_date_in_the_tenants_time_zone(staff, owner, sender):
    owner.tenant.timezone = "Africa/Lagos"  # UTC+1
    owner.tenant.save()
    at = (timezone.now() + timedelta(days=1)).astimezone(ZoneInfo("Africa/Lagos")).replace(second=0, microsecond=0)

    _, sent = price_then_send(staff, PATH, form(when="scheduled", scheduled_at=f"{at:%Y-%m-%dT%H:%M}"))

    assert sent.status_code == 303
    message = SmsMessage.objects.get()
    assert (message.state, message.scheduled_at) == (SmsState.SCHEDULED, at)


def test_a_spread_send_is_a_muldesp_campaign(staff, owner, sender):
    Tariff.objects.create(channel="sms", prefix="228", price=100)
    end = (timezone.now() + timedelta(days=3)).replace(second=0, microsecond=0)
    spread = form(
        numbers=f"{TG}\n+22891234567\n+22892345678",
        when="spread",
        window_end=f"{end:%Y-%m-%dT%H:%M}",
        per_day="2",
        interval_minutes="60",
    )

    priced, sent = price_then_send(staff, PATH, spread)

    assert priced.context["quote"].total == 300
    assert "batch by batch" in priced.content.decode()
    assert sent.status_code == 303
    message = SmsMessage.objects.get()
    assert (message.kind, message.per_day, message.interval_minutes, message.window_end) == (
        SmsKind.CAMPAIGN,
        2,
        60,
        end,
    )
    assert message.amount == 0  # paid batch by batch, as ION's MULDESP
    assert set(SmsRecipient.objects.values_list("next_attempt_at", flat=True)) == {None}


def test_a_spread_needs_its_window_and_cap(staff, sender):
    page = staff.post(PATH, {**form(when="spread"), "action": "price"})

    for field in ("window_end", "per_day", "interval_minutes"):
        assert errors_of(page, field) == "Required for a spread send."


def test_another_tenants_sender_is_refused(staff, outsider, sender):
    SenderName.objects.create(tenant=outsider.tenant, name="Theirs", status=SenderStatus.APPROVED)

    page = staff.post(PATH, {**form(sender="Theirs"), "action": "price"})

    assert "Select a valid choice" in errors_of(page, "sender")
    sent = staff.post(PATH, {**form(sender="Theirs"), "token": "abc", "action": "send"})
    assert "Select a valid choice" in errors_of(sent, "sender")
    assert SmsMessage.objects.count() == 0


def test_no_default_sender_is_a_form_error(staff):
    page = staff.post(PATH, {**form(), "action": "price"})

    assert "no default sender is approved" in errors_of(page, "sender")


def test_an_insufficient_balance_is_a_form_error_with_the_price_and_the_balance(staff, owner, sender):
    Tariff.objects.create(channel="sms", prefix="228", price=10**12)
    priced = staff.post(PATH, {**form(), "action": "price"})
    account = BillingAccount.objects.get(tenant=owner.tenant)

    sent = staff.post(PATH, {**hidden_fields(priced.content.decode()), "action": "send"})

    assert sent.status_code == 200
    (error,) = sent.context["form"].non_field_errors()
    assert error == (
        f"Insufficient balance: this send costs 10000000000.00 credits and your balance is "
        f"{account.balance / 100:.2f} credits."
    )
    assert SmsMessage.objects.count() == 0
    account.refresh_from_db()
    assert account.reserved == 0


def test_a_double_submitted_confirmation_sends_once(staff, sender):
    priced = staff.post(PATH, {**form(), "action": "price"})
    confirm = {**hidden_fields(priced.content.decode()), "action": "send"}

    first = staff.post(PATH, confirm)
    second = staff.post(PATH, confirm)

    assert first.status_code == second.status_code == 303
    assert first["Location"] == second["Location"]
    assert SmsMessage.objects.count() == 1


def test_the_token_with_other_values_is_refused(staff, sender):
    priced = staff.post(PATH, {**form(), "action": "price"})
    confirm = {**hidden_fields(priced.content.decode()), "action": "send"}
    staff.post(PATH, confirm)

    again = staff.post(PATH, {**confirm, "text": "Autre chose"})

    assert "already sent with other values" in " ".join(again.context["form"].non_field_errors())
    assert SmsMessage.objects.count() == 1


def test_send_without_a_token_only_shows_the_price(staff, sender):
    page = staff.post(PATH, {**form(), "action": "send"})

    assert page.status_code == 200 and "quote" in page.context
    assert SmsMessage.objects.count() == 0


def test_the_result_page_and_its_progress_count_the_numbers(staff, sender):
    _, sent = price_then_send(staff, PATH, form(numbers=f"{TG}\n+22891234567"))
    message = SmsMessage.objects.get()
    SmsRecipient.objects.filter(message=message, number=TG).update(status="delivered")

    page = staff.get(sent["Location"])
    progress = staff.get(f"{sent['Location']}progress/").json()

    assert page.status_code == 200 and 'data-url="' in page.content.decode()
    assert progress["counts"] == {"pending": 1, "sent": 0, "delivered": 1, "failed": 0}
    assert (progress["total"], progress["final"], progress["status"]) == (2, False, "pending")
    SmsRecipient.objects.filter(message=message).update(status="failed", error="absent subscriber")
    progress = staff.get(f"{sent['Location']}progress/").json()
    assert (progress["final"], progress["status"]) == (True, "failed")
    assert "absent subscriber" in staff.get(sent["Location"]).content.decode()


def test_another_tenants_send_is_not_found(staff, outsider_staff, sender):
    _, sent = price_then_send(staff, PATH, form())

    assert outsider_staff.get(sent["Location"]).status_code == 404
    assert outsider_staff.get(f"{sent['Location']}progress/").status_code == 404


def test_a_superuser_picks_the_tenant_then_sends_as_it(superuser, owner, sender):
    assert "Choose the tenant" in superuser.get(PATH).content.decode()

    _, sent = price_then_send(superuser, f"{PATH}?tenant={owner.tenant.pk}", form(tenant=str(owner.tenant.pk)))

    assert sent.status_code == 303
    assert SmsMessage.objects.get().tenant_id == owner.tenant.pk
    assert superuser.get(sent["Location"]).status_code == 200


def test_the_pages_need_a_staff_login(client, sender):
    page = client.get(PATH)

    assert page.status_code == 302 and page["Location"].startswith("/admin/login/")


def test_change_goes_back_to_the_form_with_its_values(staff, sender):
    upload = SimpleUploadedFile("clients.csv", b"numero\n+22890123456\n", content_type="text/csv")
    priced = staff.post(PATH, {**form(numbers="+22891234567"), "numbers_file": upload, "action": "price"})

    page = staff.post(PATH, {**hidden_fields(priced.content.decode()), "action": "edit"})

    assert page.status_code == 200 and not page.context["form"].errors
    html = page.content.decode()
    assert "+22891234567\n+22890123456</textarea>" in html  # the file's numbers kept with the typed ones
    assert SmsMessage.objects.count() == 0


def test_the_pages_speak_french_by_default(owner, sender):
    ama = logged_in(User.objects.create_user("ama", password=PASSWORD, is_staff=True, tenant=owner.tenant), "fr")

    page = ama.post(PATH, {**form(numbers="12ab"), "action": "price"})

    html = page.content.decode()
    assert "Voir le prix" in html and "Numéros invalides : ligne 1: &#x27;12ab&#x27;" in html


def test_a_malformed_token_is_an_error_shown_on_the_form(staff, sender):
    page = staff.post(PATH, {**form(), "token": "x" * 65, "action": "send"})

    assert page.status_code == 200
    assert "at most 64 characters" in " ".join(page.context["form"].top_errors())
    assert "at most 64 characters" in page.content.decode()
    assert SmsMessage.objects.count() == 0


def test_the_live_preview_answers_the_price_or_the_field_errors(staff, outsider, sender):
    Tariff.objects.create(channel="sms", prefix="228", price=250)
    SenderName.objects.create(tenant=outsider.tenant, name="Theirs", status=SenderStatus.APPROVED)

    priced = staff.post(f"{PATH}price/", form(numbers=f"{TG}\n+22891234567"))
    refused = staff.post(f"{PATH}price/", form(sender="Theirs", numbers="12ab"))

    assert priced.status_code == 200
    quote = priced.json()["quote"]
    assert (quote["total"], quote["total_shown"], quote["quantity"], quote["parts"]) == (500, "5.00", 2, 1)
    assert refused.status_code == 400
    assert set(refused.json()["errors"]) == {"sender", "numbers"}
    assert staff.get(f"{PATH}price/").status_code == 405
    assert SmsMessage.objects.count() == 0
