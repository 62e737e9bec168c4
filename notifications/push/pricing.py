"""Pricing and charging a push: the push side of ``billing``.

A push costs its tariff's price per delivery handed to FCM, APNs or a Web Push service
(free by default). The accepted send reserves the price of the devices it reaches at
that moment, in the accepting transaction, and remembers how many it paid for
(``Message.paid_deliveries``): the fan-out writes at most that many deliveries, and
releases the price of those it did not write (devices gone meanwhile). Each delivery is
then settled or released by the billing consumer from its status events.
"""

from __future__ import annotations

from billing.pricing import push_unit_price
from billing.services import account_unit, charge_release_unused, charge_reserve
from notifications.models import Message


def push_price(*, tenant_id: int) -> int:
    """The price of one delivery for this tenant, in its account's unit; 0: free."""
    return push_unit_price(tenant_id=tenant_id, unit=account_unit(tenant_id=tenant_id))


def push_charge(*, message: Message, unit_price: int, deliveries: int, reference: str | None = None) -> None:
    """Reserve ``deliveries`` x ``unit_price`` for ``message``, inside the accepting
    transaction (raises InsufficientBalance), and cap its fan-out at ``deliveries``.
    Sets the message's fields; the caller saves it (or already wrote them)."""
    message.unit_price = unit_price
    message.paid_deliveries = deliveries if unit_price else None
    if unit_price and deliveries:
        charge_reserve(
            tenant_id=message.tenant_id,
            unit=account_unit(tenant_id=message.tenant_id),
            amount=unit_price * deliveries,
            reference=reference or f"push:{message.pk}",
            quantity=deliveries,
        )


def push_release_unwritten(*, tenant_id: int, message_id, unit_price: int, unwritten: int) -> None:
    """The fan-out wrote ``unwritten`` fewer deliveries than were paid: release their
    price, in the fan-out's transaction (once: the message is dispatched with it)."""
    if unit_price and unwritten > 0:
        charge_release_unused(
            tenant_id=tenant_id,
            amount=unit_price * unwritten,
            reference=f"push:{message_id}",
            quantity=unwritten,
        )
