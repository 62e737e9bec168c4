"""Pricing and charging an SMS send: the SMS side of ``billing``.

A number's price is its parts times the part price of its destination (the tariff's
longest matching prefix, ``billing.pricing``); the whole send is reserved in the
transaction that accepts it (``sms_charge``), and each number's price is kept on its row,
so the billing consumer settles it when the SMSC takes it or releases it when it never
leaves. A spread campaign reserves batch by batch (``sms.campaigns``).
"""

from __future__ import annotations

from accounts.models import Tenant
from billing.money import amount_number
from billing.pricing import SmsPricer
from billing.services import account_unit, charge_reserve
from sms.models import SmsMessage


def sms_prices(*, tenant: Tenant, numbers: list[str], parts: int) -> dict[str, int]:
    """{E.164 number: its price for ``parts`` parts} in the tenant's account unit."""
    pricer = SmsPricer(tenant_id=tenant.pk, unit=account_unit(tenant_id=tenant.pk))
    return {number: pricer.part_price(number) * parts for number in numbers}


def sms_charge(*, message: SmsMessage, prices: dict[str, int], parts: int, numbers: int) -> None:
    """Reserve the send's price inside the accepting transaction (raises
    InsufficientBalance: the caller's transaction then writes nothing)."""
    message.credits = parts * numbers
    message.amount = sum(prices.values())
    charge_reserve(
        tenant_id=message.tenant_id,
        unit=account_unit(tenant_id=message.tenant_id),
        amount=message.amount,
        reference=f"sms:{message.pk}",
        quantity=message.credits,
    )


def sms_amount_number(message: SmsMessage) -> float:
    """What the send was charged, as a JSON number in the account's unit (Primotexto's
    ``creditsUsed``)."""
    return amount_number(message.amount, unit=account_unit(tenant_id=message.tenant_id))
