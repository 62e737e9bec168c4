"""Monthly invoices and statements: a month of sends becomes lines per channel, country
and sender whose total is the month's settled ledger; the PDF and the CSV show it; a
prepaid account gets a statement; closing and paying happen once; beat catches up
missed months; a tenant's staff downloads its own documents and nobody else's."""

from __future__ import annotations

import io
import itertools
import secrets
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import pypdf
import pytest
from django.conf import settings as live_settings
from django.db import transaction
from django.db.models import Sum

from accounts.models import Tenant, User
from billing import invoices
from billing.invoices import (
    NotAllowed,
    invoice_close,
    invoice_mark_paid,
    invoices_close_due,
    month_start,
    period_after,
)
from billing.models import (
    AccountChange,
    AccountType,
    BillingAccount,
    Book,
    EntryKind,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LedgerEntry,
)
from billing.services import Outcome, account_ensure, account_update, charge_reserve, charges_apply
from softafrik.errors import DomainError

RIYADH = "Asia/Riyadh"  # UTC+3 all year: March there is [Feb 28 21:00 UTC, Mar 31 21:00 UTC)
MARCH = (datetime(2026, 2, 28, 21, tzinfo=UTC), datetime(2026, 3, 31, 21, tzinfo=UTC))
CREDIT = 100  # minor units of one credit
_ids = itertools.count(1)


def account_for(tenant, *, type: str = AccountType.POSTPAID, time_zone: str = RIYADH, unit: str = "credits"):
    """The tenant's account, without trial credit, of ``type``, in ``time_zone``."""
    Tenant.objects.filter(pk=tenant.pk).update(timezone=time_zone)
    tenant.refresh_from_db()
    live_settings.BILLING_TRIAL_CREDIT = "0"
    account = account_ensure(tenant_id=tenant.pk)
    return account_update(account=account, type=type, unit=unit, reason="test")


def charge(account, *, at, channel="sms", amount=CREDIT, quantity=1, country="TG", sender="SoftAfrik", settled=True):
    """One recipient of one send, reserved then settled (or released) at ``at``: the
    ledger and the charge rows as the billing consumer writes them."""
    send_id = uuid.uuid4()
    with transaction.atomic():  # the accepting transaction
        charge_reserve(
            tenant_id=account.tenant_id,
            unit=account.unit,
            amount=amount,
            reference=f"{channel}:{send_id}",
            quantity=quantity,
            at=at,
        )
    outcome = Outcome(channel, next(_ids), account.pk, send_id, settled, amount, quantity, country, sender)
    assert charges_apply(outcomes=[outcome], at=at) == 1


def settled_in_ledger(account, start, end) -> int:
    """The period's settle entries on the spent book."""
    entries = LedgerEntry.objects.filter(
        account=account, kind=EntryKind.SETTLE, book=Book.SPENT, created_at__gte=start, created_at__lt=end
    )
    return entries.aggregate(total=Sum("amount"))["total"] or 0


def lines_of(invoice) -> list[tuple]:
    return list(invoice.lines.values_list("channel", "country", "sender", "quantity", "amount"))


def pdf_text(invoice) -> str:
    reader = pypdf.PdfReader(io.BytesIO(bytes(invoice.pdf)))
    return "\n".join(page.extract_text() for page in reader.pages)


def a_month_of_sends(account) -> None:
    """March in Riyadh, a send every few hours, plus what must not count: released
    numbers, and charges a second outside each end of the month."""
    start, end = MARCH
    for day in range(31):
        at = start + timedelta(days=day, hours=5)
        charge(account, at=at, country="TG", sender="SoftAfrik", quantity=1, amount=CREDIT)
        if day % 2 == 0:
            charge(account, at=at + timedelta(hours=1), country="CI", sender="SoftAfrik", quantity=2, amount=2 * CREDIT)
        if day % 3 == 0:
            charge(account, at=at + timedelta(hours=2), country="TG", sender="MyBank", quantity=3, amount=3 * CREDIT)
        if day % 5 == 0:
            charge(account, at=at, channel="push", country="TG", sender="bank-app", amount=5)
        charge(account, at=at + timedelta(hours=3), country="TG", sender="SoftAfrik", settled=False)  # released
    charge(account, at=start, country="SN", sender="Edge", amount=7)  # the month's first instant: in
    charge(account, at=start - timedelta(seconds=1), country="SN", sender="Before", amount=11)
    charge(account, at=end, country="SN", sender="After", amount=13)
    charge(account, at=end - timedelta(microseconds=1), country="SN", sender="Edge", amount=17)  # in


