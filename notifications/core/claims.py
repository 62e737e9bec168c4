"""Claiming work in every outbox table (push deliveries, SMS numbers, webhook deliveries).

A row is taken by one conditional UPDATE (status pending -> sending, with a fresh claim
id), so two workers given the same ids never both act on one; a worker that dies leaves
its rows 'sending' until their lease runs out, then the sweeper makes them pending again.
Timers are rows too: ``next_attempt_at`` says when a pending row is due, and beat's
sweepers dispatch what is due (no long Celery countdowns).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import connection, models, transaction
from django.db.models import F
from django.utils import timezone

from notifications.core.status import DeliveryStatus
from softafrik.bulk import prepared_fetchall


def claim_pending(model: type[models.Model], ids: list[int]) -> uuid.UUID | None:
    """Claim the rows of ``ids`` that are still pending; None when none were."""
    claim = uuid.uuid4()
    claimed = model.objects.filter(pk__in=ids, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.SENDING, claim=claim, claimed_at=timezone.now(), attempts=F("attempts") + 1
    )
    return claim if claimed else None


def claim_pending_rows(
    model: type[models.Model], ids: list[int], columns: list[str]
) -> tuple[uuid.UUID | None, list[tuple]]:
    """``claim_pending``, and the claimed rows' ``columns`` (the first must be "pk"; after
    the claim, ``attempts`` counts this one), in ``ids`` order. A column may be a field of
    a row the claimed one points to, as in Django's lookups (``"device__token"``: one
    foreign key deep), so a channel gets what it sends to with the claim itself.

    On PostgreSQL it is one prepared ``UPDATE … FROM … WHERE id = ANY(array) RETURNING``:
    Django spends longer preparing a 500-item ``IN`` list per statement than the database
    spends on the rows, and a second query for the related rows would cost as much again."""
    if connection.vendor != "postgresql":
        claim = claim_pending(model, ids)
        rows = list(model.objects.filter(pk__in=ids, claim=claim).values_list(*columns)) if claim else []
    else:
        claim = uuid.uuid4()
        table, pk = model._meta.db_table, model._meta.pk.column
        names, related, on = _returning(model, columns)
        # Identifiers come from the model, never from input; values are bound parameters.
        sql = (
            f"UPDATE {table} SET status = %s, claim = %s, claimed_at = %s, attempts = {table}.attempts + 1"  # noqa: S608
            f"{' FROM ' + related if related else ''}"
            f" WHERE {table}.{pk} = ANY(%s::bigint[]) AND {table}.status = %s{on} RETURNING {names}"
        )
        params = [DeliveryStatus.SENDING.value, claim, timezone.now(), ids, DeliveryStatus.PENDING.value]
        with connection.cursor() as cursor:
            rows = prepared_fetchall(cursor, sql, params)
    return (claim if rows else None), _in_order(rows, ids)


@contextmanager
def claimed_rows(
    model: type[models.Model], ids: list[int], columns: list[str], claim: uuid.UUID, *, lease: timedelta
) -> Iterator[tuple[uuid.UUID, list[tuple]]]:
    """The rows of ``ids`` written already claimed under ``claim`` (status 'sending': a
    broadcast page its fan-out task wrote for one send task), with the claim they are
    now under, as ``claim_pending_rows`` answers them, held by this caller alone until
    the block ends. Rows no longer under ``claim`` (recorded, or made pending again by
    the sweeper) are left out.

    Taking them writes nothing on PostgreSQL, where a claim would otherwise cost every
    row a second non-HOT update: a session advisory lock on the claim keeps a second
    copy of the same task (a broker redelivery) out while this one sends, and is
    released with the connection if the worker dies, so a redelivered task after a crash
    sends the rows again at once. Rows claimed longer ago than half the lease get their
    lease renewed first (one conditional UPDATE, serialized with the sweeper's by the row
    lock), so the sweeper cannot hand them to another worker during this send. Elsewhere
    the rows are claimed anew, from ``claim`` to a fresh one (one conditional UPDATE)."""
    if connection.vendor != "postgresql":
        mine = uuid.uuid4()
        taken = model.objects.filter(pk__in=ids, claim=claim, status=DeliveryStatus.SENDING).update(
            claim=mine, claimed_at=timezone.now()
        )
        rows = list(model.objects.filter(pk__in=ids, claim=mine).values_list(*columns)) if taken else []
        yield mine, _in_order(rows, ids)
        return
    key = int.from_bytes(claim.bytes[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        if not cursor.fetchone()[0]:  # another copy of this task holds the page
            yield claim, []
            return
        try:
            yield claim, _claimed_rows_taken(cursor, model, ids, columns, claim, lease=lease)
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def _claimed_rows_taken(cursor, model, ids, columns, claim, *, lease: timedelta) -> list[tuple]:
    table, pk = model._meta.db_table, model._meta.pk.column
    names, related, on = _returning(model, columns)
    under_claim = f"{table}.{pk} = ANY(%s::bigint[]) AND {table}.claim = %s AND {table}.status = %s{on}"
    now = timezone.now()
    # Identifiers come from the model, never from input; values are bound parameters.
    fresh = (
        f"SELECT {names} FROM {table}{', ' + related if related else ''}"  # noqa: S608
        f" WHERE {under_claim} AND {table}.claimed_at >= %s"
    )
    sending = DeliveryStatus.SENDING.value
    rows = prepared_fetchall(cursor, fresh, [ids, claim, sending, now - lease / 2])
    if len(rows) < len(ids):  # some may be older: renew their lease before sending them
        found = {row[0] for row in rows}
        renew = (
            f"UPDATE {table} SET claimed_at = %s{' FROM ' + related if related else ''}"  # noqa: S608
            f" WHERE {under_claim} AND {table}.claimed_at < %s RETURNING {names}"
        )
        missing = [pk for pk in ids if pk not in found]
        rows += prepared_fetchall(cursor, renew, [now, missing, claim, sending, now - lease / 2])
    return _in_order(rows, ids)


def _in_order(rows: list[tuple], ids: list[int]) -> list[tuple]:
    order = {pk: index for index, pk in enumerate(ids)}
    rows.sort(key=lambda row: order[row[0]])
    return rows


def _returning(model: type[models.Model], columns: list[str]) -> tuple[str, str, str]:
    """The select list of ``columns`` for a statement on ``model`` (an UPDATE's
    RETURNING), the related tables its ``a__b`` columns need as ``FROM`` items (each
    under the alias ``a``; "" when none) and their join conditions, each after " AND "."""
    table = model._meta.db_table
    names: list[str] = []
    joins: dict[str, str] = {}
    for name in columns:
        relation, _, field_name = name.rpartition("__")
        if not relation:
            column = model._meta.pk.column if name == "pk" else model._meta.get_field(name).column
            names.append(f"{table}.{column}")
            continue
        foreign_key = model._meta.get_field(relation)
        related = foreign_key.related_model._meta
        joins[f"{related.db_table} AS {relation}"] = f"{relation}.{related.pk.column} = {table}.{foreign_key.column}"
        names.append(f"{relation}.{related.get_field(field_name).column}")
    return ", ".join(names), ", ".join(joins), "".join(f" AND {condition}" for condition in joins.values())


def claim_param(model: type[models.Model], claim: uuid.UUID):
    """``claim`` as the database stores it, for raw SQL (uuid on PostgreSQL, hex on SQLite)."""
    return model._meta.get_field("claim").get_db_prep_value(claim, connection)


def due_chunks(
    model: type[models.Model], *, lease: timedelta, grace: timedelta, limit: int, chunk: int
) -> list[list[int]]:
    """Pending rows whose time has come, in chunks, pushed back by ``grace`` so the next
    sweep does not dispatch them again while their task waits in the queue. Rows claimed
    by a worker that died (lease expired) become pending again first."""
    now = timezone.now()
    model.objects.filter(status=DeliveryStatus.SENDING, claimed_at__lt=now - lease).update(
        status=DeliveryStatus.PENDING, claim=None, next_attempt_at=now, error="worker lost during send; resending"
    )
    with transaction.atomic():
        ids = list(
            model.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            model.objects.filter(pk__in=ids, status=DeliveryStatus.PENDING).update(next_attempt_at=now + grace)
    return [ids[i : i + chunk] for i in range(0, len(ids), chunk)]
