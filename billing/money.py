"""Amounts: integers of an account unit's minor unit, never floats.

An account counts in credits (hundredths of a credit are its minor unit, so a push can be
priced 0.05 credit) or in an ISO 4217 currency at that currency's own exponent (XOF has
none, EUR and SAR two, BHD three). Amounts travel in the API as decimal strings with the
unit's exact number of decimals ("1000.00", "250"), read back with ``amount_parse``.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

CREDITS = "credits"
# ISO 4217 exponents that differ from 2, for the currencies an operator is likely to sell in.
_EXPONENTS = {
    CREDITS: 2,
    "XOF": 0,
    "XAF": 0,
    "GNF": 0,
    "RWF": 0,
    "UGX": 0,
    "KMF": 0,
    "DJF": 0,
    "BIF": 0,
    "JPY": 0,
    "KRW": 0,
    "BHD": 3,
    "KWD": 3,
    "OMR": 3,
    "TND": 3,
    "LYD": 3,
    "JOD": 3,
    "IQD": 3,
}
_CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_AMOUNT = 10**15  # minor units: far beyond any account, far below a 64-bit column


class InvalidAmount(ValueError):
    pass


def unit_valid(unit: str) -> bool:
    return unit == CREDITS or bool(_CURRENCY.match(unit))


def exponent(unit: str) -> int:
    return _EXPONENTS.get(unit, 2)


def amount_parse(text, *, unit: str, allow_negative: bool = False) -> int:
    """ "12.50" in EUR -> 1250. Raises InvalidAmount for a non-number, more decimals than
    the unit has, a negative amount (unless allowed) or an absurd one."""
    try:
        value = Decimal(str(text).strip())
    except (InvalidOperation, ValueError) as exc:
        raise InvalidAmount(f"{text!r} is not an amount") from exc
    if not value.is_finite():
        raise InvalidAmount(f"{text!r} is not an amount")
    scaled = value.scaleb(exponent(unit))
    if scaled != scaled.to_integral_value():
        raise InvalidAmount(f"{text} has more than {exponent(unit)} decimals for {unit}")
    minor = int(scaled)
    if minor < 0 and not allow_negative:
        raise InvalidAmount(f"{text} is negative")
    if abs(minor) > MAX_AMOUNT:
        raise InvalidAmount(f"{text} is too large")
    return minor


def amount_str(minor: int | None, *, unit: str) -> str | None:
    """1250 in EUR -> "12.50"; None stays None."""
    if minor is None:
        return None
    places = exponent(unit)
    if not places:
        return str(minor)
    return f"{Decimal(minor).scaleb(-places):.{places}f}"


def amount_number(minor: int, *, unit: str) -> float:
    """For the vendor fields that are JSON numbers (Primotexto's ``creditsUsed``)."""
    return float(Decimal(minor).scaleb(-exponent(unit)))
