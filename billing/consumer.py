"""Status events -> settlements and releases: the "billing" consumer of the core's events.

A recipient's first final event decides what its reserved price becomes:

- ``sent`` or ``delivered`` (an SMSC's ``submit_sm_resp``, a provider's acceptance, FCM
  or APNs taking the push, or an app's receipt that beat the send's record): the network
  took it, the price is **settled**;
- ``failed`` before any of those (cancelled, blacklisted, window closed, no route, a
  permanent refusal, out of attempts): it never left the platform, the price is
  **released** back to the balance.

A ``failed`` that comes after ``sent`` (the operator's receipt says undelivered) changes
nothing: the network took the message, so it stays charged (Twilio's rule). Each
recipient is applied once (``billing.models.Charge``), so a redelivered event, a
duplicate ``sent``, or a batch handled again after a crash charges nothing twice; the
batch, its charges and the consumer's cursor commit together (``events_consume``).
"""

from __future__ import annotations

import uuid

from billing.models import BillingAccount
from billing.services import Outcome, charges_apply
from notifications.core.events import CONSUME_BATCH, events_drain
from notifications.core.models import StatusEvent
from notifications.core.status import DeliveryStatus
from notifications.selectors import deliveries_billing
from sms.numbers import country_or_blank
from sms.selectors import recipients_billing

CONSUMER = "billing"
CONSUME_MAX_BATCHES = 50  # batches one beat tick consumes
_SETTLES = {DeliveryStatus.SENT, DeliveryStatus.DELIVERED}
_ENDS = {*_SETTLES, DeliveryStatus.FAILED}


def billing_consume(*, max_batches: int = CONSUME_MAX_BATCHES, limit: int = CONSUME_BATCH) -> int:
    """Apply waiting events, up to ``max_batches`` batches; returns how many were handled."""
    return events_drain(consumer=CONSUMER, handle=_handle, max_batches=max_batches, limit=limit)[0]


def _handle(events: list[StatusEvent]) -> None:
    first: dict[tuple[str, int], bool] = {}
    for event in events:
        if event.channel in ("sms", "push") and event.status in _ENDS:
            first.setdefault((event.channel, event.recipient_id), event.status in _SETTLES)
    if not first:
        return
    sms = recipients_billing(ids=[pk for (channel, pk) in first if channel == "sms"])
    push = deliveries_billing(ids=[pk for (channel, pk) in first if channel == "push"])
    tenants = {row[0] for row in (*sms.values(), *push.values()) if row[2]}
    accounts = dict(BillingAccount.objects.filter(tenant_id__in=tenants).values_list("tenant_id", "pk"))
    outcomes = []
    for (channel, pk), settled in first.items():
        if channel == "sms":
            row = sms.get(pk)
            if row is None or not row[2] or row[0] not in accounts:
                continue
            tenant_id, send_id, price, parts, number, sender = row
            outcomes.append(
                Outcome(
                    channel,
                    pk,
                    accounts[tenant_id],
                    _uuid(send_id),
                    settled,
                    price,
                    parts,
                    country_or_blank(number),
                    sender,
                )
            )
        else:
            row = push.get(pk)
            if row is None or row[0] not in accounts:
                continue
            tenant_id, message_id, price, app, country = row
            outcomes.append(
                Outcome(channel, pk, accounts[tenant_id], _uuid(message_id), settled, price, 1, country, app)
            )
    charges_apply(outcomes=outcomes)


def _uuid(value) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
