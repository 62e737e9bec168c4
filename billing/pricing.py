"""The one place a send is priced: tariffs, longest matching prefix, defaults.

Prices are read from ``Tariff`` rows (a tenant's own first, then the platform's) and kept
in this process for ``BILLING_CACHE_SECONDS``, so pricing a send costs no query on the
hot path; a change made elsewhere reaches every process within that time. Without any
tariff, an account in credits pays ``BILLING_DEFAULT_SMS_CREDITS`` per SMS part and
``BILLING_DEFAULT_PUSH_CREDITS`` per push; an account in a currency pays nothing until
the operator defines its prices (the admin warns about it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings

from billing import money
from billing.models import Tariff, TariffChannel

_cache: dict[tuple[int, str, str], tuple[float, tuple, tuple]] = {}


def tariffs_cache_clear() -> None:
    _cache.clear()


def _prices(*, tenant_id: int, unit: str, channel: str) -> tuple[tuple, tuple]:
    """(tenant's [(prefix, price)], platform's [(prefix, price)]), longest prefix first."""
    key = (tenant_id, unit, channel)
    hit = _cache.get(key)
    now = time.monotonic()
    if hit is not None and hit[0] > now:
        return hit[1], hit[2]
    rows = Tariff.objects.filter(channel=channel, unit=unit, tenant_id__in=[tenant_id]) | Tariff.objects.filter(
        channel=channel, unit=unit, tenant__isnull=True
    )
    own, platform = [], []
    for tenant, prefix, price in rows.values_list("tenant_id", "prefix", "price"):
        (own if tenant else platform).append((prefix, price))
    own.sort(key=lambda item: -len(item[0]))
    platform.sort(key=lambda item: -len(item[0]))
    _cache[key] = (now + settings.BILLING_CACHE_SECONDS, tuple(own), tuple(platform))
    return tuple(own), tuple(platform)


def _default(unit: str, channel: str) -> int:
    if unit != money.CREDITS:
        return 0
    credits = (
        settings.BILLING_DEFAULT_SMS_CREDITS if channel == TariffChannel.SMS else settings.BILLING_DEFAULT_PUSH_CREDITS
    )
    return money.amount_parse(credits, unit=money.CREDITS)


@dataclass(frozen=True)
class Quote:
    """The price of a send before it is sent."""

    unit: str
    unit_price: int  # per part (SMS) or per delivery (push); for a multi-price SMS send, the first number's
    quantity: int  # parts x numbers, or deliveries
    total: int


class SmsPricer:
    """Prices SMS parts by destination for one tenant and unit; cheap per number."""

    def __init__(self, *, tenant_id: int, unit: str):
        self.own, self.platform = _prices(tenant_id=tenant_id, unit=unit, channel=TariffChannel.SMS)
        self.default = _default(unit, TariffChannel.SMS)
        self._memo: dict[str, int] = {}

    def part_price(self, number: str) -> int:
        """The price of one part to ``number`` (E.164, with or without "+")."""
        digits = number.lstrip("+")
        # Prefixes rarely exceed 6 digits: memoize on the first 8.
        head = digits[:8]
        price = self._memo.get(head)
        if price is None:
            price = self._lookup(digits)
            if all(len(prefix) <= 8 for prefix, _ in (*self.own, *self.platform)):
                self._memo[head] = price
        return price

    def _lookup(self, digits: str) -> int:
        for prices in (self.own, self.platform):
            for prefix, price in prices:
                if digits.startswith(prefix):
                    return price
        return self.default

    @property
    def free(self) -> bool:
        return not self.default and not any(price for _, price in (*self.own, *self.platform))


def push_unit_price(*, tenant_id: int, unit: str) -> int:
    """The price of one push delivery (its tariff's empty prefix)."""
    own, platform = _prices(tenant_id=tenant_id, unit=unit, channel=TariffChannel.PUSH)
    for prices in (own, platform):
        for prefix, price in prices:
            if not prefix:
                return price
    return _default(unit, TariffChannel.PUSH)
