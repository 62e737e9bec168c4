"""Everything that moves money: reserving a send, settling and releasing its recipients,
top-ups, adjustments, payments, account settings. Every change writes its ledger legs in
the transaction that changes the cached books (``billing.models``), and every balance
check is part of the statement that moves the money: a balance is never read and then
written.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from billing import money
from billing.alerts import low_balance_crossed, low_balance_rearmed
from billing.models import (
    AccountChange,
    AccountType,
    BillingAccount,
    Book,
    Charge,
    EntryKind,
    LedgerEntry,
    SwitchRequest,
    SwitchStatus,
)
from softafrik.bulk import prepared_fetchone, rows_insert
from softafrik.errors import DomainError

INSUFFICIENT = "solde insuffisant"  # ION's words; the reason a number fails for want of balance

ENTRY_COLUMNS = [
    ("account_id", "bigint"),
    ("transfer", "uuid"),
    ("book", "varchar"),
    ("kind", "varchar"),
    ("amount", "bigint"),
    ("balance_after", "bigint"),
    ("reference", "varchar"),
    ("quantity", "integer"),
    ("note", "varchar"),
    ("created_by_id", "bigint"),
    ("created_at", "timestamptz"),
]
CHARGE_COLUMNS = [
    ("channel", "varchar"),
    ("recipient_id", "bigint"),
    ("account_id", "bigint"),
    ("send_id", "uuid"),
    ("settled", "boolean"),
    ("amount", "bigint"),
    ("quantity", "integer"),
    ("country", "varchar"),
    ("sender", "varchar"),
    ("at", "timestamptz"),
]
# Which book each leg of a transfer kind takes from and gives to.
_LEGS = {
    EntryKind.RESERVE: (Book.AVAILABLE, Book.RESERVED),
    EntryKind.SETTLE: (Book.RESERVED, Book.SPENT),
    EntryKind.RELEASE: (Book.RESERVED, Book.AVAILABLE),
    EntryKind.TOPUP: (Book.EXTERNAL, Book.AVAILABLE),
    EntryKind.TRIAL: (Book.EXTERNAL, Book.AVAILABLE),
    EntryKind.PAYMENT: (Book.EXTERNAL, Book.AVAILABLE),
    EntryKind.ADJUSTMENT: (Book.EXTERNAL, Book.AVAILABLE),
}
_COLUMN = {Book.AVAILABLE: "balance", Book.RESERVED: "reserved", Book.SPENT: "spent", Book.EXTERNAL: "external"}


def _legs(
    *,
    account_id: int,
    kind: EntryKind,
    amount: int,
    source_after: int,
    target_after: int,
    reference: str,
    at: datetime,
    quantity: int = 0,
    note: str = "",
    user_id: int | None = None,
) -> list[tuple]:
    """The two ledger rows (``ENTRY_COLUMNS``) of one transfer of ``amount`` between the
    books of ``kind``, with each book's balance after it."""
    source, target = _LEGS[kind]
    transfer = uuid.uuid4()
    common = (reference, quantity, note[:300], user_id, at)
    return [
        (account_id, transfer, source, kind, -amount, source_after, *common),
        (account_id, transfer, target, kind, amount, target_after, *common),
    ]


class InsufficientBalance(DomainError):
    """A prepaid account (or a postpaid one at its credit limit) cannot pay the send."""

    status_code = 402
    code = "insufficient_balance"

    def __init__(self, *, needed: int, unit: str):
        self.needed, self.unit = needed, unit
        price = money.amount_str(needed, unit=unit)
        super().__init__(f"Insufficient balance: this send costs {price} {unit}.", field=None)


# --- Accounts ------------------------------------------------------------------------------

_units: dict[int, tuple[float, str]] = {}


def account_cache_clear() -> None:
    _units.clear()


