"""ION SMS Gateway dialect (``/api/V1/sms/...``): UNIDES, MULDES, MULDESP, status, cancel.

A translation layer only: ION's French fields in, ``sms_submit``/``sms_cancel`` and the
SMS selectors underneath, ION's shapes out. Errors name ION's fields (``emetteur``,
``destinataire`` or ``numeros``, ``corps``); another tenant's ``ref`` is a 404.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.settings import ISO_8601
from rest_framework.views import APIView

from accounts.scopes import SMS_SEND, STATUSES_READ
from billing.selectors import cost_shown
from billing.services import INSUFFICIENT, InsufficientBalance
from notifications.core.status import DeliveryStatus, send_status
from sms import selectors, services
from sms.campaigns import campaign_progress
from sms.models import SmsKind, SmsMessage, SmsState
from softafrik.api import UnknownPathView
from softafrik.dialects.common import renamed_fields, valid_input
from softafrik.idempotency import idempotent

TAGS = ["ION SMS"]

ION_TYPE = {SmsKind.SINGLE: "UNIDES", SmsKind.BULK: "MULDES", SmsKind.CAMPAIGN: "MULDESP"}
ION_STATUS = {
    DeliveryStatus.PENDING: "EN_ATTENTE",
    DeliveryStatus.SENT: "ENVOYE",
    DeliveryStatus.FAILED: "ECHEC",
    DeliveryStatus.DELIVERED: "DELIVRE",
}
CANCELLED = "ANNULE"

# One request writes one recipient row per number in one transaction: 100k numbers is
# ~1.7 MB of JSON (under Django's 2.5 MB body limit) and a few seconds of validation.
MULDES_MAX_NUMEROS = 100_000
# per_day and interval_minutes are 32-bit integer columns: a bigger value must be a 400,
# not a database overflow.
INT_COLUMN_MAX = 2**31 - 1
DESTINATAIRES_PAGE = selectors.RECIPIENTS_PAGE  # numbers per status page

SINGLE_FIELDS = {"sender": "emetteur", "number": "destinataire", "text": "corps"}
BULK_FIELDS = {"sender": "emetteur", "number": "numeros", "text": "corps"}


def ion_status(*, state: str, counts: dict[str, int]) -> str:
    """A send's overall ION status from its state and its numbers per public status."""
    if state == SmsState.CANCELLED:
        return CANCELLED
    return ION_STATUS[send_status(counts)]


# --- Input -----------------------------------------------------------------------------

