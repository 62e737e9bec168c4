"""Accepting a push: fast, in the request. The API writes a Message (and, to a user, the
inbox entry) and wakes the fan-out on commit (``notifications.push.kick``)."""

from __future__ import annotations

import json
import uuid

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Tenant
from billing.services import account_unit, reserve_ctes, reserve_many_ctes, reserve_params, reserved_after
from devices.models import App, Device
from notifications.models import Message, MessageKind, MessageState
from notifications.push.fanout import audience_of
from notifications.push.kick import fan_out_kick
from notifications.push.pricing import push_charge, push_price
from softafrik.bulk import prepared_fetchall, prepared_fetchone
from softafrik.combining import Combiner, Combiners
from softafrik.errors import NotFound


def _enqueue_fan_out(message: Message) -> None:
    """Wake a fan-out worker once this transaction commits (debounced, see notifications.push.kick)."""
    transaction.on_commit(fan_out_kick)


# Accepting a to-user push, in SQL: {json} is the vendor's JSON parameter, {source} the
# row holding end_user_id (the message CTE on PostgreSQL, a literal elsewhere).
_INSERT_TO_USER_MESSAGE = (
    "INSERT INTO notifications_message (id, tenant_id, kind, end_user_id, filters, title, body, data, options,"
    " platform, state, fanout_cursor, total_deliveries, unit_price, paid_deliveries, created_at)"
    " SELECT %s, tenant_id, %s, id, '{{}}', %s, %s, {json}, '{{}}', '', %s, 0, 0, %s, %s, %s"
    " FROM devices_enduser WHERE tenant_id = %s AND puid = %s RETURNING end_user_id"
)
_INSERT_INBOX_ENTRY = (
    "INSERT INTO notifications_inboxentry (tenant_id, end_user_id, message_id, title, body, data, is_read,"
    " created_at) SELECT %s, end_user_id, %s, %s, %s, {json}, %s, %s FROM {source} RETURNING end_user_id"
)
_TO_USER_SQL = {
    "postgresql": "WITH message AS ({}) {}".format(
        _INSERT_TO_USER_MESSAGE.format(json="%s::jsonb"),
        _INSERT_INBOX_ENTRY.format(json="%s::jsonb", source="message"),
    ),
    "other": (
        _INSERT_TO_USER_MESSAGE.format(json="%s"),
        _INSERT_INBOX_ENTRY.format(json="%s", source="(SELECT %s AS end_user_id)"),
    ),
}


def push_send_to_user(*, tenant: Tenant, puid: str, title: str, body: str, data: dict) -> Message:
    """Accept a push to every active device of the user ``puid``, and keep it in the inbox.

    The hot path of the API: the user lookup, the message and its inbox entry are one
    statement on PostgreSQL (a data-modifying CTE: one round trip, atomic on its own, a
    prepared statement) and one transaction of two statements elsewhere. A priced push
    (``notifications.push.pricing``) first reserves the price of the user's devices in
    the same transaction: InsufficientBalance, and nothing is written. Unknown (or
    another tenant's) puid: NotFound, and nothing is written.
    """
    message = Message(tenant=tenant, kind=MessageKind.TO_USER, title=title, body=body, data=data)
    message.created_at = timezone.now()
    unit_price = push_price(tenant_id=tenant.pk)
    if unit_price:
        if connection.vendor == "postgresql":
            accepted = _to_user_priced_pg(message=message, tenant=tenant, puid=puid, unit_price=unit_price)
            if accepted is not None:
                return accepted
        # Not paid in that one statement (or not PostgreSQL): this transaction creates a
        # missing account and pays, or raises InsufficientBalance and writes nothing.
        with transaction.atomic():
            push_charge(message=message, unit_price=unit_price, deliveries=_user_devices(tenant=tenant, puid=puid))
            return _to_user_insert(message=message, tenant=tenant, puid=puid, title=title, body=body, data=data)
    return _to_user_insert(message=message, tenant=tenant, puid=puid, title=title, body=body, data=data)