def account_ensure(*, tenant_id: int) -> BillingAccount:
    """The tenant's account, created on first need: of type ``BILLING_DEFAULT_TYPE``,
    in ``BILLING_DEFAULT_UNIT``, with the trial credit ``BILLING_TRIAL_CREDIT`` (once:
    the trial's ledger reference is unique)."""
    account = BillingAccount.objects.filter(tenant_id=tenant_id).first()
    if account is not None:
        return account
    unit = settings.BILLING_DEFAULT_UNIT
    try:
        with transaction.atomic():
            account = BillingAccount.objects.create(
                tenant_id=tenant_id,
                type=settings.BILLING_DEFAULT_TYPE,
                unit=unit,
                low_balance_threshold=money.amount_parse(settings.BILLING_LOW_BALANCE_DEFAULT, unit=unit),
            )
            trial = money.amount_parse(settings.BILLING_TRIAL_CREDIT, unit=unit)
            if trial:
                _transfer(
                    account_id=account.pk, kind=EntryKind.TRIAL, amount=trial, reference="trial", note="Trial credit"
                )
                account.refresh_from_db()  # the transfer moved the books in SQL
    except IntegrityError:  # another request created it meanwhile
        account = BillingAccount.objects.get(tenant_id=tenant_id)
    return account


def account_unit(*, tenant_id: int) -> str:
    """The account's unit, kept in this process for ``BILLING_CACHE_SECONDS`` (a reservation
    checks it in its statement, so a stale one is noticed, never charged)."""
    hit = _units.get(tenant_id)
    now = time.monotonic()
    if hit is not None and hit[0] > now:
        return hit[1]
    unit = account_ensure(tenant_id=tenant_id).unit
    _units[tenant_id] = (now + settings.BILLING_CACHE_SECONDS, unit)
    return unit


# --- Reservations: accepting a send -------------------------------------------------------

# What the account may still spend: a prepaid balance, a postpaid one plus its credit
# limit; NULL for a postpaid account without a limit, which is never "low".
_HEADROOM = (
    "(CASE WHEN type = 'prepaid' THEN balance WHEN credit_limit IS NULL THEN NULL ELSE balance + credit_limit END)"
)
_LOW = f"{_HEADROOM} < low_balance_threshold"


def is_low(*, account_type: str, balance: int, credit_limit: int | None, threshold: int) -> bool:
    """``_LOW`` in Python: what the account may still spend is below its threshold."""
    if account_type == AccountType.PREPAID:
        return balance < threshold
    return credit_limit is not None and balance + credit_limit < threshold


def _can_pay(amount: str, prefix: str = "") -> str:
    """The condition of a reservation of ``amount`` (SQL) on the account row: a prepaid
    account may not go below zero, a postpaid one not below minus its credit limit (none:
    no bound)."""
    a = prefix
    return (
        f"({a}balance - {amount} >= 0 OR ({a}type = 'postpaid'"
        f" AND ({a}credit_limit IS NULL OR {a}balance - {amount} >= -{a}credit_limit)))"
    )


# What a reservation's statement answers about the account: enough to judge the
# low-balance crossing (in Python: SQLite 3.40 answers a wrong "IS NULL" in RETURNING).
_ACCOUNT_AFTER = "id, balance, reserved, type, credit_limit, low_balance_threshold, low_balance_alerted_at"
# SQLite: the conditional UPDATE, then its two ledger legs (rows_insert).
_RESERVE_SQL = (
    "UPDATE billing_billingaccount SET balance = balance - %s, reserved = reserved + %s, updated_at = %s"  # noqa: S608
    f" WHERE tenant_id = %s AND unit = %s AND {_can_pay('%s')} RETURNING {_ACCOUNT_AFTER}"
)


