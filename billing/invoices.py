"""Monthly invoices (postpaid) and statements (prepaid): closing a month, marking it paid.

A month is the tenant's: from the local midnight of its 1st to the next one
(``Tenant.timezone``), stored as aware datetimes. Its lines are the settled charges
(``billing.models.Charge``) whose time falls in it, grouped by channel, destination
country and sender; their total is the sum of the month's settle entries on the spent
book of the ledger, since both are written by ``charges_apply`` with the same time.
Released numbers cost nothing and appear on no line.

Beat closes every complete month that has no invoice yet, for every account (a missed
run catches up the next hour). Periods follow each other without gap or overlap: each
starts where the previous one ended, so a tenant that changes its time zone gets one
period a few hours longer or shorter, never a charge counted twice or lost.
"""

from __future__ import annotations

import contextlib
import logging
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Sum
from django.utils import timezone

from billing.invoice_render import Document, Line, invoice_csv, invoice_pdf
from billing.models import AccountType, BillingAccount, Charge, Invoice, InvoiceLine, InvoiceStatus
from billing.services import account_pay
from softafrik.errors import DomainError

logger = logging.getLogger(__name__)

# A month is closed this long after it ended: a charge whose transaction read the clock
# just before midnight has committed by then (charges_apply transactions last
# milliseconds; beat runs hourly, so this delays an invoice by at most one run).
CLOSE_GRACE = timedelta(minutes=10)
# Months one beat run closes per account: an old account seen for the first time catches
# up over a few runs instead of rendering years of PDFs in one task.
CLOSE_MAX_PER_RUN = 12
# A period ends at the first local month start at least this long after it began: far
# more than any time zone change shifts a midnight (26 h), far less than a month.
MIN_PERIOD = timedelta(days=7)
ACCOUNTS_BATCH = 500  # accounts read per query (with their last invoice's end)


class NotAllowed(DomainError):
    status_code = 403
    code = "forbidden"


# --- Months ----------------------------------------------------------------------------------


def tenant_zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _local_midnight(day: date, zone: zoneinfo.ZoneInfo) -> datetime:
    """The instant of ``day``'s local midnight, in UTC (a midnight that a DST change
    skips is read with the offset before the change, as zoneinfo does)."""
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def month_start(at: datetime, *, time_zone: str) -> datetime:
    """The local midnight of the 1st of the month ``at`` falls in."""
    zone = tenant_zone(time_zone)
    return _local_midnight(at.astimezone(zone).date().replace(day=1), zone)


def period_after(start: datetime, *, time_zone: str) -> tuple[datetime, datetime]:
    """The period that begins at ``start``: it ends at the first local month start at
    least ``MIN_PERIOD`` later (from a month start: the next month's)."""
    zone = tenant_zone(time_zone)
    month = (start + MIN_PERIOD).astimezone(zone).date().replace(day=1)
    return start, _local_midnight(_next_month(month), zone)


def invoice_number(*, account: BillingAccount, period_end: datetime, time_zone: str) -> str:
    """``INV-<year><month>-<account>``: the local month the period closes. Periods end
    at distinct month starts at least ``MIN_PERIOD`` apart, so the number is unique."""
    last_day = (period_end - timedelta(days=1)).astimezone(tenant_zone(time_zone))
    return f"INV-{last_day:%Y%m}-{account.pk:06d}"


# --- Closing -------------------------------------------------------------------------------


def _lines(*, account: BillingAccount, period_start: datetime, period_end: datetime) -> list[Line]:
    """The period's settled charges per (channel, country, sender): one aggregate query
    over the (account, at) index."""
    rows = (
        Charge.objects.filter(account=account, settled=True, at__gte=period_start, at__lt=period_end)
        .values("channel", "country", "sender")
        .annotate(quantity=Sum("quantity"), amount=Sum("amount"))
        .order_by("channel", "country", "sender")
    )
    return [Line(r["channel"], r["country"], r["sender"], r["quantity"], r["amount"]) for r in rows]