@pytest.fixture
def postpaid(owner):
    account = account_for(owner.tenant)
    a_month_of_sends(account)
    return account


@pytest.fixture
def march(postpaid):
    return invoice_close(account=postpaid, period_start=MARCH[0], period_end=MARCH[1])


def platform_admin():
    return User.objects.create_superuser(f"root-{secrets.token_hex(4)}", password="pw-12345-long")


# --- Closing a month -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_postpaid_month_is_invoiced_per_channel_country_and_sender(postpaid, march):
    assert lines_of(march) == [
        ("push", "TG", "bank-app", 7, 35),
        ("sms", "CI", "SoftAfrik", 32, 3200),
        ("sms", "SN", "Edge", 2, 24),
        ("sms", "TG", "MyBank", 33, 3300),
        ("sms", "TG", "SoftAfrik", 31, 3100),
    ]
    assert march.total == 35 + 3200 + 24 + 3300 + 3100
    assert march.total == settled_in_ledger(postpaid, *MARCH)
    assert (march.status, march.paid_at, march.unit) == (InvoiceStatus.DUE, None, "credits")
    assert (march.period_start, march.period_end) == MARCH
    assert march.number == f"INV-202603-{postpaid.pk:06d}"


@pytest.mark.django_db
def test_the_invoice_total_is_the_month_of_the_ledger_and_nothing_else(postpaid, march):
    february = invoice_close(account=postpaid, period_start=datetime(2026, 1, 31, 21, tzinfo=UTC), period_end=MARCH[0])
    april = invoice_close(account=postpaid, period_start=MARCH[1], period_end=datetime(2026, 4, 30, 21, tzinfo=UTC))
    assert lines_of(february) == [("sms", "SN", "Before", 1, 11)]
    assert lines_of(april) == [("sms", "SN", "After", 1, 13)]
    postpaid.refresh_from_db()
    assert february.total + march.total + april.total == postpaid.spent  # every settled charge, once


@pytest.mark.django_db
def test_the_pdf_opens_and_shows_the_platform_tenant_number_period_lines_and_total(owner, march):
    text = pdf_text(march)
    assert text.startswith("SoftAfrik\nInvoice\n")
    assert f"Number: {march.number}" in text
    assert "Customer: Owner Bank" in text
    assert f"Period: 2026-03-01 to 2026-03-31 ({RIYADH})" in text
    assert "sms TG MyBank 33 33.00" in text
    assert "push TG bank-app 7 0.35" in text
    assert "Total: 96.59 credits" in text
    assert "Amount due: 96.59 credits" in text


@pytest.mark.django_db
def test_the_csv_has_a_header_a_row_per_line_and_a_total_row(march):
    assert march.csv.splitlines() == [
        "channel,country,sender,quantity,amount,unit",
        "push,TG,bank-app,7,0.35,credits",
        "sms,CI,SoftAfrik,32,32.00,credits",
        "sms,SN,Edge,2,0.24,credits",
        "sms,TG,MyBank,33,33.00,credits",
        "sms,TG,SoftAfrik,31,31.00,credits",
        "total,,,105,96.59,credits",
    ]


@pytest.mark.django_db
def test_amounts_have_the_units_decimals(owner):
    account = account_for(owner.tenant, unit="XOF")
    charge(account, at=MARCH[0] + timedelta(days=3), amount=25, quantity=1)
    invoice = invoice_close(account=account, period_start=MARCH[0], period_end=MARCH[1])
    assert invoice.csv.splitlines()[1:] == ["sms,TG,SoftAfrik,1,25,XOF", "total,,,1,25,XOF"]
    assert "Total: 25 XOF" in pdf_text(invoice)