# A priced to-user push on PostgreSQL, one prepared statement: the user and its active
# devices, their price reserved (billing's conditional UPDATE and its ledger legs), the
# message (only if paid, or nothing to pay) and its inbox entry. The account row is locked
# for this statement and its commit only, never across a client round trip.
_TO_USER_PRICED_PG = (
    "WITH u AS (SELECT u.id AS end_user_id, (SELECT count(*) FROM devices_device d WHERE d.end_user_id = u.id"  # noqa: S608
    " AND d.tenant_id = %(tenant)s AND d.is_active) AS n FROM devices_enduser u"
    " WHERE u.tenant_id = %(tenant)s AND u.puid = %(puid)s), "
    + reserve_ctes(amount="%(price)s * u.n", quantity="u.n", source="u", where="u.n > 0")
    + ", message AS (INSERT INTO notifications_message (id, tenant_id, kind, end_user_id, filters, title, body,"
    " data, options, platform, state, fanout_cursor, total_deliveries, unit_price, paid_deliveries, created_at)"
    " SELECT %(id)s, %(tenant)s, %(kind)s, u.end_user_id, '{}', %(title)s, %(body)s, %(data)s::jsonb, '{}', '',"
    " %(state)s, 0, 0, %(price)s, u.n, %(now)s FROM u WHERE u.n = 0 OR EXISTS (SELECT FROM acct)"
    " RETURNING end_user_id),"
    " inbox AS (INSERT INTO notifications_inboxentry (tenant_id, end_user_id, message_id, title, body, data,"
    " is_read, created_at) SELECT %(tenant)s, end_user_id, %(id)s, %(title)s, %(body)s, %(data)s::jsonb, false,"
    " %(now)s FROM message)"
    " SELECT u.end_user_id, u.n, acct.* FROM u LEFT JOIN acct ON true"
)


# Concurrent priced to-user pushes of one account, from one process's request threads, as
# one statement (softafrik.combining): one UPDATE of the account row and one commit for
# all of them instead of a queue of transactions taking turns on that row, each holding
# it through its commit. Every send keeps its own ledger legs, message and inbox entry;
# if the account cannot pay them all, each is retried alone and judged on its own.
ACCEPT_BATCH = 32  # sends per statement: a process has a few request threads, this only bounds the JSON
_TO_USER_PRICED_BATCH_PG = (
    "WITH r AS (SELECT * FROM jsonb_to_recordset(%(sends)s::jsonb) AS r(i integer, id uuid, puid text,"  # noqa: S608
    " title text, body text, data jsonb, transfer uuid, created_at timestamptz)),"
    " u AS (SELECT r.*, u.id AS end_user_id, (SELECT count(*) FROM devices_device d WHERE d.end_user_id = u.id"
    " AND d.tenant_id = %(tenant)s AND d.is_active) AS n FROM r JOIN devices_enduser u"
    " ON u.tenant_id = %(tenant)s AND u.puid = r.puid),"
    " s AS (SELECT i, transfer, %(price)s * n AS amount, n AS quantity, 'push:' || id AS reference FROM u), "
    + reserve_many_ctes(source="s")
    + ", message AS (INSERT INTO notifications_message (id, tenant_id, kind, end_user_id, filters, title, body,"
    " data, options, platform, state, fanout_cursor, total_deliveries, unit_price, paid_deliveries, created_at)"
    " SELECT u.id, %(tenant)s, %(kind)s, u.end_user_id, '{}', u.title, u.body, u.data, '{}', '', %(state)s, 0, 0,"
    " %(price)s, u.n, u.created_at FROM u WHERE (SELECT amount FROM total) = 0 OR EXISTS (SELECT FROM acct)"
    " RETURNING id, end_user_id),"
    " inbox AS (INSERT INTO notifications_inboxentry (tenant_id, end_user_id, message_id, title, body, data,"
    " is_read, created_at) SELECT %(tenant)s, m.end_user_id, m.id, u.title, u.body, u.data, false, u.created_at"
    " FROM message m JOIN u ON u.id = m.id)"
    " SELECT u.i, u.end_user_id, u.n, acct.* FROM u LEFT JOIN acct ON true"
)
_UNPAID = object()  # a combined statement could not pay for all of its sends


