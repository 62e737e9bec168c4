"""Primotexto dialect (``/v2/...``): notification SMS, their status and statistics, and
the unsubscribers (STOP) list.

A translation layer only: Primotexto's fields in (``number`` or ``identifier``,
``message``, ``sender``, ``campaignName``, ``category`` or ``tag``, ``date``),
``sms_submit`` and the SMS selectors underneath, Primotexto's shapes out. The key comes in ``X-Primotexto-ApiKey``
(or ``Authorization: Bearer``); the GET form of the send also takes ``?apiKey=``.
Errors name Primotexto's fields and carry Primotexto's numeric ``code``; another
tenant's ``snapshotId`` is a 404.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.fields import empty
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import ApiKeyAuthentication, api_client_admit
from accounts.scopes import BLACKLIST_MANAGE, SMS_SEND, STATUSES_READ
from notifications.core.status import send_status
from sms import selectors, services
from sms.pricing import sms_amount_number
from softafrik.api import UnknownPathView
from softafrik.dialects.common import SUCCESS, renamed_fields, valid_input
from softafrik.idempotency import idempotent

TAGS = ["Primotexto"]
DIALECT = "primotexto"

# 9999-12-31T23:59:59.999Z: the last instant a datetime (and the database) can hold.
MAX_UNIX_MILLIS = 253_402_300_799_999

# Primotexto's own error codes, so its client libraries can read ``code``.
CODE_NUMBER_MISSING = 10
CODE_NUMBER_INVALID = 11
CODE_SENDER_INVALID = 20
CODE_MESSAGE_MISSING = 30
CODE_MESSAGE_TOO_LONG = 32
CODE_DATE_INVALID = 61
CODE_AUTHENTICATION_FAILED = 72
# Not in the document, which lists no code for it: ours, in the range of account errors.
CODE_INSUFFICIENT_CREDITS = 73
_MISSING = {"required", "blank", "null"}


# --- Authentication ----------------------------------------------------------------------


class PrimotextoKeyAuthentication(ApiKeyAuthentication):
    """``X-Primotexto-ApiKey: <key>`` (or ``Authorization: Bearer <key>``)."""

    header_names = ("X-Primotexto-ApiKey",)


class PrimotextoQueryKeyAuthentication(ApiKeyAuthentication):
    """``?apiKey=<key>``, for the GET form of the send only: a key in a URL ends up in
    access logs and browser history, so no other endpoint takes it."""

    def authenticate(self, request):
        plaintext = request.query_params.get("apiKey", "").strip() if request.method == "GET" else ""
        if not plaintext:
            return None
        return api_client_admit(plaintext=plaintext, request=request)


class PrimotextoKeyScheme(OpenApiAuthenticationExtension):
    target_class = PrimotextoKeyAuthentication
    priority = 1  # over accounts.schema.ApiKeyScheme, which matches subclasses
    name = "PrimotextoApiKey"

    def get_security_requirement(self, auto_schema):
        # Either header; "Bearer" is the scheme accounts.schema.ApiKeyScheme defines.
        return [{"PrimotextoApiKey": []}, {"Bearer": []}]

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-Primotexto-ApiKey"}


class PrimotextoQueryKeyScheme(OpenApiAuthenticationExtension):
    target_class = PrimotextoQueryKeyAuthentication
    priority = 1
    name = "PrimotextoApiKeyQuery"

    def get_security_requirement(self, auto_schema):
        return super().get_security_requirement(auto_schema) if auto_schema.method == "GET" else None

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "query", "name": "apiKey"}


# --- Errors ------------------------------------------------------------------------------


def _is_missing(exc, field: str) -> bool:
    if not isinstance(exc, exceptions.ValidationError):
        return False
    codes = exc.get_codes()
    return isinstance(codes, dict) and bool(_MISSING & set(codes.get(field, [])))


def _primotexto_code(exc, *, field: str, status: int) -> int | None:
    if status == 401:
        return CODE_AUTHENTICATION_FAILED
    if status == 402:
        return CODE_INSUFFICIENT_CREDITS
    if status != 400:
        return None  # Primotexto has no code for "not found" or a wrong method
    missing = _is_missing(exc, field)
    if field in ("number", "identifier"):
        return CODE_NUMBER_MISSING if missing else CODE_NUMBER_INVALID
    if field == "sender":
        return CODE_SENDER_INVALID
    if field == "message":
        # A blank text is the serializer's; the core only refuses a text with too many parts.
        return CODE_MESSAGE_MISSING if missing else CODE_MESSAGE_TOO_LONG
    if field == "date":
        return CODE_DATE_INVALID
    return None


def primotexto_errors(field_names: dict[str, str]):
    """The core's error body with Primotexto's field names and, where one fits, its ``code``."""
    renamed = renamed_fields(field_names)

    def handler(exc, context):
        response = renamed(exc, context)
        if response is not None and isinstance(response.data, dict):
            code = _primotexto_code(exc, field=response.data.get("field", ""), status=response.status_code)
            if code is not None:
                response.data = {"code": code, **response.data}
        return response

    return handler


class PrimotextoView(APIView):
    authentication_classes = [PrimotextoKeyAuthentication]
    field_names: dict[str, str] = {}

    def get_exception_handler(self):
        return primotexto_errors(self.field_names)

    def valid(self, serializer_class, request, *, data=None) -> dict:
        """Validated input; the core's errors about the number then name the spelling the
        client used (``number`` or ``identifier``)."""
        data = valid_input(serializer_class, request, data=data)
        if data.get("number_field"):
            self.field_names = {**self.field_names, "number": data["number_field"]}
        return data


# --- Input -------------------------------------------------------------------------------


class UnixMillisField(serializers.IntegerField):
    """A Unix timestamp in milliseconds (``1398177000000``) -> an aware UTC datetime."""

    def __init__(self, **kwargs):
        super().__init__(min_value=0, max_value=MAX_UNIX_MILLIS, **kwargs)

    def run_validation(self, data=empty):
        millis = super().run_validation(data)  # the range validators compare integers
        if millis is None:
            return None
        return datetime.fromtimestamp(millis // 1000, tz=UTC) + timedelta(milliseconds=millis % 1000)


def spelling_merge(attrs: dict, names: tuple[str, str], *, required: bool) -> str | None:
    """Fold two spellings of one field (``number``/``identifier``, ``category``/``tag``) in
    ``attrs`` into ``names[0]``; returns the spelling the client used (None: neither).

    Both given: they must agree. Missing when ``required``: a "required" error naming
    ``names[0]``, the form's own spelling (Primotexto code 10)."""
    given = [(name, attrs.pop(name)) for name in names if name in attrs]
    if len({value for _, value in given}) > 1:
        raise serializers.ValidationError({given[1][0]: [f"{names[0]} and {names[1]} differ: give one of them."]})
    if not given:
        if required:
            raise serializers.ValidationError({names[0]: ["This field is required."]}, code="required")
        return None
    attrs[names[0]] = given[0][1]
    return given[0][0]