def reserve_ctes(*, amount: str, quantity: str, source: str = "", where: str = "true") -> str:
    """PostgreSQL: the reservation of one send as CTEs of a caller's statement:
    ``reserve_many_ctes`` over a source of one row, so ``acct`` is the conditional UPDATE
    of the account row (answering ``_ACCOUNT_AFTER`` and ``amount``) and ``ledger`` its
    two legs, and a send's accept, its reservation and its ledger entries can be one
    statement: no client round trip while the account row is locked. ``amount`` and
    ``quantity`` are SQL over ``source`` (another CTE, of at most one row) or
    parameters; the statement's named parameters: tenant, unit, now, transfer,
    reference. ``acct`` is empty when the account cannot pay (or has no row yet, or
    another unit), or when ``where`` leaves nothing to reserve."""
    from_source = f" FROM {source}" if source else ""
    return (
        f"one AS (SELECT 1 AS i, %(transfer)s::uuid AS transfer, ({amount})::bigint AS amount,"
        f" ({quantity})::integer AS quantity, %(reference)s::text AS reference{from_source} WHERE {where}), "
        + reserve_many_ctes(source="one")
    )


def reserve_many_ctes(*, source: str) -> str:
    """PostgreSQL: the reservation of several sends to one account as CTEs of a caller's
    statement, the shape of ``reserve_ctes``: ``total`` (what they cost together),
    ``acct`` (one conditional UPDATE for that total, answering ``_ACCOUNT_AFTER`` and
    ``amount``: empty when the account cannot pay all of it) and ``ledger`` (each send's
    two legs, with ``balance_after`` as if the sends had been reserved one after another
    in the order of ``i``). ``source`` is a CTE with one row per send: ``i``, ``amount``,
    ``quantity``, ``reference`` and ``transfer``; the named parameters: tenant, unit, now.
    """
    after = ", ".join(f"a.{column.strip()}" for column in _ACCOUNT_AFTER.split(","))
    return (
        f"total AS (SELECT coalesce(sum(amount), 0)::bigint AS amount FROM {source}),"  # noqa: S608
        " acct AS (UPDATE billing_billingaccount a SET balance = a.balance - total.amount,"
        " reserved = a.reserved + total.amount, updated_at = %(now)s FROM total"
        " WHERE total.amount > 0 AND a.tenant_id = %(tenant)s AND a.unit = %(unit)s"
        f" AND {_can_pay('total.amount', 'a.')} RETURNING {after}, total.amount AS amount),"
        # Send i's legs: the books as they stood once sends 1..i were reserved.
        f" ledger AS (INSERT INTO {LedgerEntry._meta.db_table} ({', '.join(name for name, _ in ENTRY_COLUMNS)})"
        " SELECT acct.id, s.transfer, leg.book, 'reserve', leg.sign * s.amount,"
        " CASE WHEN leg.sign < 0 THEN acct.balance + (acct.amount - s.upto)"
        " ELSE acct.reserved - (acct.amount - s.upto) END, s.reference, s.quantity, '', NULL, %(now)s"
        f" FROM acct, (SELECT *, (sum(amount) OVER (ORDER BY i))::bigint AS upto FROM {source} WHERE amount > 0) s,"
        " (VALUES ('available', -1, 1), ('reserved', 1, 2)) AS leg(book, sign, o) ORDER BY s.i, leg.o)"
    )


_PG_RESERVE = f"WITH {reserve_ctes(amount='%(amount)s', quantity='%(quantity)s')} SELECT {_ACCOUNT_AFTER} FROM acct"  # noqa: S608


def reserve_params(*, tenant_id: int, unit: str, reference: str, now: datetime) -> dict:
    """The named parameters ``reserve_ctes`` uses."""
    return {"tenant": tenant_id, "unit": unit, "now": now, "transfer": uuid.uuid4(), "reference": reference}


