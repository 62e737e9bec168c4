"""What a send from the dashboard will cost, shown before it is sent.

Prices come from the functions the sends themselves are charged with (``sms.pricing.
sms_prices``, the one ``/api/account/price`` calls, and ``notifications.push.pricing.
push_price``), over what the send will reach: the numbers left once the blacklist is
applied, the active devices a push's audience holds. So the total shown is what the
accepting service reserves, as long as no tariff, device or blacklist entry changes in
between.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.utils.translation import gettext

from accounts.models import Tenant
from billing.models import AccountType
from billing.money import amount_str
from billing.services import account_ensure
from devices.models import App, Device
from notifications.models import Message, MessageKind
from notifications.push.fanout import audience_of
from notifications.push.pricing import push_price
from scenarios.accept import Resolved
from scenarios.models import FlowChannel
from sms.pricing import sms_prices
from sms.selectors import blacklisted_among
from sms.services import text_segment


@dataclass(frozen=True)
class Quote:
    """A send's price as the dashboard shows it: amounts are decimal strings in the
    account's unit; ``total`` is in minor units, to compare with what was charged."""

    unit: str
    what: str  # "SMS parts", "push deliveries"
    unit_price: str  # per part or delivery ("5.00", or "5.00 to 8.00" across destinations)
    quantity: int
    total: int
    total_shown: str
    balance: str
    balance_after: str
    credit_limit: str | None  # postpaid: how far below zero (None: prepaid, or no limit)
    parts: int | None = None  # SMS: parts per number
    encoding: str = ""
    blacklisted: int = 0  # SMS: numbers that opted out, neither sent nor charged
    note: str = ""


def _quote(*, tenant: Tenant, what: str, unit_prices: list[int], quantity: int, total: int, **extra) -> Quote:
    account = account_ensure(tenant_id=tenant.pk)
    unit = account.unit
    low, high = (min(unit_prices), max(unit_prices)) if unit_prices else (0, 0)
    per = (
        amount_str(low, unit=unit)
        if low == high
        else gettext("%(low)s to %(high)s") % {"low": amount_str(low, unit=unit), "high": amount_str(high, unit=unit)}
    )
    return Quote(
        unit=unit,
        what=what,
        unit_price=per,
        quantity=quantity,
        total=total,
        total_shown=amount_str(total, unit=unit),
        balance=amount_str(account.balance, unit=unit),
        balance_after=amount_str(account.balance - total, unit=unit),
        credit_limit=amount_str(account.credit_limit, unit=unit) if account.type == AccountType.POSTPAID else None,
        **extra,
    )


def sms_quote(*, tenant: Tenant, numbers: list[str], text: str, campaign: bool = False) -> Quote:
    """The price of ``text`` to ``numbers`` (E.164). Raises DomainError(field="text") for
    an empty or too long text. A spread campaign pays batch by batch as beat releases
    its numbers: the total is what they cost at today's tariffs."""
    segmentation = text_segment(text=text)
    parts = segmentation.part_count
    blocked = blacklisted_among(tenant=tenant, numbers=numbers)
    prices = sms_prices(tenant=tenant, numbers=[n for n in numbers if n not in blocked], parts=parts)
    return _quote(
        tenant=tenant,
        what=gettext("SMS parts"),
        unit_prices=[price // parts for price in prices.values()],
        quantity=parts * len(prices),
        total=sum(prices.values()),
        parts=parts,
        encoding=segmentation.encoding,
        blacklisted=len(blocked),
        note=gettext("Charged batch by batch, as the campaign releases its numbers.") if campaign else "",
    )


def push_quote(*, tenant: Tenant, end_user_id: int | None = None, app: App | None = None, filters=None) -> Quote:
    """The price of a push to one user's active devices, or of a broadcast to ``app``'s
    (``filters``: country, platform): per delivery, times the audience's devices now."""
    if end_user_id is not None:
        message = Message(tenant=tenant, kind=MessageKind.TO_USER, end_user_id=end_user_id)
    else:
        message = Message(tenant=tenant, kind=MessageKind.BROADCAST, app=app, filters=filters or {})
    unit_price = push_price(tenant_id=tenant.pk)
    devices = audience_of(message).count()
    return _quote(
        tenant=tenant,
        what=gettext("push deliveries"),
        unit_prices=[unit_price],
        quantity=devices,
        total=unit_price * devices,
    )


def omni_quote(
    *, tenant: Tenant, first_step: dict, app_id: int | None, platform: str, sms_text: str, resolved
) -> Quote:
    """The price of an omni message's first step, the one reserved when it is accepted:
    a push step per active device it reaches in its app (a device destination's own, a
    person's every one), an SMS step per part to each number. A later step (an SMS
    fallback) is priced when it starts; ``note`` says what it would cost now."""
    resolved: list[Resolved] = list(resolved)
    phones = list(dict.fromkeys(r.phone for r in resolved if r.phone))
    fallback = ""
    if first_step["channel"] == FlowChannel.PUSH:
        devices = Device.objects.filter(tenant=tenant, is_active=True, app_id=app_id)
        if platform:
            devices = devices.filter(platform=platform)
        reached = devices.filter(pk__in=[r.device.pk for r in resolved if r.device]).count()
        people = [r.end_user.pk for r in resolved if not r.device and r.end_user]
        reached += devices.filter(end_user_id__in=people).count() if people else 0
        unit_price = push_price(tenant_id=tenant.pk)
        quote = _quote(
            tenant=tenant,
            what=gettext("push deliveries"),
            unit_prices=[unit_price],
            quantity=reached,
            total=unit_price * reached,
        )
        if sms_text and phones:
            later = sms_quote(tenant=tenant, numbers=phones, text=sms_text)
            fallback = gettext("If the SMS step runs for everyone, it costs %(total)s %(unit)s more.") % {
                "total": later.total_shown,
                "unit": later.unit,
            }
    else:
        quote = sms_quote(tenant=tenant, numbers=phones, text=sms_text)
    return replace(quote, note=fallback) if fallback else quote