def _category(name: str):
    other = "tag" if name == "category" else "category"
    return serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text=f"The tag stats are read by; `{other}` is the same field.",
    )


class PrimotextoSendFields(serializers.Serializer):
    """What both forms of the send take. The number and the category each have two
    spellings: the document's table says ``number`` and ``category``, its Ruby and Node
    examples (and its GET form) ``identifier`` and ``tag``. Either is accepted."""

    numbers: tuple[str, str] = ("number", "identifier")  # (this form's own, the other)

    # Spaces are part of the SMS: never trimmed. Length and parts are checked by the core.
    message = serializers.CharField(trim_whitespace=False, help_text="The SMS text; long texts are concatenated.")
    sender = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="An approved sender id; omitted: the default one."
    )
    campaignName = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=200, help_text="Groups sends for statistics"
    )
    category = _category("category")
    tag = _category("tag")
    date = UnixMillisField(
        required=False, allow_null=True, help_text="Send at this Unix time in milliseconds; in the past: now."
    )

    def validate(self, attrs):
        attrs["number_field"] = spelling_merge(attrs, self.numbers, required=True)
        spelling_merge(attrs, ("category", "tag"), required=False)
        attrs.setdefault("category", "")
        return attrs


_NUMBER_HELP = '"+22890123456" or national "90123456"'