def charge_reserve(
    *, tenant_id: int, unit: str, amount: int, reference: str, quantity: int = 0, at: datetime | None = None
) -> None:
    """Reserve ``amount`` (minor units of ``unit``) for the send ``reference``, in the
    caller's transaction (the one that writes the send). Nothing to reserve (0): nothing
    written.

    Raises InsufficientBalance, and writes nothing, when the account cannot pay all of it.
    A unit that changed since it was read is noticed by the statement: the cache is
    dropped and the caller's price is refused (StaleUnit), never charged in a wrong unit.
    On PostgreSQL the check, the debit and the ledger legs are one prepared statement.
    """
    if amount <= 0:
        return
    if not connection.in_atomic_block:  # the balance moves with its ledger legs, or not at all
        raise RuntimeError("charge_reserve runs inside the transaction that accepts the send")
    now = at or timezone.now()
    row = _reserve(tenant_id=tenant_id, unit=unit, amount=amount, reference=reference, quantity=quantity, now=now)
    if row is None:
        account = account_ensure(tenant_id=tenant_id)
        if account.unit != unit:
            _units.pop(tenant_id, None)
            raise StaleUnit(f"The account's unit is now {account.unit}.")
        # A first send creates the account, then tries once more.
        row = _reserve(tenant_id=tenant_id, unit=unit, amount=amount, reference=reference, quantity=quantity, now=now)
        if row is None:
            raise InsufficientBalance(needed=amount, unit=unit)
    reserved_after(row=row, tenant_id=tenant_id)


def _reserve(*, tenant_id: int, unit: str, amount: int, reference: str, quantity: int, now: datetime):
    """The reservation's statement(s); the account as ``_ACCOUNT_AFTER``, or None."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            params = reserve_params(tenant_id=tenant_id, unit=unit, reference=reference, now=now)
            return prepared_fetchone(cursor, _PG_RESERVE, {**params, "amount": amount, "quantity": quantity})
        cursor.execute(_RESERVE_SQL, [amount, amount, now, tenant_id, unit, amount, amount])
        row = cursor.fetchone()
    if row is not None:
        account_id, balance, reserved = row[:3]
        rows_insert(
            table=LedgerEntry._meta.db_table,
            columns=ENTRY_COLUMNS,
            rows=_legs(
                account_id=account_id,
                kind=EntryKind.RESERVE,
                amount=amount,
                source_after=balance,
                target_after=reserved,
                reference=reference,
                quantity=quantity,
                at=now,
            ),
        )
    return row


def reserved_after(*, row: tuple, tenant_id: int) -> None:
    """After a reservation (``row``: the account as ``_ACCOUNT_AFTER``): alert if it took
    what the account may still spend below its threshold."""
    account_id, balance, _, account_type, credit_limit, threshold, alerted_at = row[:7]
    if alerted_at is None and is_low(
        account_type=account_type, balance=balance, credit_limit=credit_limit, threshold=threshold
    ):
        _low_balance_check(account_id=account_id, tenant_id=tenant_id)


class StaleUnit(DomainError):
    status_code = 409
    code = "account_changed"


# --- Settlement and release: the network took it, or it never left ---------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """One recipient's end, as the billing consumer saw it in the status events."""

    channel: str
    recipient_id: int
    account_id: int
    send_id: uuid.UUID
    settled: bool  # True: settle (handed to the network); False: release
    amount: int
    quantity: int = 1
    country: str = ""
    sender: str = ""


def charges_apply(*, outcomes: Iterable[Outcome], at: datetime | None = None) -> int:
    """Settle or release each recipient's reserved price, once per (channel, recipient):
    one already applied is skipped, whatever repeats. In the caller's transaction; the
    legs are one transfer per (account, send, kind). Returns how many were applied."""
    now = at or timezone.now()
    by_channel: dict[str, dict[int, Outcome]] = defaultdict(dict)
    for outcome in outcomes:
        by_channel[outcome.channel].setdefault(outcome.recipient_id, outcome)  # first one wins
    applied: list[Outcome] = []
    for rows in by_channel.values():
        inserted = set(
            rows_insert(
                table=Charge._meta.db_table,
                columns=CHARGE_COLUMNS,
                rows=[
                    (
                        o.channel,
                        o.recipient_id,
                        o.account_id,
                        o.send_id,
                        o.settled,
                        o.amount,
                        o.quantity,
                        o.country,
                        o.sender[:100],
                        now,
                    )
                    for o in rows.values()
                ],
                ignore_conflicts=True,
                returning="recipient_id",
            )
        )
        applied += [o for pk, o in rows.items() if pk in inserted]
    totals: dict[tuple[int, str, EntryKind], list[int]] = defaultdict(lambda: [0, 0])
    for o in applied:
        if o.amount:
            total = totals[
                (o.account_id, f"{o.channel}:{o.send_id}", EntryKind.SETTLE if o.settled else EntryKind.RELEASE)
            ]
            total[0] += o.amount
            total[1] += o.quantity
    _transfers_many(totals, at=now)
    return len(applied)


