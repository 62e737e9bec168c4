"""Bulk writes in one statement: UPDATE from a list of rows, INSERT of a list of rows.

Django's ``bulk_update`` builds a CASE WHEN per row and per column, orders of magnitude
slower on large sets, and ``bulk_create`` builds a placeholder per value. On PostgreSQL
these helpers send one array per column (``unnest``): the statement text stays small and
constant, so psycopg neither parses nor quotes thousands of placeholders (a fifth of an
SMS worker's CPU before), and the server binds the arrays. SQLite (3.33+) gets the
same statements with ``VALUES`` lists.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import psycopg
from django.db import connection

# Rows per statement on SQLite, which takes at most 32766 bind parameters (3.32+).
SQLITE_MAX_PARAMS = 30000
# Rows per statement on PostgreSQL: bounds one statement's memory, not a protocol limit.
PG_MAX_ROWS = 20000


def _server_cursor(cursor) -> psycopg.Cursor:
    """A server-side binding cursor on the connection under Django's ``cursor``: values
    travel apart from the SQL, which psycopg then caches as is."""
    return psycopg.Cursor(cursor.connection)


def _batches(rows: Sequence[Sequence], width: int):
    size = PG_MAX_ROWS if connection.vendor == "postgresql" else max(1, SQLITE_MAX_PARAMS // max(1, width))
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _sqlite_value(value):
    """What Django itself would store in SQLite for this value."""
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, uuid.UUID):
        return value.hex
    return value


def _unnest(columns: Sequence[tuple[str, str]], batch: Sequence[Sequence]) -> tuple[str, list[list]]:
    """``unnest(%s::type[], ...)`` and its per-column arrays."""
    sql = "unnest(" + ", ".join(f"%s::{pg_type}[]" for _, pg_type in columns) + ")"
    arrays = [list(values) for values in zip(*batch, strict=True)]
    return sql, arrays


def values_update(
    *,
    table: str,
    key: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence],
    extra_set: str = "",
    set_params: Sequence = (),
    extra_where: str = "",
    where_params: Sequence = (),
) -> int:
    """Set ``columns`` of ``table`` from ``rows`` matched on ``key``.

    ``columns`` is [(name, postgres_type)], with the key column first; each row gives
    values in that order. ``extra_set`` ("updated_at = %s") and ``extra_where`` (a
    condition on the target table, alias ``t``) take ``set_params`` and
    ``where_params``. Returns the number of rows updated.
    """
    if not rows:
        return 0
    names = [name for name, _ in columns]
    assignments = ", ".join(f"{name} = v.{name}" for name in names if name != key)
    if extra_set:
        assignments += ", " + extra_set
    where = f"t.{key} = v.{key}" + (f" AND {extra_where}" if extra_where else "")
    aliases = ", ".join(f"column{i + 1} AS {name}" for i, name in enumerate(names))
    # Identifiers come from code, never from input; every value is a bound parameter.
    pg_sql = f"UPDATE {table} AS t SET {assignments} FROM {{source}} AS v({', '.join(names)}) WHERE {where}"  # noqa: S608
    sqlite_sql = f"UPDATE {table} AS t SET {assignments} FROM (SELECT {aliases} FROM ({{values}})) AS v WHERE {where}"  # noqa: S608
    total = 0
    with connection.cursor() as cursor:
        for batch in _batches(rows, len(columns)):
            count, _ = _execute_batch(
                cursor, columns, batch, pg_sql=pg_sql, sqlite_sql=sqlite_sql, before=set_params, after=where_params
            )
            total += count
    return total


def rows_insert(
    *,
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence],
    ignore_conflicts: bool = False,
    returning: str = "",
) -> list:
    """Insert ``rows`` (values in ``columns`` order; ``columns`` is [(name, postgres_type)])
    into ``table``. ``ignore_conflicts`` skips rows that break a unique constraint.
    ``returning`` ("id") gives that column of each inserted row, in the order of ``rows``
    (as Django's bulk_create relies on). Every column must be given: no model defaults."""
    if not rows:
        return []
    names = ", ".join(name for name, _ in columns)
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    tail = f" RETURNING {returning}" if returning else ""
    pg_sql = f"INSERT INTO {table} ({names}) SELECT * FROM {{source}}{conflict}{tail}"  # noqa: S608
    verb = "INSERT OR IGNORE" if ignore_conflicts else "INSERT"
    sqlite_sql = f"{verb} INTO {table} ({names}) {{values}}{tail}"
    returned: list = []
    with connection.cursor() as cursor:
        for batch in _batches(rows, len(columns)):
            _, fetched = _execute_batch(
                cursor, columns, batch, pg_sql=pg_sql, sqlite_sql=sqlite_sql, fetch=bool(returning)
            )
            returned += [row[0] for row in fetched]
    return returned


def _execute_batch(
    cursor, columns, batch, *, pg_sql: str, sqlite_sql: str, before: Sequence = (), after: Sequence = (), fetch=False
) -> tuple[int, list]:
    """Run one batch of rows: on PostgreSQL ``pg_sql`` with ``{source}`` = unnest of one
    array per column, through a server-side binding cursor; elsewhere ``sqlite_sql`` with
    ``{values}`` = a VALUES list. Returns (rows affected, rows fetched if ``fetch``)."""
    if connection.vendor == "postgresql":
        source, arrays = _unnest(columns, batch)
        with _server_cursor(cursor) as server:
            server.execute(pg_sql.format(source=source), [*before, *arrays, *after])
            return server.rowcount, server.fetchall() if fetch else []
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
    values = "VALUES " + ", ".join([row_sql] * len(batch))
    params = [_sqlite_value(value) for row in batch for value in row]
    cursor.execute(sqlite_sql.format(values=values), [*before, *params, *after])
    return cursor.rowcount, cursor.fetchall() if fetch else []


def prepared_fetchall(cursor, sql: str, params: Sequence) -> list:
    """``prepared_fetchone``, for every row."""
    with _server_cursor(cursor) as server:
        server.execute(sql, params, prepare=True)
        return server.fetchall()


def prepared_fetchone(cursor, sql: str, params: Sequence):
    """Run ``sql`` as a server-side prepared statement on PostgreSQL and return its first row.

    Django's psycopg cursors bind parameters client-side, so the server parses and plans
    every statement anew. psycopg prepares a statement per connection and reuses it. The
    statement must be plain ``%s`` SQL that runs unchanged with server-side binding.
    """
    with _server_cursor(cursor) as server:
        server.execute(sql, params, prepare=True)
        return server.fetchone()


def pg_unnest_execute(
    *, sql: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence], before=(), after=(), fetch=False
) -> list:
    """PostgreSQL only: run ``sql``, where ``{source}`` stands for the unnest of ``rows``
    (one array per column of ``columns``), in batches; with ``fetch``, return every row
    it fetched. ``before`` and ``after`` are the statement's other parameters around the
    arrays."""
    fetched: list = []
    with connection.cursor() as cursor:
        for batch in _batches(rows, len(columns)):
            _, got = _execute_batch(
                cursor, columns, batch, pg_sql=sql, sqlite_sql="", before=before, after=after, fetch=fetch
            )
            fetched += got
    return fetched