class _PricedSend:
    __slots__ = ("message", "price", "puid", "tenant_id", "unit")

    def __init__(self, *, message: Message, puid: str, price: int, unit: str) -> None:
        self.message, self.puid, self.price, self.unit = message, puid, price, unit
        self.tenant_id = message.tenant_id


def _priced_one(send: _PricedSend):
    """One send in one statement: (end_user_id, devices, account row as _ACCOUNT_AFTER),
    or None for an unknown puid; account row all None when not paid."""
    message = send.message
    params = {
        **reserve_params(
            tenant_id=send.tenant_id, unit=send.unit, reference=f"push:{message.pk}", now=message.created_at
        ),
        "puid": send.puid,
        "price": send.price,
        "id": message.pk,
        "kind": MessageKind.TO_USER.value,
        "state": MessageState.QUEUED.value,
        "title": message.title,
        "body": message.body,
        "data": json.dumps(message.data, ensure_ascii=False),
    }
    with connection.cursor() as cursor:
        return prepared_fetchone(cursor, _TO_USER_PRICED_PG, params)


def _priced_batch(sends: list[_PricedSend]) -> list:
    """``_priced_one`` for every send, in one statement when there are several; a send
    the account could not pay within the batch answers _UNPAID."""
    if len(sends) == 1:
        return [_priced_one(sends[0])]
    first = sends[0]
    rows = [
        {
            "i": index,
            "id": str(send.message.pk),
            "puid": send.puid,
            "title": send.message.title,
            "body": send.message.body,
            "data": send.message.data,
            "transfer": str(uuid.uuid4()),
            "created_at": send.message.created_at.isoformat(),
        }
        for index, send in enumerate(sends)
    ]
    params = {
        "sends": json.dumps(rows, ensure_ascii=False),
        "tenant": first.tenant_id,
        "unit": first.unit,
        "price": first.price,
        "now": timezone.now(),
        "kind": MessageKind.TO_USER.value,
        "state": MessageState.QUEUED.value,
    }
    with connection.cursor() as cursor:
        found = {row[0]: row[1:] for row in prepared_fetchall(cursor, _TO_USER_PRICED_BATCH_PG, params)}
    if any(row[1] and row[2] is None for row in found.values()):
        return [_UNPAID] * len(sends)  # the batch was not paid: nothing of it was written
    return [found.get(index) for index in range(len(sends))]


# The batch function is looked up at each call (late binding), so every account's
# combiner runs the module's current _priced_batch.
_combiners: Combiners[_PricedSend, object] = Combiners(
    lambda key: Combiner(lambda sends: _priced_batch(sends), max_batch=ACCEPT_BATCH)
)


def _to_user_priced_pg(*, message: Message, tenant: Tenant, puid: str, unit_price: int) -> Message | None:
    """The priced to-user push in one statement, combined with the same account's
    concurrent ones when the caller is not inside a transaction. Unknown puid:
    NotFound. Not paid (no account row yet, not enough balance, the unit changed): None,
    nothing written."""
    send = _PricedSend(message=message, puid=puid, price=unit_price, unit=account_unit(tenant_id=tenant.pk))
    if connection.in_atomic_block:  # its statement belongs to the caller's transaction
        row = _priced_one(send)
    else:
        row = _combiners((tenant.pk, send.unit, unit_price)).submit(send)
        if row is _UNPAID:
            row = _priced_one(send)
    if row is None:
        raise NotFound(f"Unknown puid {puid!r}.", field="puid")
    end_user_id, devices, account = row[0], row[1], row[2:]
    if devices and account[0] is None:
        return None
    message.end_user_id = end_user_id
    message.unit_price, message.paid_deliveries = unit_price, devices
    if devices:
        reserved_after(row=account, tenant_id=tenant.pk)
    _enqueue_fan_out(message)
    message._state.adding = False
    return message