def _transfers_many(totals: dict[tuple[int, str, EntryKind], list[int]], *, at: datetime) -> None:
    """Write settle/release transfers, one UPDATE per account (in account order: two
    consumers never lock two accounts in opposite orders)."""
    per_account: dict[int, list[tuple[str, EntryKind, int, int]]] = defaultdict(list)
    for (account_id, reference, kind), (amount, quantity) in totals.items():
        per_account[account_id].append((reference, kind, amount, quantity))
    entries = []
    for account_id in sorted(per_account):
        transfers = per_account[account_id]
        settled = sum(amount for _, kind, amount, _ in transfers if kind == EntryKind.SETTLE)
        released = sum(amount for _, kind, amount, _ in transfers if kind == EntryKind.RELEASE)
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE billing_billingaccount SET reserved = reserved - %s, spent = spent + %s,"
                " balance = balance + %s, updated_at = %s WHERE id = %s RETURNING balance, reserved, spent",
                [settled + released, settled, released, at, account_id],
            )
            balance, reserved, spent = cursor.fetchone()
        # Walk the books back to before this update, then forward leg by leg.
        books = {
            Book.AVAILABLE: balance - released,
            Book.RESERVED: reserved + settled + released,
            Book.SPENT: spent - settled,
        }
        for reference, kind, amount, quantity in transfers:
            source, target = _LEGS[kind]
            books[source] -= amount
            books[target] += amount
            entries += _legs(
                account_id=account_id,
                kind=kind,
                amount=amount,
                source_after=books[source],
                target_after=books[target],
                reference=reference,
                quantity=quantity,
                at=at,
            )
    rows_insert(table=LedgerEntry._meta.db_table, columns=ENTRY_COLUMNS, rows=entries)


# --- Money in and out: top-ups, adjustments, payments ------------------------------------


def _transfer(
    *,
    account_id: int,
    kind: EntryKind,
    amount: int,
    reference: str,
    note: str = "",
    user=None,
    at: datetime | None = None,
) -> None:
    """Move ``amount`` between the two books of ``kind``, in the caller's transaction.
    The statement bounds nothing: callers that must not overdraw say so in their own
    condition."""
    now = at or timezone.now()
    source, target = _LEGS[kind]
    src, dst = _COLUMN[source], _COLUMN[target]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE billing_billingaccount SET {src} = {src} - %s, {dst} = {dst} + %s, updated_at = %s"  # noqa: S608
            f" WHERE id = %s RETURNING {dst}, {src}",
            [amount, amount, now, account_id],
        )
        after_target, after_source = cursor.fetchone()
    rows_insert(
        table=LedgerEntry._meta.db_table,
        columns=ENTRY_COLUMNS,
        rows=_legs(
            account_id=account_id,
            kind=kind,
            amount=amount,
            source_after=after_source,
            target_after=after_target,
            reference=reference,
            note=note,
            user_id=getattr(user, "pk", None),
            at=now,
        ),
    )


def account_topup(
    *, account: BillingAccount, amount: int, note: str = "", user=None, via: str = "admin", reference: str = ""
) -> BillingAccount:
    """Credit the account with ``amount`` (> 0). ``reference`` makes a repeated top-up
    (a payment provider's id) a no-op: the same reference is credited once."""
    if amount <= 0:
        raise DomainError("A top-up is a positive amount.", field="amount")
    reference = f"topup:{reference or uuid.uuid4()}"
    try:
        with transaction.atomic():
            _transfer(
                account_id=account.pk, kind=EntryKind.TOPUP, amount=amount, reference=reference, note=note, user=user
            )
            _audit(
                account=account,
                field="topup",
                old="",
                new=money.amount_str(amount, unit=account.unit),
                reason=note,
                user=user,
                via=via,
            )
            _low_balance_rearm(account_id=account.pk)
    except IntegrityError:
        pass  # that reference was credited already
    account.refresh_from_db()
    return account