_HAS_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}")
_BARE_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@extend_schema_field(
    {
        "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}],
        "example": "2025-10-10",
    }
)
class IonDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date and time, or a bare date ("2025-10-10", as ION documents it).

    Without an offset, a date and time is in the tenant's time zone (``context["tz"]``). A
    bare date is a whole day there: its start for ``dateDebut`` (``day_end=False``), its
    end, the next midnight, for ``dateFin`` (``day_end=True``)."""

    default_error_messages = {
        "invalid": "Expected an ISO 8601 date (2025-10-10) or date and time (2025-10-10T08:00:00Z)."
    }

    def __init__(self, *, day_end: bool, **kwargs):
        super().__init__(input_formats=[ISO_8601], **kwargs)
        self.day_end = day_end

    def default_timezone(self):
        return self.context.get("tz", UTC)

    def to_internal_value(self, value):
        if isinstance(value, str) and _BARE_DATE.match(value.strip()):
            return self._day_bound(value.strip())
        if isinstance(value, str) and not _HAS_TIME.match(value.strip()):
            self.fail("invalid")
        return super().to_internal_value(value)

    def _day_bound(self, text: str) -> datetime:
        try:
            day = date.fromisoformat(text)
            if self.day_end:
                day += timedelta(days=1)
        except ValueError:
            self.fail("invalid")
        except OverflowError:
            self.fail("overflow")
        # A midnight skipped by a DST change reads as the instant the day begins (fold=0
        # takes the offset in force before the change).
        return datetime.combine(day, time.min, tzinfo=self.default_timezone())


def _emetteur():
    return serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="An approved sender id; omitted: the account's default sender.",
    )


def _corps():
    # Spaces are part of the SMS: never trimmed. Length and parts are checked by the core.
    return serializers.CharField(trim_whitespace=False, help_text="The SMS text; long texts are concatenated.")


class IonUnidesIn(serializers.Serializer):
    emetteur = _emetteur()
    destinataire = serializers.CharField(help_text='"+22890123456", "0022890123456" or national "90123456"')
    corps = _corps()


class IonMuldesIn(serializers.Serializer):
    emetteur = _emetteur()
    numeros = serializers.ListField(
        child=serializers.CharField(allow_blank=True),
        allow_empty=False,
        max_length=MULDES_MAX_NUMEROS,
        help_text="Invalid numbers are listed in `rejets`; the valid ones still go out.",
    )
    corps = _corps()


class IonMuldespIn(IonMuldesIn):
    """Needs ``context={"tz": <the tenant's ZoneInfo>}``."""

    dateDebut = IonDateTimeField(
        day_end=False,
        help_text="ISO 8601 date (the start of that day) or date and time; without an offset, in the account's "
        "time zone. In the past: starts now.",
    )
    dateFin = IonDateTimeField(
        day_end=True,
        help_text="ISO 8601 date (the end of that day) or date and time, after dateDebut and in the future.",
    )
    nbParJour = serializers.IntegerField(min_value=1, max_value=INT_COLUMN_MAX)
    intervalleMinutes = serializers.IntegerField(min_value=1, max_value=INT_COLUMN_MAX)

    def validate(self, attrs):
        if attrs["dateFin"] <= attrs["dateDebut"]:
            raise serializers.ValidationError({"dateFin": ["Must be after dateDebut."]})
        if attrs["dateFin"] <= timezone.now():
            raise serializers.ValidationError({"dateFin": ["Must be in the future."]})
        return attrs


class IonStatusQuery(serializers.Serializer):
    apres = serializers.IntegerField(min_value=0, required=False, help_text="The `suivant` of the previous page")


# --- Output (OpenAPI) ------------------------------------------------------------------

# Module constants so settings.SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] can name them.
ION_TYPE_CHOICES = list(ION_TYPE.values())
ION_STATUT_CHOICES = [*ION_STATUS.values(), CANCELLED]  # a send
ION_NUMERO_STATUT_CHOICES = list(ION_STATUS.values())  # one number of a send


class IonError(serializers.Serializer):
    statut = serializers.CharField(required=False, help_text='402 only: "ECHEC"')
    motif = serializers.CharField(required=False, help_text='402 only: "solde insuffisant"')
    error = serializers.CharField()
    message = serializers.CharField()
    field = serializers.CharField(required=False, help_text="The ION field at fault: emetteur, corps...")
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


class IonUnidesOut(serializers.Serializer):
    ref = serializers.UUIDField()
    type = serializers.ChoiceField(choices=ION_TYPE_CHOICES)
    statut = serializers.ChoiceField(choices=ION_STATUT_CHOICES)
    cout = serializers.CharField(help_text="What the send reserved, in `unite` (MULDESP: 0, each batch when it goes)")
    unite = serializers.CharField(help_text="credits or a currency")


class IonRejet(serializers.Serializer):
    numero = serializers.CharField()
    motif = serializers.CharField()


class IonMuldesOut(IonUnidesOut):
    nbDestinataires = serializers.IntegerField(help_text="Valid numbers, blacklisted ones included")
    rejets = IonRejet(many=True)


class IonMuldespOut(IonMuldesOut):
    dateDebut = serializers.CharField(help_text="As it was sent")
    dateFin = serializers.CharField(help_text="As it was sent")


class IonProgression(serializers.Serializer):
    envoyes = serializers.IntegerField(help_text="Sent, not (yet) delivered")
    en_attente = serializers.IntegerField(help_text="Waiting to go out, `planifies` included")
    echecs = serializers.IntegerField()
    delivres = serializers.IntegerField()


class IonDestinataire(serializers.Serializer):
    numero = serializers.CharField()
    statut = serializers.ChoiceField(choices=ION_NUMERO_STATUT_CHOICES)
    motif = serializers.CharField(allow_null=True, help_text="Why it failed (ECHEC only)")


class IonSendOut(IonUnidesOut):
    emetteur = serializers.CharField()
    corps = serializers.CharField()
    dateCreation = serializers.DateTimeField()
    nbDestinataires = serializers.IntegerField()
    progression = IonProgression()
    destinataires = IonDestinataire(many=True, help_text=f"At most {DESTINATAIRES_PAGE} per page, in order")
    suivant = serializers.IntegerField(allow_null=True, help_text="Pass as `apres` for the next page; null: last")
    dateDebut = serializers.DateTimeField(required=False, help_text="MULDESP only")
    dateFin = serializers.DateTimeField(required=False, help_text="MULDESP only")
    nbParJour = serializers.IntegerField(required=False, help_text="MULDESP only")
    intervalleMinutes = serializers.IntegerField(required=False, help_text="MULDESP only")
    planifies = serializers.IntegerField(required=False, help_text="MULDESP only: numbers not released yet")


class IonCancelOut(serializers.Serializer):
    ref = serializers.UUIDField()
    statut = serializers.ChoiceField(choices=ION_STATUT_CHOICES, help_text="Always ANNULE")
    annules = serializers.IntegerField(help_text="Numbers that will not go out")


ERRORS = {400: IonError, 401: IonError, 402: IonError}


# --- Views -----------------------------------------------------------------------------


def ion_errors(field_names: dict[str, str]):
    """The core's error body with ION's field names; a send the balance cannot pay is
    ION's own ``statut: "ECHEC"``, ``motif: "solde insuffisant"`` (HTTP 402)."""
    renamed = renamed_fields(field_names)

    def handler(exc, context):
        response = renamed(exc, context)
        if response is not None and isinstance(exc, InsufficientBalance):
            response.data = {"statut": ION_STATUS[DeliveryStatus.FAILED], "motif": INSUFFICIENT, **response.data}
        return response

    return handler


class IonView(APIView):
    field_names = BULK_FIELDS

    def get_exception_handler(self):
        return ion_errors(self.field_names)


def _submitted(accepted: services.SmsAccepted) -> dict:
    message = accepted.message
    counts = dict.fromkeys(("pending", "sent", "failed", "delivered"), 0)
    counts["pending"], counts["failed"] = len(accepted.accepted), len(accepted.blacklisted)
    cost = cost_shown(tenant_id=message.tenant_id, amount=message.amount)
    return {
        "ref": str(message.pk),
        "type": ION_TYPE[message.kind],
        "statut": ion_status(state=message.state, counts=counts),
        # What the send reserved (a MULDESP campaign: nothing yet, each batch when it goes).
        "cout": cost["cost"],
        "unite": cost["unit"],
    }


def _submitted_bulk(accepted: services.SmsAccepted) -> dict:
    return {
        **_submitted(accepted),
        "nbDestinataires": accepted.message.total_recipients,
        "rejets": [{"numero": number, "motif": reason} for number, reason in accepted.rejected],
    }


class IonUnidesView(IonView):
    required_scope = SMS_SEND
    field_names = SINGLE_FIELDS

    @idempotent(errors=IonError)
    @extend_schema(request=IonUnidesIn, responses={201: IonUnidesOut, **ERRORS}, tags=TAGS, summary="UNIDES: one SMS")
    def post(self, request):
        data = valid_input(IonUnidesIn, request)
        accepted = services.sms_submit(
            tenant=request.user.tenant,
            dialect="ion",
            sender=data["emetteur"] or None,
            numbers=[data["destinataire"]],
            text=data["corps"],
            single=True,
        )
        return Response(_submitted(accepted), status=status.HTTP_201_CREATED)


class IonMuldesView(IonView):
    required_scope = SMS_SEND

    @idempotent(errors=IonError)
    @extend_schema(
        request=IonMuldesIn, responses={201: IonMuldesOut, **ERRORS}, tags=TAGS, summary="MULDES: one SMS, many numbers"
    )
    def post(self, request):
        data = valid_input(IonMuldesIn, request)
        accepted = services.sms_submit(
            tenant=request.user.tenant,
            dialect="ion",
            sender=data["emetteur"] or None,
            numbers=data["numeros"],
            text=data["corps"],
        )
        return Response(_submitted_bulk(accepted), status=status.HTTP_201_CREATED)


class IonMuldespView(IonView):
    required_scope = SMS_SEND

    @idempotent(errors=IonError)
    @extend_schema(
        request=IonMuldespIn,
        responses={201: IonMuldespOut, **ERRORS},
        tags=TAGS,
        summary="MULDESP: many numbers, spread over a window",
        description="Between dateDebut and dateFin, at most nbParJour SMS a (UTC) day, a batch every "
        "intervalleMinutes. Numbers still waiting when dateFin comes end ECHEC. Bare dates are whole days "
        "in the account's time zone; the answer echoes dateDebut and dateFin as they were sent.",
    )
    def post(self, request):
        tenant = request.user.tenant
        serializer = IonMuldespIn(data=request.data, context={"tz": ZoneInfo(tenant.timezone)})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        accepted = services.sms_submit(
            tenant=tenant,
            dialect="ion",
            sender=data["emetteur"] or None,
            numbers=data["numeros"],
            text=data["corps"],
            campaign=services.CampaignSpec(
                window_start=data["dateDebut"],
                window_end=data["dateFin"],
                per_day=data["nbParJour"],
                interval_minutes=data["intervalleMinutes"],
            ),
        )
        # Echoed exactly as sent ("2025-10-10" stays a date): the stored instants are in GET.
        body = {**_submitted_bulk(accepted), "dateDebut": request.data["dateDebut"], "dateFin": request.data["dateFin"]}
        return Response(body, status=status.HTTP_201_CREATED)


def _destinataire(row: dict) -> dict:
    failed = row["status"] == DeliveryStatus.FAILED
    return {
        "numero": row["number"],
        "statut": ION_STATUS.get(row["status"], ION_STATUS[DeliveryStatus.PENDING]),
        "motif": row["error"] if failed else None,
    }


def _campaign_fields(message: SmsMessage) -> dict:
    return {
        "dateDebut": message.window_start,
        "dateFin": message.window_end,
        "nbParJour": message.per_day,
        "intervalleMinutes": message.interval_minutes,
        "planifies": campaign_progress(message=message)["scheduled"],
    }


class IonSendView(IonView):
    required_scope = STATUSES_READ

    @extend_schema(
        parameters=[IonStatusQuery, OpenApiParameter("ref", str, OpenApiParameter.PATH)],
        responses={200: IonSendOut, 401: IonError, 404: IonError},
        tags=TAGS,
        summary="A send and the status of its numbers",
    )
    def get(self, request, ref: str):
        query = valid_input(IonStatusQuery, request, data=request.query_params)
        message = selectors.sms_message_get(tenant=request.user.tenant, ref=ref)
        counts = selectors.sms_counts(message=message)
        rows = selectors.sms_recipients(message=message, after=query.get("apres"), limit=DESTINATAIRES_PAGE + 1)
        more = len(rows) > DESTINATAIRES_PAGE
        rows = rows[:DESTINATAIRES_PAGE]
        body = {
            "ref": str(message.pk),
            "type": ION_TYPE[message.kind],
            "statut": ion_status(state=message.state, counts=counts),
            "emetteur": message.sender,
            "corps": message.text,
            "dateCreation": message.created_at,
            "nbDestinataires": message.total_recipients,
            "progression": {
                "envoyes": counts["sent"],
                "en_attente": counts["pending"],
                "echecs": counts["failed"],
                "delivres": counts["delivered"],
            },
            "destinataires": [_destinataire(row) for row in rows],
            "suivant": rows[-1]["id"] if more else None,
        }
        if message.kind == SmsKind.CAMPAIGN:
            body.update(_campaign_fields(message))
        return Response(body)


class IonCancelView(IonView):
    required_scope = SMS_SEND

    @idempotent(errors=IonError)
    @extend_schema(
        request=None,
        parameters=[OpenApiParameter("ref", str, OpenApiParameter.PATH)],
        responses={200: IonCancelOut, 400: IonError, 401: IonError, 404: IonError},
        tags=TAGS,
        summary="Cancel what has not gone out yet",
    )
    def post(self, request, ref: str):
        message = selectors.sms_message_get(tenant=request.user.tenant, ref=ref)
        cancelled = services.sms_cancel(message=message)
        return Response({"ref": str(message.pk), "statut": CANCELLED, "annules": cancelled})


# Any other path under /api/V1/ (routed last): ION's 404 body.
unknown_path = UnknownPathView.as_view(error_handler=renamed_fields(BULK_FIELDS))