@pytest.mark.django_db
def test_a_prepaid_account_gets_a_statement_without_an_amount_due(owner):
    account = account_for(owner.tenant, type=AccountType.PREPAID)
    account.refresh_from_db()
    charge(account, at=MARCH[0] + timedelta(days=1), amount=0)  # a free push-like line keeps the balance
    charge(account, at=MARCH[0] + timedelta(days=2), channel="push", sender="app", amount=0)
    statement = invoice_close(account=account, period_start=MARCH[0], period_end=MARCH[1])
    assert (statement.status, statement.total) == (InvoiceStatus.STATEMENT, 0)
    assert lines_of(statement) == [("push", "TG", "app", 1, 0), ("sms", "TG", "SoftAfrik", 1, 0)]
    text = pdf_text(statement)
    assert "Statement" in text and "nothing due" in text and "Amount due" not in text


@pytest.mark.django_db
def test_a_prepaid_statement_totals_what_was_paid_from_the_balance(owner):
    account = account_for(owner.tenant, type=AccountType.PREPAID)
    from billing.services import account_topup

    account_topup(account=account, amount=50 * CREDIT, note="test")
    charge(account, at=MARCH[0] + timedelta(days=1), amount=3 * CREDIT, quantity=3)
    statement = invoice_close(account=account, period_start=MARCH[0], period_end=MARCH[1])
    assert (statement.status, statement.total) == (InvoiceStatus.STATEMENT, 300)
    assert statement.total == settled_in_ledger(account, *MARCH)


@pytest.mark.django_db
def test_a_statement_cannot_be_marked_paid(owner):
    account = account_for(owner.tenant, type=AccountType.PREPAID)
    statement = invoice_close(account=account, period_start=MARCH[0], period_end=MARCH[1])
    entries = LedgerEntry.objects.count()
    with pytest.raises(DomainError, match="Only a due invoice"):
        invoice_mark_paid(invoice=statement, user=platform_admin())
    statement.refresh_from_db()
    assert (statement.status, statement.paid_at, LedgerEntry.objects.count()) == (
        InvoiceStatus.STATEMENT,
        None,
        entries,
    )


@pytest.mark.django_db
def test_a_postpaid_month_without_sends_is_closed_with_nothing_due(owner):
    account = account_for(owner.tenant)
    invoice = invoice_close(account=account, period_start=MARCH[0], period_end=MARCH[1])
    assert (invoice.status, invoice.total, lines_of(invoice)) == (InvoiceStatus.PAID, 0, [])
    assert invoice.paid_at is not None
    assert invoice.csv.splitlines() == ["channel,country,sender,quantity,amount,unit", "total,,,0,0.00,credits"]
    assert "No charges in this period" in pdf_text(invoice)