def account_adjust(*, account: BillingAccount, amount: int, note: str, user=None, via: str = "admin") -> BillingAccount:
    """A correction by a platform admin, either sign; ``note`` says why (required)."""
    if not amount:
        raise DomainError("An adjustment is a non-zero amount.", field="amount")
    if not note.strip():
        raise DomainError("Say why in the note.", field="note")
    with transaction.atomic():
        _transfer(
            account_id=account.pk,
            kind=EntryKind.ADJUSTMENT,
            amount=amount,
            reference=f"adjustment:{uuid.uuid4()}",
            note=note,
            user=user,
        )
        _audit(
            account=account,
            field="adjustment",
            old="",
            new=money.amount_str(amount, unit=account.unit),
            reason=note,
            user=user,
            via=via,
        )
        if amount > 0:
            _low_balance_rearm(account_id=account.pk)
        else:
            _low_balance_check(account_id=account.pk, tenant_id=account.tenant_id)
    account.refresh_from_db()
    return account


def account_pay(*, account: BillingAccount, amount: int, reference: str, note: str = "", user=None) -> None:
    """An invoice's payment: ``amount`` comes in once per ``reference`` ("invoice:<number>")."""
    with transaction.atomic():
        _transfer(
            account_id=account.pk, kind=EntryKind.PAYMENT, amount=amount, reference=reference, note=note, user=user
        )
        _audit(
            account=account,
            field="payment",
            old="",
            new=money.amount_str(amount, unit=account.unit),
            reason=note or reference,
            user=user,
            via="admin",
        )
        _low_balance_rearm(account_id=account.pk)


_UPDATABLE = ("type", "unit", "credit_limit", "low_balance_threshold")


def account_update(
    *, account: BillingAccount, reason: str = "", user=None, via: str = "admin", **changes
) -> BillingAccount:
    """Change the account's type, unit, credit limit or low-balance threshold, each
    change an audit entry. The unit may change only while no amount is on the account:
    amounts are never converted. An untouched trial credit (nothing else ever moved) is
    withdrawn with the change, so a new tenant can be set to its currency at once."""
    unknown = set(changes) - set(_UPDATABLE)
    if unknown:
        raise TypeError(f"not updatable: {sorted(unknown)}")
    with transaction.atomic():
        locked = BillingAccount.objects.select_for_update().get(pk=account.pk)
        if "type" in changes and changes["type"] not in AccountType.values:
            raise DomainError(f"Unknown account type {changes['type']!r}.", field="type")
        if "unit" in changes and changes["unit"] != locked.unit:
            if not money.unit_valid(changes["unit"]):
                raise DomainError(f"Unknown unit {changes['unit']!r}: credits or an ISO 4217 code.", field="unit")
            if locked.balance and not locked.reserved and not locked.spent and _only_trial(locked):
                _transfer(
                    account_id=locked.pk,
                    kind=EntryKind.ADJUSTMENT,
                    amount=-locked.balance,
                    reference=f"adjustment:{uuid.uuid4()}",
                    note=f"trial credit withdrawn: the unit becomes {changes['unit']}",
                    user=user,
                )
                locked.refresh_from_db()
            if locked.reserved or locked.spent or locked.balance:
                raise DomainError(
                    "The unit can only change while the account holds no amount: adjust its balance to zero first.",
                    field="unit",
                )
        for name, value in changes.items():
            old = getattr(locked, name)
            if old == value:
                continue
            setattr(locked, name, value)
            _audit(account=locked, field=name, old=_shown(old), new=_shown(value), reason=reason, user=user, via=via)
        locked.save()
        _units.pop(locked.tenant_id, None)
        if {"low_balance_threshold", "type", "credit_limit"} & set(changes):
            _low_balance_rearm(account_id=locked.pk)
            _low_balance_check(account_id=locked.pk, tenant_id=locked.tenant_id)
        locked.refresh_from_db()  # what the statements above set (the low-balance flag)
    return locked