def rows_copy(*, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence]) -> None:
    """Insert ``rows`` like ``rows_insert`` (no conflicts, nothing returned), fastest: on
    PostgreSQL with ``COPY … FROM STDIN``, whose rows psycopg formats in C (an array per
    column still goes through Python per element). Elsewhere it is ``rows_insert``."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        rows_insert(table=table, columns=columns, rows=rows)
        return
    names = ", ".join(name for name, _ in columns)
    statement = f"COPY {table} ({names}) FROM STDIN"  # identifiers come from code, never input
    with connection.cursor() as cursor, cursor.connection.cursor() as raw, raw.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def rows_upsert(
    *, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence], keys: Sequence[str], add: Sequence[str]
) -> None:
    """Insert ``rows`` (like ``rows_insert``); a row whose ``keys`` match an existing one
    (a unique constraint on exactly those columns) adds its ``add`` columns to that row's
    instead: ``INSERT … ON CONFLICT (keys) DO UPDATE SET c = c + EXCLUDED.c``, on
    PostgreSQL and SQLite (3.24+) alike. ``rows`` must not repeat a key (PostgreSQL
    refuses to update one row twice in a statement): sum them first."""
    if not rows:
        return
    names = ", ".join(name for name, _ in columns)
    sums = ", ".join(f"{name} = {table}.{name} + EXCLUDED.{name}" for name in add)
    upsert = f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sums}"
    # Identifiers come from code, never from input; every value is a bound parameter.
    pg_sql = f"INSERT INTO {table} ({names}) SELECT * FROM {{source}}{upsert}"  # noqa: S608
    sqlite_sql = f"INSERT INTO {table} ({names}) {{values}}{upsert}"
    with connection.cursor() as cursor:
        for batch in _batches(rows, len(columns)):
            _execute_batch(cursor, columns, batch, pg_sql=pg_sql, sqlite_sql=sqlite_sql)