@pytest.mark.django_db
def test_closing_a_month_twice_gives_one_invoice(postpaid, march):
    again = invoice_close(account=postpaid, period_start=MARCH[0], period_end=MARCH[1])
    assert again.pk == march.pk
    assert Invoice.objects.count() == 1
    assert InvoiceLine.objects.count() == 5


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_closes_of_a_month_give_one_invoice(owner):
    """Both pass the "already closed?" read, both render; the unique period lets one
    insert and hands the other the winner's invoice."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers: PostgreSQL")
    account = account_for(owner.tenant)
    charge(account, at=MARCH[0] + timedelta(days=1), amount=100)
    barrier = threading.Barrier(2, timeout=10)
    lines = invoices._lines

    def lines_in_step(**kw):
        found = lines(**kw)
        barrier.wait()
        return found

    results, errors = [], []

    def close():
        try:
            results.append(invoice_close(account=account, period_start=MARCH[0], period_end=MARCH[1]).pk)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    with mock.patch.object(invoices, "_lines", lines_in_step):
        threads = [threading.Thread(target=close) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert len(results) == 2 and len(set(results)) == 1
    assert (Invoice.objects.count(), InvoiceLine.objects.count()) == (1, 1)


@pytest.mark.django_db
def test_the_lines_are_one_aggregate_query(postpaid, django_assert_num_queries):
    with django_assert_num_queries(1):
        lines = invoices._lines(account=postpaid, period_start=MARCH[0], period_end=MARCH[1])
    assert len(lines) == 5


def close_with_names_outside_latin1(owner):
    Tenant.objects.filter(pk=owner.tenant.pk).update(name="Société Ősz سوفت €")
    account = account_for(owner.tenant)
    charge(account, at=MARCH[0] + timedelta(days=1), channel="push", sender="Приложение 📱", amount=5)
    charge(account, at=MARCH[0] + timedelta(days=1), sender="=cmd|' /C calc'!A0", amount=5)
    return invoice_close(account=account, period_start=MARCH[0], period_end=MARCH[1])


@pytest.mark.django_db
def test_names_outside_latin1_read_as_written_in_the_pdf_and_the_csv(owner, settings):
    if not Path(settings.INVOICE_FONT).is_file():
        pytest.skip(f"no Unicode font at {settings.INVOICE_FONT} (Debian's fonts-dejavu-core)")
    invoice = close_with_names_outside_latin1(owner)
    text = pdf_text(invoice)
    assert "Customer: Société Ősz" in text
    assert "€" in text
    assert "push TG Приложение" in text
    rows = invoice.csv.splitlines()
    assert rows[1] == "push,TG,Приложение 📱,1,0.05,credits"
    assert rows[2] == "sms,TG,'=cmd|' /C calc'!A0,1,0.05,credits"  # no formula for a spreadsheet
    reader = pypdf.PdfReader(io.BytesIO(bytes(invoice.pdf)))
    assert reader.metadata.subject == "Société Ősz سوفت €"


@pytest.mark.django_db
def test_without_a_unicode_font_names_outside_latin1_do_not_break_the_pdf(owner, settings):
    settings.INVOICE_FONT = settings.INVOICE_FONT_BOLD = ""
    invoice = close_with_names_outside_latin1(owner)
    text = pdf_text(invoice)
    assert "Customer: Société Osz ???? EUR" in text
    assert "push TG ?????????? ?" in text
    assert invoice.csv.splitlines()[1] == "push,TG,Приложение 📱,1,0.05,credits"


# --- Through the real send path ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_month_of_real_sms_sends_is_invoiced_as_the_ledger_settled_it(owner):
    """sms_submit reserves, the log route sends (status events), the billing consumer
    settles or releases each number at the frozen clock's time; the invoice is the
    ledger's March."""
    from billing.consumer import billing_consume
    from sms import delivery
    from sms.models import RouteKind, SenderName, SenderStatus, SmsRoute
    from sms.services import sms_cancel, sms_submit

    account = account_for(owner.tenant)
    SenderName.objects.create(tenant=owner.tenant, name="SoftAfrik", status=SenderStatus.APPROVED, is_default=True)
    SmsRoute.objects.create(name="log", kind=RouteKind.LOG, priority=1000, callback_token=secrets.token_urlsafe(16))

    def send(numbers, text, *, settle_at, **kw):
        message = sms_submit(tenant=owner.tenant, dialect="test", sender=None, numbers=numbers, text=text, **kw).message
        for chunk in delivery.sms_dispatch(message_id=str(message.pk)):
            delivery.sms_send_chunk(recipient_ids=chunk)
        with mock.patch("django.utils.timezone.now", return_value=settle_at):
            billing_consume()
        return message

    send(["+22890123456", "+22891234567"], "Code 1234", settle_at=MARCH[0] + timedelta(days=2))
    send(["+2250701020304"], "x" * 200, settle_at=MARCH[0] + timedelta(days=20))  # two parts
    scheduled = sms_submit(
        tenant=owner.tenant,
        dialect="test",
        sender=None,
        numbers=["+22890123456"],
        text="later",
        scheduled_at=datetime.now(UTC) + timedelta(hours=1),
    ).message
    sms_cancel(message=scheduled)  # released: never charged
    with mock.patch("django.utils.timezone.now", return_value=MARCH[0] + timedelta(days=21)):
        billing_consume()
    send(["+22890123456"], "Code 5678", settle_at=MARCH[1] + timedelta(hours=1))  # April

    invoice = invoice_close(account=account, period_start=MARCH[0], period_end=MARCH[1])
    assert lines_of(invoice) == [("sms", "CI", "SoftAfrik", 2, 200), ("sms", "TG", "SoftAfrik", 2, 200)]
    assert invoice.total == 400 == settled_in_ledger(account, *MARCH)
    account.refresh_from_db()
    assert (account.balance, account.reserved, account.spent) == (-500, 0, 500)
    assert "Total: 4.00 credits" in pdf_text(invoice)