def _only_trial(account: BillingAccount) -> bool:
    """Nothing but the trial credit ever moved on this account."""
    return not LedgerEntry.objects.filter(account=account).exclude(kind=EntryKind.TRIAL).exists()


def _shown(value) -> str:
    return "" if value is None else str(value)


def _audit(*, account: BillingAccount, field: str, old: str, new: str, reason: str, user, via: str) -> None:
    AccountChange.objects.create(
        account=account,
        field=field,
        old_value=old[:100],
        new_value=(new or "")[:100],
        reason=reason[:300],
        changed_by=user if getattr(user, "pk", None) else None,
        via=via,
    )


# --- Account type switches ---------------------------------------------------------------


def switch_request(*, account: BillingAccount, requested_type: str, reason: str = "", user=None) -> SwitchRequest:
    """A tenant's staff asks for prepaid <-> postpaid; one pending request at a time."""
    if requested_type not in AccountType.values or requested_type == account.type:
        raise DomainError("Ask for the other account type.", field="requested_type")
    try:
        with transaction.atomic():  # one pending per account: the constraint decides a race
            return SwitchRequest.objects.create(
                account=account, requested_type=requested_type, reason=reason[:300], requested_by=user
            )
    except IntegrityError:
        raise DomainError("A request is already waiting for a decision.", field="requested_type") from None


def switch_decide(*, request: SwitchRequest, approve: bool, user=None) -> SwitchRequest:
    """A platform admin approves (the type changes, audited) or refuses."""
    with transaction.atomic():
        updated = SwitchRequest.objects.filter(pk=request.pk, status=SwitchStatus.PENDING).update(
            status=SwitchStatus.APPROVED if approve else SwitchStatus.REFUSED,
            decided_by=user,
            decided_at=timezone.now(),
        )
        if updated and approve:
            account_update(
                account=request.account,
                type=request.requested_type,
                reason=f"request #{request.pk}: {request.reason}",
                user=user,
            )
    request.refresh_from_db()
    return request


# --- Low balance -------------------------------------------------------------------------


def _low_balance_check(*, account_id: int, tenant_id: int) -> None:
    """What the account may still spend fell below its threshold: alert once per crossing
    (the conditional UPDATE is the "once"). A postpaid account counts its credit limit in;
    one without a limit is never low."""
    now = timezone.now()
    # The flag and the alert's event commit together (the caller may be in autocommit).
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE billing_billingaccount SET low_balance_alerted_at = %s WHERE id = %s"  # noqa: S608
                f" AND low_balance_alerted_at IS NULL AND COALESCE({_LOW}, false)"
                " RETURNING balance, low_balance_threshold, unit",
                [now, account_id],
            )
            row = cursor.fetchone()
        if row is not None:
            low_balance_crossed(
                account_id=account_id, tenant_id=tenant_id, balance=row[0], threshold=row[1], unit=row[2], at=now
            )


def _low_balance_rearm(*, account_id: int) -> None:
    """Money came in (or the threshold or limits changed): an alerted account whose
    headroom is back at or above its threshold is armed again."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE billing_billingaccount SET low_balance_alerted_at = NULL WHERE id = %s"  # noqa: S608
            f" AND low_balance_alerted_at IS NOT NULL AND NOT COALESCE({_LOW}, false)",
            [account_id],
        )
        rearmed = cursor.rowcount
    if rearmed:
        low_balance_rearmed(account_id=account_id)


def charge_release_unused(*, tenant_id: int, amount: int, reference: str, quantity: int = 0) -> None:
    """Release part of a reservation that no recipient row will ever carry (a push's
    devices that were gone by its fan-out), in the caller's transaction, which makes it
    happen once."""
    account_id = BillingAccount.objects.filter(tenant_id=tenant_id).values_list("pk", flat=True).first()
    if account_id is None or amount <= 0:
        return
    _transfers_many({(account_id, reference, EntryKind.RELEASE): [amount, quantity]}, at=timezone.now())