class PrimotextoSendIn(PrimotextoSendFields):
    number = serializers.CharField(required=False, help_text=f"{_NUMBER_HELP}; `identifier` is the same field.")
    identifier = serializers.CharField(required=False, help_text="Another spelling of `number`.")


class PrimotextoSendQuery(PrimotextoSendFields):
    numbers = ("identifier", "number")

    identifier = serializers.CharField(required=False, help_text=f"The number: {_NUMBER_HELP}; or `number`.")
    number = serializers.CharField(required=False, help_text="Another spelling of `identifier`.")


class PrimotextoStatsQuery(serializers.Serializer):
    category = _category("category")
    tag = _category("tag")
    campaignName = serializers.CharField(required=False, allow_blank=True, max_length=200)

    def validate(self, attrs):
        spelling_merge(attrs, ("category", "tag"), required=False)
        return attrs


class PrimotextoIdentifierIn(serializers.Serializer):
    identifier = serializers.CharField(required=False, help_text=f"{_NUMBER_HELP}; `number` is the same field.")
    number = serializers.CharField(required=False, help_text="Another spelling of `identifier`.")

    def validate(self, attrs):
        attrs["number_field"] = spelling_merge(attrs, ("identifier", "number"), required=True)
        return attrs


# --- Output (OpenAPI) --------------------------------------------------------------------

STATUS_CHOICES = ["pending", "sent", "failed", "delivered"]


class PrimotextoError(serializers.Serializer):
    code = serializers.IntegerField(required=False, help_text="Primotexto's error code: 10, 11, 20, 30, 32, 61, 72")
    error = serializers.CharField()
    message = serializers.CharField()
    field = serializers.CharField(required=False, help_text="The Primotexto field at fault: number, message...")
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


class PrimotextoSendOut(serializers.Serializer):
    creditsUsed = serializers.FloatField(
        help_text="What the send was charged, in the account's unit (one credit per part by default);"
        " 0 for an unsubscribed number"
    )
    snapshotId = serializers.CharField()


class PrimotextoCategoryStats(serializers.Serializer):
    category = serializers.CharField()
    sent = serializers.IntegerField(help_text="Sent, not (yet) delivered")
    delivered = serializers.IntegerField()
    failed = serializers.IntegerField(help_text="Unsubscribed numbers included")
    pending = serializers.IntegerField()
    credits = serializers.IntegerField()