# --- Beat: every complete month, caught up ---------------------------------------------------


@pytest.mark.django_db
def test_beat_closes_every_complete_month_since_the_account_was_created(owner, outsider):
    riyadh = account_for(owner.tenant)
    new_york = account_for(outsider.tenant, type=AccountType.PREPAID, time_zone="America/New_York")
    BillingAccount.objects.filter(pk__in=[riyadh.pk, new_york.pk]).update(created_at=datetime(2026, 1, 15, tzinfo=UTC))
    charge(riyadh, at=datetime(2026, 2, 10, tzinfo=UTC), amount=200, quantity=2)
    # 00:30 on April 1st in Riyadh; still March 31st in New York.
    now = datetime(2026, 3, 31, 21, 30, tzinfo=UTC)
    assert invoices_close_due(now=now) == 5
    periods = {
        (i.account_id, i.number, i.period_start, i.period_end, i.status, i.total)
        for i in Invoice.objects.order_by("period_start")
    }
    assert periods == {
        (riyadh.pk, f"INV-202601-{riyadh.pk:06d}", datetime(2025, 12, 31, 21, tzinfo=UTC), datetime(2026, 1, 31, 21, tzinfo=UTC), "paid", 0),
        (riyadh.pk, f"INV-202602-{riyadh.pk:06d}", datetime(2026, 1, 31, 21, tzinfo=UTC), MARCH[0], "due", 200),
        (riyadh.pk, f"INV-202603-{riyadh.pk:06d}", *MARCH, "paid", 0),
        (new_york.pk, f"INV-202601-{new_york.pk:06d}", datetime(2026, 1, 1, 5, tzinfo=UTC), datetime(2026, 2, 1, 5, tzinfo=UTC), "statement", 0),
        (new_york.pk, f"INV-202602-{new_york.pk:06d}", datetime(2026, 2, 1, 5, tzinfo=UTC), datetime(2026, 3, 1, 5, tzinfo=UTC), "statement", 0),
    }  # fmt: skip
    assert invoices_close_due(now=now) == 0  # nothing twice
    # New York's March ends at 04:00 UTC on April 1st (EDT), closed on the next run after the grace.
    assert invoices_close_due(now=datetime(2026, 4, 1, 4, 5, tzinfo=UTC)) == 0
    assert invoices_close_due(now=datetime(2026, 4, 1, 4, 10, tzinfo=UTC)) == 1
    closed = Invoice.objects.get(account=new_york, number=f"INV-202603-{new_york.pk:06d}")
    assert (closed.period_start, closed.period_end) == (
        datetime(2026, 3, 1, 5, tzinfo=UTC),
        datetime(2026, 4, 1, 4, tzinfo=UTC),
    )


@pytest.mark.django_db
def test_beat_waits_for_the_grace_after_the_month_ends(postpaid):
    BillingAccount.objects.filter(pk=postpaid.pk).update(created_at=MARCH[0] + timedelta(days=1))
    assert invoices_close_due(now=MARCH[1] + invoices.CLOSE_GRACE - timedelta(seconds=1)) == 0
    assert invoices_close_due(now=MARCH[1] + invoices.CLOSE_GRACE) == 1
    invoice = Invoice.objects.get()
    assert (invoice.period_start, invoice.total) == (MARCH[0], settled_in_ledger(postpaid, *MARCH))


