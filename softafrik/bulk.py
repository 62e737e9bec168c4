"""One-statement bulk UPDATE from a list of rows: ``UPDATE t SET ... FROM (VALUES ...)``.

Django's ``bulk_update`` builds a CASE WHEN per row and per column, orders of
magnitude slower on large sets; this writes N rows with one statement and one
round trip, on PostgreSQL and on SQLite (3.33+).
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from django.db import connection

# Rows per statement: PostgreSQL takes 65535 bind parameters, SQLite 32766 (3.32+).
MAX_ROWS_PER_STATEMENT = 2000


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
    total = 0
    with connection.cursor() as cursor:
        for start in range(0, len(rows), MAX_ROWS_PER_STATEMENT):
            batch = rows[start : start + MAX_ROWS_PER_STATEMENT]
            if connection.vendor == "postgresql":
                row_sql = "(" + ", ".join(f"%s::{pg_type}" for _, pg_type in columns) + ")"
                source = f"(VALUES {', '.join([row_sql] * len(batch))}) AS v({', '.join(names)})"
            else:
                row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
                aliases = ", ".join(f"column{i + 1} AS {name}" for i, name in enumerate(names))
                source = f"(SELECT {aliases} FROM (VALUES {', '.join([row_sql] * len(batch))})) AS v"  # noqa: S608
            params = [value for row in batch for value in row]
            # Identifiers come from code, never from input; every value is a bound parameter.
            sql = f"UPDATE {table} AS t SET {assignments} FROM {source} WHERE {where}"  # noqa: S608
            cursor.execute(sql, [*set_params, *params, *where_params])
            total += cursor.rowcount
    return total


def prepared_fetchone(cursor, sql: str, params: Sequence):
    """Run ``sql`` as a server-side prepared statement on PostgreSQL and return its first row.

    Django's psycopg cursors bind parameters client-side, so the server parses and plans
    every statement anew; for the hottest statements (accepting a push) that is most of
    the database's CPU. psycopg prepares a statement per connection and reuses it. The
    statement must be plain ``%s`` SQL that runs unchanged with server-side binding.
    """
    with psycopg.Cursor(cursor.connection) as server_cursor:
        server_cursor.execute(sql, params, prepare=True)
        return server_cursor.fetchone()