class PrimotextoRecipient(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.ChoiceField(choices=STATUS_CHOICES)
    reason = serializers.CharField(allow_null=True, help_text='Why it failed ("blacklisted: ..."), or null')


class PrimotextoStatus(serializers.Serializer):
    snapshotId = serializers.CharField()
    status = serializers.ChoiceField(choices=STATUS_CHOICES)
    recipients = PrimotextoRecipient(many=True, help_text=f"At most {selectors.RECIPIENTS_PAGE}")


class PrimotextoUnsubscriberAdded(serializers.Serializer):
    id = serializers.CharField(help_text="The number as stored (E.164)")
    identifier = serializers.CharField()


class PrimotextoUnsubscriber(serializers.Serializer):
    identifier = serializers.CharField()


ERRORS = {400: PrimotextoError, 401: PrimotextoError}


# --- Views -------------------------------------------------------------------------------


class PrimotextoSendView(PrimotextoView):
    required_scope = SMS_SEND
    authentication_classes = [PrimotextoKeyAuthentication, PrimotextoQueryKeyAuthentication]
    field_names = {"number": "number", "text": "message"}

    @idempotent(errors=PrimotextoError)
    @extend_schema(
        request=PrimotextoSendIn,
        responses={200: PrimotextoSendOut, **ERRORS, 402: PrimotextoError},
        tags=TAGS,
        summary="Send a notification SMS",
    )
    def post(self, request):
        data = self.valid(PrimotextoSendIn, request)
        return self._send(request, data, number=data["number"])

    @idempotent(errors=PrimotextoError)
    @extend_schema(
        parameters=[PrimotextoSendQuery, OpenApiParameter("apiKey", str, required=False, description="The API key")],
        responses={200: PrimotextoSendOut, **ERRORS, 402: PrimotextoError},
        tags=TAGS,
        summary="Send a notification SMS (GET form)",
    )
    def get(self, request):
        data = self.valid(PrimotextoSendQuery, request, data=request.query_params)
        return self._send(request, data, number=data["identifier"])

    def _send(self, request, data: dict, *, number: str) -> Response:
        accepted = services.sms_submit(
            tenant=request.user.tenant,
            dialect=DIALECT,
            sender=data["sender"] or None,
            numbers=[number],
            text=data["message"],
            single=True,
            campaign_name=data["campaignName"],
            category=data["category"],
            scheduled_at=data.get("date"),
        )
        message = accepted.message
        return Response({"creditsUsed": sms_amount_number(message), "snapshotId": str(message.pk)})


class PrimotextoStatsView(PrimotextoView):
    required_scope = STATUSES_READ

    @extend_schema(
        parameters=[PrimotextoStatsQuery],
        responses={200: PrimotextoCategoryStats(many=True), **ERRORS},
        tags=TAGS,
        summary="Numbers per status and credits, by category",
    )
    def get(self, request):
        query = valid_input(PrimotextoStatsQuery, request, data=request.query_params)
        stats = selectors.sms_category_stats(
            tenant=request.user.tenant, category=query.get("category"), campaign_name=query.get("campaignName")
        )
        return Response(stats)


class PrimotextoStatusView(PrimotextoView):
    required_scope = STATUSES_READ
    field_names = {"ref": "snapshotId"}

    @extend_schema(
        parameters=[OpenApiParameter("snapshot_id", str, OpenApiParameter.PATH)],
        responses={200: PrimotextoStatus, 401: PrimotextoError, 404: PrimotextoError},
        tags=TAGS,
        summary="A send's status, number by number",
    )
    def get(self, request, snapshot_id: str):
        message = selectors.sms_message_get(tenant=request.user.tenant, ref=snapshot_id, field="snapshotId")
        rows = selectors.sms_recipients(message=message)
        recipients = [
            {"number": row["number"], "status": row["status"], "reason": row["error"] or None} for row in rows
        ]
        body = {
            "snapshotId": str(message.pk),
            "status": send_status(selectors.sms_counts(message=message)),
            "recipients": recipients,
        }
        return Response(body)


class PrimotextoUnsubscribersView(PrimotextoView):
    required_scope = BLACKLIST_MANAGE
    field_names = {"number": "identifier"}

    @extend_schema(
        request=PrimotextoIdentifierIn,
        responses={200: PrimotextoUnsubscriberAdded, **ERRORS},
        tags=TAGS,
        summary="Add a number to the unsubscribers (STOP) list",
        description="Sends to it then end failed, uncharged.",
    )
    def post(self, request):
        data = self.valid(PrimotextoIdentifierIn, request)
        (number,) = services.blacklist_add(tenant=request.user.tenant, numbers=[data["identifier"]])
        return Response({"id": number, "identifier": number})

    @extend_schema(
        responses={200: PrimotextoUnsubscriber(many=True), 401: PrimotextoError},
        tags=TAGS,
        summary="The unsubscribers (STOP) list",
    )
    def get(self, request):
        numbers = selectors.blacklist_numbers(tenant=request.user.tenant)
        return Response([{"identifier": number} for number in numbers])

    @extend_schema(
        parameters=[PrimotextoIdentifierIn],
        responses={200: SUCCESS, 400: PrimotextoError, 401: PrimotextoError, 404: PrimotextoError},
        tags=TAGS,
        summary="Remove a number from the unsubscribers (STOP) list",
    )
    def delete(self, request):
        query = self.valid(PrimotextoIdentifierIn, request, data=request.query_params)
        services.blacklist_remove(tenant=request.user.tenant, number=query["identifier"])
        return Response({"success": True})


# Any other path under /v2/ (routed last): Primotexto's 404 body.
unknown_path = UnknownPathView.as_view(error_handler=primotexto_errors({}))