@pytest.mark.django_db
def test_beat_catches_up_a_bounded_number_of_months_per_run(owner):
    account = account_for(owner.tenant, time_zone="UTC")
    BillingAccount.objects.filter(pk=account.pk).update(created_at=datetime(2024, 1, 10, tzinfo=UTC))
    now = datetime(2026, 3, 15, tzinfo=UTC)  # 26 complete months
    assert invoices_close_due(now=now) == invoices.CLOSE_MAX_PER_RUN
    assert invoices_close_due(now=now) == invoices.CLOSE_MAX_PER_RUN
    assert invoices_close_due(now=now) == 2
    starts = list(Invoice.objects.order_by("period_start").values_list("period_start", flat=True))
    assert starts[0] == datetime(2024, 1, 1, tzinfo=UTC) and starts[-1] == datetime(2026, 2, 1, tzinfo=UTC)
    assert len(set(starts)) == 26


def test_periods_follow_each_other_across_a_time_zone_change():
    start, end = period_after(month_start(datetime(2026, 3, 10, tzinfo=UTC), time_zone=RIYADH), time_zone=RIYADH)
    assert (start, end) == MARCH
    # The tenant moves to New York: the next period starts where March ended and ends
    # at New York's end of April, a few hours more than a month; then months again.
    april = period_after(end, time_zone="America/New_York")
    assert april == (MARCH[1], datetime(2026, 5, 1, 4, tzinfo=UTC))
    assert period_after(april[1], time_zone="America/New_York")[1] == datetime(2026, 6, 1, 4, tzinfo=UTC)


def test_the_beat_entry_runs_hourly_in_whole_seconds():
    assert live_settings.CELERY_BEAT_SCHEDULE["billing-invoices"] == {
        "task": "billing.tasks.invoices_close",
        "schedule": 3600,
    }


@pytest.mark.django_db
def test_the_beat_task_closes_due_months(postpaid):
    from billing.tasks import invoices_close

    BillingAccount.objects.filter(pk=postpaid.pk).update(created_at=MARCH[0] + timedelta(days=1))
    with mock.patch("django.utils.timezone.now", return_value=MARCH[1] + timedelta(hours=1)):
        assert invoices_close() == 1
    assert Invoice.objects.get().total == settled_in_ledger(postpaid, *MARCH)


# --- Paying -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_marking_paid_brings_the_balance_back_by_the_total_once(postpaid, march):
    postpaid.refresh_from_db()
    owed = postpaid.balance
    assert owed == -(march.total + 11 + 13)  # March, and the charges just before and after it
    root = platform_admin()
    paid = invoice_mark_paid(invoice=march, user=root)
    assert (paid.status, paid.paid_at is not None) == (InvoiceStatus.PAID, True)
    postpaid.refresh_from_db()
    assert postpaid.balance == owed + march.total
    payments = LedgerEntry.objects.filter(account=postpaid, kind=EntryKind.PAYMENT)
    assert sorted(payments.values_list("book", "amount", "reference", "created_by")) == [
        (Book.AVAILABLE, march.total, f"invoice:{march.number}", root.pk),
        (Book.EXTERNAL, -march.total, f"invoice:{march.number}", root.pk),
    ]
    paid_at = paid.paid_at
    again = invoice_mark_paid(invoice=march, user=root)
    postpaid.refresh_from_db()
    assert (again.status, again.paid_at, postpaid.balance, payments.count()) == (
        InvoiceStatus.PAID,
        paid_at,
        owed + march.total,
        2,
    )
    assert AccountChange.objects.filter(account=postpaid, field="payment").count() == 1


@pytest.mark.django_db
def test_paying_the_only_month_brings_the_amount_due_to_zero(owner):
    account = account_for(owner.tenant)
    charge(account, at=MARCH[0] + timedelta(days=4), amount=250, quantity=2)
    invoice = invoice_close(account=account, period_start=MARCH[0], period_end=MARCH[1])
    account.refresh_from_db()
    assert account.balance == -250
    invoice_mark_paid(invoice=invoice, user=platform_admin())
    account.refresh_from_db()
    assert (account.balance, account.reserved) == (0, 0)


@pytest.mark.django_db
def test_only_a_platform_admin_marks_an_invoice_paid(owner, march, postpaid):
    postpaid.refresh_from_db()
    staff = User.objects.create_user("ops", password="pw-12345-long", is_staff=True, tenant=owner.tenant)
    with pytest.raises(NotAllowed):
        invoice_mark_paid(invoice=march, user=staff)
    march.refresh_from_db()
    assert (march.status, march.paid_at) == (InvoiceStatus.DUE, None)
    assert not LedgerEntry.objects.filter(kind=EntryKind.PAYMENT).exists()
    assert BillingAccount.objects.get(pk=postpaid.pk).balance == postpaid.balance


