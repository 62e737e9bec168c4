"""SoftAfrik account API: the balance, usage, the ledger and prices (``/api/account...``).

Amounts are decimal strings in the account's unit (``billing.money.amount_str``). Every
view reads the caller's own account only: there is no account id to name another one.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.scopes import ACCOUNT_READ
from billing import selectors
from billing.models import Book, TariffChannel
from billing.money import amount_str
from billing.pricing import push_unit_price
from billing.services import account_ensure, account_unit
from sms.pricing import sms_prices
from sms.services import numbers_normalize, text_segment
from softafrik.dialects.common import valid_input

ENTRIES_DEFAULT_LIMIT = 100
ENTRIES_MAX_LIMIT = 500
PRICE_MAX_NUMBERS = 1000  # one price list in memory per request; a send takes more in a campaign
PRICE_MAX_DEVICES = 10**7
# Dates the usage query can turn into instants in any time zone (and the day after).
USAGE_FIRST_DATE = date(1970, 1, 1)
USAGE_LAST_DATE = date(9998, 12, 31)
BIGINT_MAX = 2**63 - 1


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# --- GET /api/account ----------------------------------------------------------------


class AccountOut(serializers.Serializer):
    type = serializers.ChoiceField(choices=["prepaid", "postpaid"])
    unit = serializers.CharField(help_text='"credits" or an ISO 4217 code')
    balance = serializers.CharField(help_text="What may still be spent (postpaid: minus what is owed)")
    reserved = serializers.CharField(help_text="The price of accepted sends not yet handed to the network")
    credit_limit = serializers.CharField(allow_null=True, help_text="Postpaid: how far below zero; null: none")
    low_balance_threshold = serializers.CharField()


class AccountView(APIView):
    required_scope = ACCOUNT_READ

    @extend_schema(
        responses={200: AccountOut}, tags=["account"], summary="Your account: type, balance, reserved, limits"
    )
    def get(self, request):
        account = account_ensure(tenant_id=request.user.tenant.pk)
        unit = account.unit
        return Response(
            {
                "type": account.type,
                "unit": unit,
                "balance": amount_str(account.balance, unit=unit),
                "reserved": amount_str(account.reserved, unit=unit),
                "credit_limit": amount_str(account.credit_limit, unit=unit),
                "low_balance_threshold": amount_str(account.low_balance_threshold, unit=unit),
            }
        )


# --- GET /api/account/usage ----------------------------------------------------------


class UsageQuery(serializers.Serializer):
    def get_fields(self):
        # "from" is a Python keyword, so it cannot be declared as a class attribute.
        return {
            "from": serializers.DateField(
                required=False,
                help_text="YYYY-MM-DD, a day in the tenant's time zone; default: the 1st of `to`'s month",
            ),
            "to": serializers.DateField(required=False, help_text="YYYY-MM-DD, included; default: today"),
        }

    def validate(self, attrs):
        for name in ("from", "to"):
            if name in attrs and not USAGE_FIRST_DATE <= attrs[name] <= USAGE_LAST_DATE:
                raise serializers.ValidationError(
                    {name: [f"Must be between {USAGE_FIRST_DATE} and {USAGE_LAST_DATE}."]}
                )
        end = attrs.get("to") or timezone.localdate(timezone=self.context["zone"])
        start = attrs.get("from") or end.replace(day=1)
        if start > end:
            raise serializers.ValidationError({"to": ["Must not be before from."]})
        if (end - start).days + 1 > selectors.USAGE_MAX_DAYS:
            raise serializers.ValidationError({"to": [f"At most {selectors.USAGE_MAX_DAYS} days from from."]})
        return {"from": start, "to": end}


class UsageDayOut(serializers.Serializer):
    date = serializers.DateField()
    channel = serializers.CharField(help_text="sms or push")
    settled = serializers.IntegerField(help_text="Recipients handed to the network, charged")
    quantity = serializers.IntegerField(help_text="Their SMS parts or push deliveries")
    amount = serializers.CharField(help_text="What they were charged")
    released = serializers.IntegerField(help_text="Recipients that never left the platform, not charged")


class UsageTotalOut(serializers.Serializer):
    channel = serializers.CharField()
    settled = serializers.IntegerField()
    quantity = serializers.IntegerField()
    amount = serializers.CharField()
    released = serializers.IntegerField()


class UsageOut(serializers.Serializer):
    def get_fields(self):
        return {
            "from": serializers.DateField(),
            "to": serializers.DateField(),
            "timezone": serializers.CharField(),
            "unit": serializers.CharField(),
            "days": UsageDayOut(many=True),
            "totals": UsageTotalOut(many=True),
        }


class UsageView(APIView):
    required_scope = ACCOUNT_READ

    @extend_schema(
        parameters=[UsageQuery],
        responses={200: UsageOut},
        tags=["account"],
        summary="What was sent and charged, per day and channel",
        description="Per day (the tenant's time zone) and channel, what ended: recipients settled (their parts "
        "or deliveries and their amount) and released. At most 366 days.",
    )
    def get(self, request):
        tenant = request.user.tenant
        zone = ZoneInfo(tenant.timezone or "UTC")
        serializer = UsageQuery(data=request.query_params, context={"zone": zone})
        serializer.is_valid(raise_exception=True)
        query = serializer.validated_data
        account = account_ensure(tenant_id=tenant.pk)
        unit = account.unit
        rows = selectors.account_usage(account_id=account.pk, zone=zone, start=query["from"], end=query["to"])
        totals: dict[str, dict] = {}
        days = []
        for row in rows:
            days.append(
                {
                    "date": row["day"].isoformat(),
                    "channel": row["channel"],
                    "settled": row["settled_count"],
                    "quantity": row["quantity"],
                    "amount": amount_str(row["amount"], unit=unit),
                    "released": row["released_count"],
                }
            )
            total = totals.setdefault(row["channel"], {"settled": 0, "quantity": 0, "amount": 0, "released": 0})
            total["settled"] += row["settled_count"]
            total["quantity"] += row["quantity"]
            total["amount"] += row["amount"]
            total["released"] += row["released_count"]
        return Response(
            {
                "from": query["from"].isoformat(),
                "to": query["to"].isoformat(),
                "timezone": zone.key,
                "unit": unit,
                "days": days,
                "totals": [
                    {"channel": channel, **total, "amount": amount_str(total["amount"], unit=unit)}
                    for channel, total in sorted(totals.items())
                ],
            }
        )


# --- GET /api/account/entries --------------------------------------------------------


class EntriesQuery(serializers.Serializer):
    limit = serializers.IntegerField(
        min_value=1, max_value=ENTRIES_MAX_LIMIT, required=False, default=ENTRIES_DEFAULT_LIMIT
    )
    after = serializers.IntegerField(
        min_value=1, max_value=BIGINT_MAX, required=False, help_text="The `next` of the previous page"
    )
    book = serializers.ChoiceField(choices=Book.values, required=False, help_text="Only this book's entries")


class EntryOut(serializers.Serializer):
    id = serializers.IntegerField()
    book = serializers.ChoiceField(choices=Book.values)
    kind = serializers.CharField(help_text="reserve, settle, release, topup, trial, adjustment, payment")
    amount = serializers.CharField(help_text="Signed: what this entry moved in its book")
    balance_after = serializers.CharField(help_text="The book's balance once written")
    reference = serializers.CharField(help_text='What caused it: "sms:<ref>", "push:<id>", "topup:<id>"...')
    quantity = serializers.IntegerField(help_text="Numbers, parts or deliveries it covers")
    note = serializers.CharField()
    created_at = serializers.DateTimeField()


class EntriesOut(serializers.Serializer):
    unit = serializers.CharField()
    entries = EntryOut(many=True)
    next = serializers.IntegerField(allow_null=True, help_text="`after` for the next page; null: the last page")


class EntriesView(APIView):
    required_scope = ACCOUNT_READ

    @extend_schema(
        parameters=[EntriesQuery],
        responses={200: EntriesOut},
        tags=["account"],
        summary="The ledger's entries, newest first",
        description="The ledger, newest first. Every transfer is two entries (e.g. a reservation: -price in "
        "available, +price in reserved).",
    )
    def get(self, request):
        query = valid_input(EntriesQuery, request, data=request.query_params)
        account = account_ensure(tenant_id=request.user.tenant.pk)
        unit = account.unit
        rows, next_cursor = selectors.ledger_page(
            account_id=account.pk, limit=query["limit"], after=query.get("after"), book=query.get("book")
        )
        entries = [
            {
                "id": row.pk,
                "book": row.book,
                "kind": row.kind,
                "amount": amount_str(row.amount, unit=unit),
                "balance_after": amount_str(row.balance_after, unit=unit),
                "reference": row.reference,
                "quantity": row.quantity,
                "note": row.note,
                "created_at": _iso(row.created_at),
            }
            for row in rows
        ]
        return Response({"unit": unit, "entries": entries, "next": next_cursor})


# --- GET /api/account/price ----------------------------------------------------------


class PriceQuery(serializers.Serializer):
    channel = serializers.ChoiceField(choices=TariffChannel.values, required=False, default=TariffChannel.SMS)
    to = serializers.CharField(
        required=False,
        max_length=40 * PRICE_MAX_NUMBERS,
        help_text="SMS: the destination, or several separated by commas (national numbers in the tenant's "
        'region). Encode "+" as %2B; an unencoded one (read as a space) is understood too.',
    )
    text = serializers.CharField(required=False, trim_whitespace=False, help_text="SMS: the text to send")
    devices = serializers.IntegerField(
        min_value=1, max_value=PRICE_MAX_DEVICES, required=False, default=1, help_text="Push: deliveries to price"
    )

    def validate(self, attrs):
        if attrs["channel"] != TariffChannel.SMS:
            return attrs
        missing = {name: ["This field is required."] for name in ("to", "text") if not attrs.get(name)}
        if missing:
            raise serializers.ValidationError(missing)
        attrs["numbers"] = self._numbers(attrs["to"])
        return attrs

    def _numbers(self, raw: str) -> list[str]:
        items = [item for item in raw.split(",") if item.strip()]
        if not items:
            raise serializers.ValidationError({"to": ["Give at least one number."]})
        if len(items) > PRICE_MAX_NUMBERS:
            raise serializers.ValidationError({"to": [f"At most {PRICE_MAX_NUMBERS} numbers."]})
        tenant = self.context["tenant"]
        numbers: dict[str, None] = {}
        for item in items:
            valid, invalid = numbers_normalize(tenant=tenant, numbers=[item])
            if invalid and item[:1] == " " and item.strip().isdigit():
                # "to=+228..." unencoded in the query string arrives as " 228...".
                valid, _ = numbers_normalize(tenant=tenant, numbers=["+" + item.strip()])
            if not valid:
                raise serializers.ValidationError({"to": [f"{item.strip()}: {invalid[0][1]}."]})
            numbers[valid[0]] = None
        return list(numbers)


class PriceLineOut(serializers.Serializer):
    to = serializers.CharField(help_text="E.164")
    unit_price = serializers.CharField(help_text="Per part")
    total = serializers.CharField(help_text="unit_price x parts")


class PriceOut(serializers.Serializer):
    channel = serializers.ChoiceField(choices=TariffChannel.values)
    unit = serializers.CharField()
    encoding = serializers.ChoiceField(choices=["gsm7", "ucs2"], required=False, help_text="SMS")
    parts = serializers.IntegerField(required=False, help_text="SMS: parts of the text")
    unit_price = serializers.CharField(help_text="SMS: per part (the first number's); push: per delivery")
    quantity = serializers.IntegerField(help_text="SMS: parts x numbers; push: deliveries")
    total = serializers.CharField()
    lines = PriceLineOut(many=True, required=False, help_text="SMS: one per number")


class PriceView(APIView):
    required_scope = ACCOUNT_READ

    @extend_schema(
        parameters=[PriceQuery],
        responses={200: PriceOut},
        tags=["account"],
        summary="The price of a send, without sending it",
        description="What a send would cost, without sending: SMS per part by destination, push per delivery.",
    )
    def get(self, request):
        tenant = request.user.tenant
        serializer = PriceQuery(data=request.query_params, context={"tenant": tenant})
        serializer.is_valid(raise_exception=True)
        query = serializer.validated_data
        unit = account_unit(tenant_id=tenant.pk)
        if query["channel"] == TariffChannel.PUSH:
            price = push_unit_price(tenant_id=tenant.pk, unit=unit)
            return Response(
                {
                    "channel": TariffChannel.PUSH,
                    "unit": unit,
                    "unit_price": amount_str(price, unit=unit),
                    "quantity": query["devices"],
                    "total": amount_str(price * query["devices"], unit=unit),
                }
            )
        segmentation = text_segment(text=query["text"])
        parts = segmentation.part_count
        prices = sms_prices(tenant=tenant, numbers=query["numbers"], parts=parts)
        lines = [
            {
                "to": number,
                "unit_price": amount_str(price // parts, unit=unit),
                "total": amount_str(price, unit=unit),
            }
            for number, price in prices.items()
        ]
        return Response(
            {
                "channel": TariffChannel.SMS,
                "unit": unit,
                "encoding": segmentation.encoding,
                "parts": parts,
                "unit_price": lines[0]["unit_price"],
                "quantity": parts * len(lines),
                "total": amount_str(sum(prices.values()), unit=unit),
                "lines": lines,
            }
        )
