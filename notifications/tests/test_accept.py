"""Accepting a to-user push is the API's hot path: one statement on PostgreSQL."""

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notifications.models import InboxEntry, Message
from notifications.push.accept import push_send_to_user

pytestmark = pytest.mark.django_db


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement form is PostgreSQL's")
def test_a_to_user_push_is_accepted_in_one_statement(owner, customer, monkeypatch):
    statements = []
    execute = psycopg.Cursor.execute

    def counting(self, query, params=None, **kwargs):
        statements.append(query)
        return execute(self, query, params, **kwargs)

    # Warm: the account's unit and the push price are kept in the process (billing.pricing).
    push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="warm", body="b", data={})
    monkeypatch.setattr(psycopg.Cursor, "execute", counting)
    with CaptureQueriesContext(connection) as django_queries:
        message = push_send_to_user(tenant=owner.tenant, puid=customer.puid, title="t", body="b", data={"n": 1})
    monkeypatch.undo()
    # Savepoints are the test's transaction, not the service's.
    work = [q for q in statements if not str(q).startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    assert len(work) == 1, work
    assert str(work[0]).startswith("WITH message AS (INSERT INTO notifications_message")
    assert [q["sql"] for q in django_queries.captured_queries if "SAVEPOINT" not in q["sql"]] == []
    assert Message.objects.filter(pk=message.pk, end_user=customer).exists()
    assert InboxEntry.objects.filter(message_id=message.pk, end_user=customer).count() == 1
    assert Message.objects.count() == 2