def _close(*, account: BillingAccount, period_start: datetime, period_end: datetime) -> tuple[Invoice, bool]:
    existing = Invoice.objects.filter(account=account, period_start=period_start).first()
    if existing is not None:
        return existing, False
    tenant = account.tenant
    zone = tenant_zone(tenant.timezone)
    lines = _lines(account=account, period_start=period_start, period_end=period_end)
    total = sum(line.amount for line in lines)
    statement = account.type != AccountType.POSTPAID
    number = invoice_number(account=account, period_end=period_end, time_zone=tenant.timezone)
    doc = Document(
        issuer=settings.BILLING_INVOICE_ISSUER,
        tenant_name=tenant.name,
        number=number,
        statement=statement,
        period_from=period_start.astimezone(zone),
        period_to=(period_end - timedelta(microseconds=1)).astimezone(zone),
        time_zone=tenant.timezone,
        unit=account.unit,
        lines=lines,
        total=total,
    )
    now = timezone.now()
    if statement:
        status, paid_at = InvoiceStatus.STATEMENT, None
    elif total == 0:
        status, paid_at = InvoiceStatus.PAID, now  # nothing used, nothing due
    else:
        status, paid_at = InvoiceStatus.DUE, None
    try:
        with transaction.atomic():
            invoice = Invoice.objects.create(
                account=account,
                number=number,
                period_start=period_start,
                period_end=period_end,
                unit=account.unit,
                total=total,
                status=status,
                pdf=invoice_pdf(doc),
                csv=invoice_csv(doc),
                paid_at=paid_at,
            )
            InvoiceLine.objects.bulk_create(
                [
                    InvoiceLine(
                        invoice=invoice,
                        channel=line.channel,
                        country=line.country,
                        sender=line.sender,
                        quantity=line.quantity,
                        amount=line.amount,
                    )
                    for line in lines
                ]
            )
    except IntegrityError:  # closed meanwhile by another run
        return Invoice.objects.get(account=account, period_start=period_start), False
    return invoice, True


def invoice_close(*, account: BillingAccount, period_start: datetime, period_end: datetime) -> Invoice:
    """Close [period_start, period_end) for ``account``: postpaid, an invoice ``due``
    (``paid`` at once when nothing was used); prepaid, a ``statement``. Once per period:
    a second call (or a concurrent one) returns the invoice already closed."""
    return _close(account=account, period_start=period_start, period_end=period_end)[0]


def invoices_close_due(*, now: datetime | None = None) -> int:
    """Close, for every account, every complete month (in its tenant's time zone) that
    has no invoice yet: from the month the account was created in, or from the end of
    its last invoice. At most ``CLOSE_MAX_PER_RUN`` per account per run. Returns how many
    invoices were created; an account that fails is logged and retried next run."""
    now = now or timezone.now()
    created = 0
    accounts = BillingAccount.objects.select_related("tenant").annotate(last_end=Max("invoices__period_end"))
    after = 0
    while batch := list(accounts.filter(pk__gt=after).order_by("pk")[:ACCOUNTS_BATCH]):
        after = batch[-1].pk
        for account in batch:
            created += _close_complete_months(account=account, now=now)
    return created


def _close_complete_months(*, account: BillingAccount, now: datetime) -> int:
    time_zone = account.tenant.timezone
    start = account.last_end or month_start(account.created_at, time_zone=time_zone)
    created = 0
    try:
        for _ in range(CLOSE_MAX_PER_RUN):
            start, end = period_after(start, time_zone=time_zone)
            if end + CLOSE_GRACE > now:
                break
            created += _close(account=account, period_start=start, period_end=end)[1]
            start = end
    except Exception:  # one account's failure must not stop the others' invoices
        logger.exception("closing the invoices of account %s failed", account.pk)
    return created


# --- Payment -------------------------------------------------------------------------------


def invoice_mark_paid(*, invoice: Invoice, user) -> Invoice:
    """A platform admin records that a due invoice was paid: its total comes in (the
    postpaid balance goes back up by it: "Solde remis à zéro" for that month) and it
    is ``paid``. Once: a second call, or a concurrent one, changes and pays nothing.
    Raises NotAllowed for anyone but a platform admin, DomainError for a statement."""
    if not (user is not None and user.is_active and user.is_superuser):
        raise NotAllowed("Only a platform admin marks an invoice paid.")
    with transaction.atomic():
        # The conditional UPDATE is the "once": it locks the row, a concurrent call
        # waits, then finds it paid and updates nothing.
        marked = Invoice.objects.filter(pk=invoice.pk, status=InvoiceStatus.DUE).update(
            status=InvoiceStatus.PAID, paid_at=timezone.now()
        )
        if marked:
            # IntegrityError: that invoice's payment is in the ledger already (its
            # reference is unique), so it is paid once.
            with contextlib.suppress(IntegrityError):
                account_pay(
                    account=invoice.account,
                    amount=invoice.total,
                    reference=f"invoice:{invoice.number}",
                    note=f"Invoice {invoice.number} paid",
                    user=user,
                )
    invoice.refresh_from_db()
    if not marked and invoice.status != InvoiceStatus.PAID:
        raise DomainError("Only a due invoice can be marked paid.", field="status", code="not_due")
    return invoice
