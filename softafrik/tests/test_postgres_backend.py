"""softafrik.postgres: a connection that just finished a request cleanly skips the
health check; an older one is checked and replaced when the server dropped it."""

import psycopg
import pytest
from django.conf import settings
from django.db import OperationalError, connection

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL backend; CI runs it on PostgreSQL"),
]


def _server_drops_this_connection() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], password=db["PASSWORD"], dbname=db["NAME"]
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def _finish_request() -> None:
    connection.close_if_unusable_or_obsolete()  # what request_finished does


def _query() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()[0]


def test_a_stale_connection_is_checked_and_replaced(settings):
    settings.DB_HEALTH_CHECK_TRUST_SECONDS = 0
    _query()
    _finish_request()
    _server_drops_this_connection()
    _finish_request()  # the request that ran the terminate ends cleanly too

    connection.close_if_health_check_failed()  # the next request's first query
    assert _query() == 1  # a new connection: the dead one was found and closed


def test_a_connection_used_a_moment_ago_is_trusted_without_a_check(settings):
    settings.DB_HEALTH_CHECK_TRUST_SECONDS = 60
    _query()
    _finish_request()
    _server_drops_this_connection()
    _finish_request()

    # No SELECT 1 ran first, or it would have found the dead connection: this is the
    # cost of trust, one failed query (answered 503 by the API) within the window...
    connection.close_if_health_check_failed()
    with pytest.raises(OperationalError):
        _query()
    # ...after which the connection is replaced.
    _finish_request()
    assert _query() == 1


def test_the_statements_softafrik_prepares_are_prepared_on_the_server():
    from softafrik.bulk import prepared_fetchone

    with connection.cursor() as cursor:
        for value in (1, 2):
            assert prepared_fetchone(cursor, "SELECT %s::int + 41", [value]) == (value + 41,)
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        prepared = dict(cursor.fetchall())
    # Parsed once, executed twice: not parsed and planned again on every call.
    assert prepared.get("SELECT $1::int + 41") == 2


def test_django_s_own_queries_stay_unprepared():
    with connection.cursor() as cursor:
        for _ in range(8):  # past psycopg's prepare_threshold
            cursor.execute("SELECT %s::int + 7", [1])
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%+ 7%"])
        assert cursor.fetchone() == (0,)