# --- The admin -------------------------------------------------------------------------------


@pytest.fixture
def both_invoices(owner, outsider, march):
    other = account_for(outsider.tenant)
    charge(other, at=MARCH[0] + timedelta(days=1), amount=100)
    return march, invoice_close(account=other, period_start=MARCH[0], period_end=MARCH[1])


@pytest.mark.django_db
def test_staff_lists_and_downloads_only_its_own_invoices(staff_client, both_invoices):
    own, other = both_invoices
    page = staff_client.get("/admin/billing/invoice/").content.decode()
    assert own.number in page and other.number not in page
    assert f"/admin/billing/invoice/{own.pk}/pdf/" in page and f"/admin/billing/invoice/{own.pk}/csv/" in page
    assert "Mark paid" not in page
    pdf = staff_client.get(f"/admin/billing/invoice/{own.pk}/pdf/")
    assert (pdf.status_code, pdf["Content-Type"]) == (200, "application/pdf")
    assert pdf["Content-Disposition"] == f'attachment; filename="{own.number}.pdf"'
    assert pdf.content == bytes(own.pdf) and pdf.content.startswith(b"%PDF-")
    csv = staff_client.get(f"/admin/billing/invoice/{own.pk}/csv/")
    assert (csv.status_code, csv.content.decode()) == (200, own.csv)
    detail = staff_client.get(f"/admin/billing/invoice/{own.pk}/change/")
    assert detail.status_code == 200
    assert "96.59 credits" in detail.content.decode() and "33.00" in detail.content.decode()
    assert staff_client.get(f"/admin/billing/invoice/{other.pk}/change/").status_code == 302  # "does not exist"


@pytest.mark.django_db
def test_staff_cannot_download_another_tenants_invoice(staff_client, both_invoices):
    _, other = both_invoices
    assert staff_client.get(f"/admin/billing/invoice/{other.pk}/pdf/").status_code == 404
    assert staff_client.get(f"/admin/billing/invoice/{other.pk}/csv/").status_code == 404
    assert staff_client.get("/admin/billing/invoice/999999/pdf/").status_code == 404


@pytest.mark.django_db
def test_staff_cannot_mark_its_invoice_paid_through_the_admin(staff_client, both_invoices, postpaid):
    own, _ = both_invoices
    staff_client.post("/admin/billing/invoice/", {"action": "mark_paid", "_selected_action": [own.pk]})
    own.refresh_from_db()
    assert (own.status, LedgerEntry.objects.filter(kind=EntryKind.PAYMENT).count()) == (InvoiceStatus.DUE, 0)


@pytest.mark.django_db
def test_a_platform_admin_sees_every_invoice_and_marks_one_paid(client, both_invoices, postpaid, settings):
    settings.SITE_LANGUAGE_CODE = "en"  # the admin's action names in English
    own, other = both_invoices
    client.force_login(platform_admin())
    page = client.get("/admin/billing/invoice/").content.decode()
    assert own.number in page and other.number in page and "Mark paid" in page
    assert client.get(f"/admin/billing/invoice/{other.pk}/pdf/").status_code == 200
    client.post("/admin/billing/invoice/", {"action": "mark_paid", "_selected_action": [own.pk]})
    own.refresh_from_db()
    other.refresh_from_db()
    assert (own.status, other.status) == (InvoiceStatus.PAID, InvoiceStatus.DUE)
    assert LedgerEntry.objects.filter(kind=EntryKind.PAYMENT, reference=f"invoice:{own.number}").count() == 2


@pytest.mark.django_db
def test_a_user_without_a_tenant_who_is_not_superuser_gets_nothing(client, both_invoices):
    own, _ = both_invoices
    user = User.objects.create_user("lost", password="pw-12345-long", is_staff=True)
    client.force_login(user)
    assert client.get(f"/admin/billing/invoice/{own.pk}/pdf/").status_code == 404