_USER_DEVICES = (
    "SELECT count(*) FROM devices_device d JOIN devices_enduser u ON u.id = d.end_user_id"
    " WHERE u.tenant_id = %s AND u.puid = %s AND d.tenant_id = %s AND d.is_active"
)


def _user_devices(*, tenant: Tenant, puid: str) -> int:
    """The user's active devices, which a priced push pays for (0: unknown user)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            return prepared_fetchone(cursor, _USER_DEVICES, [tenant.pk, puid, tenant.pk])[0]
        cursor.execute(_USER_DEVICES, [tenant.pk, puid, tenant.pk])
        return cursor.fetchone()[0]


def _to_user_insert(*, message: Message, tenant: Tenant, puid: str, title: str, body: str, data: dict) -> Message:
    pk = Message._meta.pk.get_db_prep_value(message.pk, connection)
    created = connection.ops.adapt_datetimefield_value(message.created_at)
    content = [title, body, json.dumps(data, ensure_ascii=False)]
    billing = [message.unit_price, message.paid_deliveries]
    message_params = [
        pk,
        MessageKind.TO_USER.value,
        *content,
        MessageState.QUEUED.value,
        *billing,
        created,
        tenant.pk,
        puid,
    ]
    inbox_params = [tenant.pk, pk, *content, False, created]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            row = prepared_fetchone(cursor, _TO_USER_SQL["postgresql"], [*message_params, *inbox_params])
        else:
            insert_message, insert_inbox = _TO_USER_SQL["other"]
            with transaction.atomic():
                cursor.execute(insert_message, message_params)
                row = cursor.fetchone()
                if row is not None:
                    cursor.execute(insert_inbox, [*inbox_params, row[0]])
                    cursor.fetchall()  # finish the statement before the savepoint is released
    if row is None:
        raise NotFound(f"Unknown puid {puid!r}.", field="puid")
    message.end_user_id = row[0]
    _enqueue_fan_out(message)
    message._state.adding = False
    return message


def push_send_to_device(*, tenant: Tenant, device: Device, title: str, body: str, data: dict) -> Message:
    """Accept a push to one device (priced: its delivery reserved first)."""
    message = Message(
        tenant=tenant,
        kind=MessageKind.TO_DEVICE,
        device=device,
        app_id=device.app_id,
        end_user_id=device.end_user_id,
        title=title,
        body=body,
        data=data,
    )
    with transaction.atomic():
        push_charge(message=message, unit_price=push_price(tenant_id=tenant.pk), deliveries=int(device.is_active))
        message.save(force_insert=True)
        _enqueue_fan_out(message)
    return message


def push_broadcast(
    *, tenant: Tenant, app: App, country: str = "", platform: str = "", title: str, body: str, data: dict
) -> Message:
    """Accept a push to every active device of ``app`` (optionally one country/platform)."""
    filters = {key: value for key, value in (("country", country.upper()), ("platform", platform)) if value}
    message = Message(
        tenant=tenant, kind=MessageKind.BROADCAST, app=app, filters=filters, title=title, body=body, data=data
    )
    unit_price = push_price(tenant_id=tenant.pk)
    with transaction.atomic():
        # Priced: the audience is counted now, and the fan-out writes no more than that.
        devices = audience_of(message).count() if unit_price else 0
        push_charge(message=message, unit_price=unit_price, deliveries=devices)
        message.save(force_insert=True)
        _enqueue_fan_out(message)
    return message
