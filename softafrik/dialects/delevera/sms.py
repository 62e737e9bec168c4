"""Delevera SMS dialect (``/SMS/v1/messages``): send one text to many numbers, then read
each number's state.

A translation layer only: Delevera's fields in (``text``, ``from``, ``destinations``),
``sms_submit`` and the SMS selectors underneath, Delevera's shapes out. States are
Delevera's codes: 1 Sent, 2 Pending, 3 Failed, 4 Delivered. Errors are Delevera's body,
``{"code": <HTTP status>, "message": ..., "field": ...}``, for 400, 401, 404 and 405.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response

from accounts.scopes import SMS_SEND, STATUSES_READ
from billing.selectors import cost_shown, reserved_for
from scenarios import reads
from scenarios.accept import omni_send
from scenarios.models import OmniStep, Product
from sms import selectors
from softafrik.dialects.common import valid_input
from softafrik.dialects.delevera.errors import DeleveraView, delevera_date
from softafrik.dialects.delevera.states import FAILED, PENDING, STATE, STATE_HELP
from softafrik.errors import NotFound
from softafrik.idempotency import idempotent

TAGS = ["Delevera SMS"]
DIALECT = "delevera"

# One request writes one recipient row per number in one transaction: 100k numbers is
# ~2 MB of JSON (near Django's 2.5 MB body limit) and a few seconds of validation.
DESTINATIONS_MAX = 100_000
DESTINATIONS_PAGE = selectors.RECIPIENTS_PAGE  # numbers per GET page

FIELDS = {"sender": "from", "number": "destinations", "text": "text", "smsContent.text": "text"}


def accepted_cost(message) -> dict[str, str]:
    """What the accepted message reserved: its first step (a push step's devices, or the
    SMS send that is the message). A later step, such as a fallback SMS, is priced when
    it starts."""
    amount = reserved_for(tenant_id=message.tenant_id, references=[f"omni:{message.pk}:0", f"sms:{message.pk}"])
    return cost_shown(tenant_id=message.tenant_id, amount=amount)


class DeleveraSmsView(DeleveraView):
    field_names = FIELDS


# --- Input -------------------------------------------------------------------------------


# Separators people type inside a number; what is left must be digits for the number to
# be "bare".
_SEPARATORS = re.compile(r"[\s().-]")


def international(raw: str) -> str:
    """Delevera's reading of a number: a bare digit string ("966501234567") is international,
    as Delevera documents ("in international format without 00 or symbol (+)"), whatever the
    tenant's default region. "+966..." and "00966..." keep their meaning; anything else is
    passed on unchanged for the core to judge."""
    digits = _SEPARATORS.sub("", raw)
    if digits.isascii() and digits.isdigit() and not digits.startswith("00"):
        return "+" + digits
    return raw


class Destination(NamedTuple):
    given: str  # as the client wrote it, for the answer
    number: str  # as the core reads it


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "example": "966501234567"},
            {"type": "object", "properties": {"phone": {"type": "string"}}, "required": ["phone"]},
        ]
    }
)
class DeleveraDestinationField(serializers.Field):
    """A number, as a string or as ``{"phone": "..."}``; a bare digit string is international."""

    # DRF formats error messages with str.format: a literal brace must be doubled.
    default_error_messages = {"invalid": 'Expected a phone number or {{"phone": "..."}}.'}

    def to_internal_value(self, data) -> Destination:
        if isinstance(data, dict):
            data = data.get("phone")
        if isinstance(data, bool) or not isinstance(data, str | int) or not str(data).strip():
            self.fail("invalid")
        given = str(data).strip()
        return Destination(given=given, number=international(given))

    def to_representation(self, value):
        return value


class DeleveraSendIn(serializers.Serializer):
    # Spaces are part of the SMS: never trimmed. Length and parts are checked by the core.
    text = serializers.CharField(trim_whitespace=False, help_text="The SMS text; long texts are concatenated.")
    destinations = serializers.ListField(
        child=DeleveraDestinationField(),
        allow_empty=False,
        max_length=DESTINATIONS_MAX,
        help_text="Invalid numbers come back with state 3 and a reason; the valid ones still go out.",
    )

    def get_fields(self):
        # "from" is a Python keyword, so it cannot be declared as a class attribute.
        fields = super().get_fields()
        fields["from"] = serializers.CharField(
            required=False, allow_blank=True, default="", help_text="An approved sender id; omitted: the default one."
        )
        return fields


class DeleveraMessageQuery(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, required=False, help_text="The `next` of the previous page")


# --- Output (OpenAPI) --------------------------------------------------------------------


class DeleveraError(serializers.Serializer):
    code = serializers.IntegerField(help_text="The HTTP status: 400, 401, 404 or 405")
    message = serializers.CharField()
    field = serializers.CharField(required=False, help_text="The field at fault: text, from, destinations...")


class DeleveraDestination(serializers.Serializer):
    phone = serializers.CharField(help_text="E.164 once valid; an invalid number as it was given")
    state = serializers.ChoiceField(choices=list(STATE.values()), help_text=STATE_HELP)
    reason = serializers.CharField(required=False, help_text="Why it failed (state 3 only); not in Delevera's docs")


class DeleveraMessage(serializers.Serializer):
    messageId = serializers.CharField()
    createDate = serializers.DateTimeField()
    destinations = DeleveraDestination(many=True)


class DeleveraAccepted(DeleveraMessage):
    cost = serializers.CharField(help_text="What the send reserved, in `unit`")
    unit = serializers.CharField(help_text="credits or a currency")


class DeleveraMessagePage(DeleveraMessage):
    next = serializers.IntegerField(allow_null=True, help_text="Pass as `after` for the next page; null: last")


# --- Views -------------------------------------------------------------------------------


def _failed(phone: str, reason: str) -> dict:
    return {"phone": phone, "state": FAILED, "reason": reason}


def _destination(row: dict) -> dict:
    state = STATE.get(row["status"], PENDING)
    if state == FAILED:
        return _failed(row["number"], row["error"])
    return {"phone": row["number"], "state": state}


def _omni_destination(phone: str, status: str, reason: str) -> dict:
    return _destination({"number": phone, "status": status, "error": reason})


class DeleveraMessagesView(DeleveraSmsView):
    required_scope = SMS_SEND

    @idempotent(errors=DeleveraError)
    @extend_schema(
        request=DeleveraSendIn,
        responses={
            200: DeleveraAccepted,
            400: DeleveraError,
            401: DeleveraError,
            402: DeleveraError,
            405: DeleveraError,
        },
        tags=TAGS,
        summary="Send one text to one or more numbers",
    )
    def post(self, request):
        data = valid_input(DeleveraSendIn, request)
        # A one-step SMS flow of the omni engine: one SMS send (its id is the message's),
        # each number a destination, reported like Delevera's push and omni messages.
        given = [destination.given for destination in data["destinations"]]
        accepted = omni_send(
            tenant=request.user.tenant,
            product=Product.SMS,
            flow=[{"channel": "sms"}],
            sender=data["from"],
            destinations=[{"phone": number} for number in given],
            sms={"text": data["text"]},
            read_number=international,
        )
        ids = [row.pk for row, _ in accepted.destinations]
        reasons = dict(OmniStep.objects.filter(destination_id__in=ids).values_list("destination_id", "reason"))
        statuses = reads.omni_destination_statuses(ids=ids)
        destinations = [
            # A valid number in E.164; an invalid one as the client wrote it.
            _omni_destination(row.phone or given[resolved.entry], statuses[row.pk], reasons.get(row.pk, ""))
            for row, resolved in accepted.destinations
        ]
        message = accepted.message
        return Response(
            {
                "messageId": str(message.pk),
                "createDate": delevera_date(message.created_at),
                "destinations": destinations,
                **accepted_cost(message),
            }
        )


class DeleveraMessageView(DeleveraSmsView):
    required_scope = STATUSES_READ

    @extend_schema(
        parameters=[DeleveraMessageQuery, OpenApiParameter("message_id", str, OpenApiParameter.PATH)],
        responses={200: DeleveraMessagePage, 401: DeleveraError, 404: DeleveraError, 405: DeleveraError},
        tags=TAGS,
        summary="A message and each number's current state",
    )
    def get(self, request, message_id: str):
        query = valid_input(DeleveraMessageQuery, request, data=request.query_params)
        tenant = request.user.tenant
        try:
            message = reads.omni_message_get(tenant=tenant, message_id=message_id)
        except NotFound:  # a send accepted before SMS went through the omni engine
            return self._legacy(tenant, message_id, query.get("after"))
        rows, after = reads.omni_destinations_page(message=message, after=query.get("after"), size=DESTINATIONS_PAGE)
        destinations = [
            _omni_destination(
                row["phone"] or row["given"].get("phone", ""),
                row["status"],
                row["steps"][-1]["reason"] if row["steps"] else "",
            )
            for row in rows
        ]
        return Response(
            {
                "messageId": str(message.pk),
                "createDate": delevera_date(message.created_at),
                "destinations": destinations,
                "next": after,
            }
        )

    def _legacy(self, tenant, message_id: str, after: int | None) -> Response:
        message = selectors.sms_message_get(tenant=tenant, ref=message_id, field="messageId")
        rows = selectors.sms_recipients(message=message, after=after, limit=DESTINATIONS_PAGE + 1)
        more = len(rows) > DESTINATIONS_PAGE
        rows = rows[:DESTINATIONS_PAGE]
        return Response(
            {
                "messageId": str(message.pk),
                "createDate": delevera_date(message.created_at),
                "destinations": [_destination(row) for row in rows],
                "next": rows[-1]["id"] if more else None,
            }
        )
