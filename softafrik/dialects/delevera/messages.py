"""Delevera's messages, push (``/push/v1/messages``) and omni (``/omni/v1/messages``): one
machinery, the omni engine (``scenarios.accept``, ``scenarios.engine``).

``POST /push/v1/messages`` is a one-step push flow, ``POST /omni/v1/messages`` runs a saved
scenario (``scenarioKey``) or a one-step ``channel``; every GET of a message, under either
path, reads the same destinations: Delevera's state (1 Sent, 2 Pending, 3 Failed,
4 Delivered), the channel each is on (or was delivered by), and each step's outcome.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime

from django.utils import dateparse
from django.utils import timezone as dj_timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from accounts.scopes import OMNI_SEND, PUSH_SEND, STATUSES_READ
from devices.models import Platform
from devices.selectors import app_get_by_code
from scenarios import reads
from scenarios.accept import CONTACT_KEYS, OmniAccepted, omni_send
from scenarios.models import OmniDestination, Product
from scenarios.selectors import scenario_get
from softafrik.dialects.common import valid_input
from softafrik.dialects.delevera.errors import DeleveraView, delevera_date
from softafrik.dialects.delevera.sms import DeleveraError, accepted_cost, international
from softafrik.dialects.delevera.states import PENDING, STATE, STATE_HELP
from softafrik.idempotency import idempotent

PUSH_TAGS = ["Delevera push"]
OMNI_TAGS = ["Delevera omni"]
PLATFORMS = {"IOS": Platform.IOS.value, "ANDROID": Platform.ANDROID.value, "WEB": Platform.WEB.value}


# --- Input -------------------------------------------------------------------------------


class DestinationIn(serializers.Serializer):
    uid = serializers.CharField(required=False, max_length=200, help_text="A device's unique id")
    username = serializers.CharField(required=False, max_length=150)
    email = serializers.CharField(required=False, max_length=254)
    phone = serializers.CharField(required=False, max_length=32, help_text="International, without 00 or +")
    userId = serializers.CharField(required=False, max_length=200, help_text="The user's external_user_ref")

    def validate(self, attrs):
        if not any(attrs.get(key) for key in CONTACT_KEYS):
            raise serializers.ValidationError("Name the destination by uid, userId, username, email or phone.")
        return attrs


class ActionsIn(serializers.Serializer):
    callToAction = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    deepLink = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    issilent = serializers.CharField(required=False, allow_blank=True, help_text='"true": a data-only push')
    soundname = serializers.CharField(required=False, allow_blank=True, max_length=200)
    Schedule = serializers.CharField(required=False, allow_blank=True, help_text="ISO 8601 send time")
    Badge = serializers.RegexField(r"^\d{1,6}$", required=False, allow_blank=True)
    Image = serializers.URLField(required=False, allow_blank=True, max_length=2000)

    def to_internal_value(self, data):
        if isinstance(data, dict):  # Delevera types every action as a string; take numbers and booleans too
            data = {
                k: str(v).lower() if isinstance(v, bool) else str(v) if isinstance(v, int | float) else v
                for k, v in data.items()
            }
        return super().to_internal_value(data)

    def validate_Schedule(self, value: str):
        if not value:
            return value
        parsed = dateparse.parse_datetime(value)
        if parsed is None:
            raise serializers.ValidationError("Expected an ISO 8601 date and time, e.g. 2026-12-24T08:00:00Z.")
        return value


class DestinationsField(serializers.ListField):
    child = DestinationIn()

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("default", list)
        kwargs.setdefault("max_length", 10_000)
        super().__init__(**kwargs)


def _with_from(fields: dict, *, required: bool) -> dict:
    # "from" is a Python keyword, so it cannot be declared as a class attribute.
    fields["from"] = serializers.CharField(
        required=required, allow_blank=not required, default="" if not required else serializers.empty, max_length=100
    )
    return fields


class PushSendIn(serializers.Serializer):
    text = serializers.CharField(max_length=4000)
    appCode = serializers.CharField(max_length=32)
    platform = serializers.ChoiceField(choices=list(PLATFORMS), required=False)
    destinations = DestinationsField(help_text="Empty or absent: every device of the app")
    actions = ActionsIn(required=False)

    def get_fields(self):
        return _with_from(super().get_fields(), required=True)


class PushContentIn(serializers.Serializer):
    text = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    actions = ActionsIn(required=False)

    def get_fields(self):
        return _with_from(super().get_fields(), required=False)


class SmsContentIn(serializers.Serializer):
    text = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)

    def get_fields(self):
        return _with_from(super().get_fields(), required=False)


class OmniSendIn(serializers.Serializer):
    scenarioKey = serializers.CharField(required=False, max_length=24)
    channel = serializers.ChoiceField(choices=["push", "sms"], required=False)
    appCode = serializers.CharField(required=False, max_length=32)
    platform = serializers.ChoiceField(choices=list(PLATFORMS), required=False)
    pushContent = PushContentIn(required=False)
    smsContent = SmsContentIn(required=False)
    destinations = DestinationsField()

    def get_fields(self):
        return _with_from(super().get_fields(), required=False)

    def validate(self, attrs):
        if not attrs.get("scenarioKey") and not attrs.get("channel"):
            raise serializers.ValidationError({"scenarioKey": ["Give a scenarioKey, or a channel (push or sms)."]})
        return attrs


class MessageQuery(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, required=False, help_text="The `next` of the previous page")


# --- Output (OpenAPI) --------------------------------------------------------------------


class StepOut(serializers.Serializer):
    channel = serializers.CharField()
    state = serializers.ChoiceField(choices=["started", "delivered", "failed", "timed_out"])
    reason = serializers.CharField(required=False)
    startDate = serializers.DateTimeField()
    endDate = serializers.DateTimeField(allow_null=True)


class DestinationOut(serializers.Serializer):
    state = serializers.IntegerField(help_text=STATE_HELP)
    userId = serializers.CharField(allow_null=True)
    username = serializers.CharField(allow_null=True)
    email = serializers.CharField(allow_null=True)
    phone = serializers.CharField(allow_null=True)
    uid = serializers.CharField(allow_null=True)
    channel = serializers.CharField(help_text="The channel it is on, or was delivered by")
    steps = StepOut(many=True, help_text="Each step that ran (not in Delevera's document)")


class MessageOut(serializers.Serializer):
    messageId = serializers.CharField()
    devicesCount = serializers.IntegerField()
    createDate = serializers.DateTimeField()
    destinations = DestinationOut(many=True)
    next = serializers.IntegerField(allow_null=True, help_text="Pass as `after` for the next page; null: last")


class AcceptedOut(serializers.Serializer):
    messageId = serializers.CharField()
    devicesCount = serializers.IntegerField()
    createDate = serializers.DateTimeField()
    destinations = serializers.ListField(child=serializers.DictField())
    cost = serializers.CharField(help_text="What the message reserved, in `unit`")
    unit = serializers.CharField(help_text="credits or a currency")


# --- Shared ------------------------------------------------------------------------------


def _schedule(tenant, actions: dict | None) -> datetime | None:
    raw = (actions or {}).get("Schedule")
    if not raw:
        return None
    at = dateparse.parse_datetime(raw)
    if dj_timezone.is_naive(at):  # a time without an offset is the tenant's
        at = dj_timezone.make_aware(at, zoneinfo.ZoneInfo(tenant.timezone))
    return at.astimezone(UTC)


def accepted_states(accepted: OmniAccepted) -> dict[int, int]:
    """Each destination's Delevera state right after accept."""
    statuses = reads.omni_destination_statuses(ids=[row.pk for row, _ in accepted.destinations])
    return {pk: STATE.get(status, PENDING) for pk, status in statuses.items()}


def contact(row: OmniDestination, resolved) -> dict:
    """uid, username, phone, email (and userId) of a destination as accepted."""
    user, device, given = resolved.end_user, resolved.device, resolved.given
    return {
        "uid": device.device_uid if device and device.device_uid else given.get("uid"),
        "username": user.username if user and user.username else given.get("username"),
        "phone": row.phone or given.get("phone"),
        "email": user.email if user and user.email else given.get("email"),
        "userId": user.external_user_ref if user else given.get("userId"),
    }


def iso(at: datetime | None) -> str | None:
    return delevera_date(at) if at else None


def destination_out(row: dict) -> dict:
    given = row["given"] or {}
    state = {
        "state": STATE.get(row["status"], PENDING),
        "userId": row["end_user__external_user_ref"] or given.get("userId"),
        "username": row["end_user__username"] or given.get("username"),
        "email": row["end_user__email"] or given.get("email"),
        "phone": row["phone"] or given.get("phone"),
        "uid": row["device__device_uid"] or given.get("uid"),
        "channel": row["channel"],
    }
    state["steps"] = [
        {
            "channel": step["channel"],
            "state": step["state"],
            **({"reason": step["reason"]} if step["reason"] else {}),
            "startDate": iso(step["started_at"]),
            "endDate": iso(step["ended_at"]),
        }
        for step in row["steps"]
    ]
    return state


def message_status(request, message_id: str) -> Response:
    """GET of any omni message of the tenant, under /push/v1 or /omni/v1."""
    query = valid_input(MessageQuery, request, data=request.query_params)
    message = reads.omni_message_get(tenant=request.user.tenant, message_id=message_id)
    rows, after = reads.omni_destinations_page(message=message, after=query.get("after"))
    return Response(
        {
            "messageId": str(message.pk),
            "devicesCount": message.devices_count,
            "createDate": delevera_date(message.created_at),
            "destinations": [destination_out(row) for row in rows],
            "next": after,
        }
    )


def _push_content(data: dict) -> dict:
    content = {"text": data.get("text", ""), "from": data.get("from", "")}
    if data.get("actions"):
        content["actions"] = dict(data["actions"])
    return content


# --- Push --------------------------------------------------------------------------------


class PushMessagesView(DeleveraView):
    required_scope = PUSH_SEND
    field_names = {"pushContent.text": "text", "app_code": "appCode"}

    @idempotent(errors=DeleveraError)
    @extend_schema(
        request=PushSendIn,
        responses={
            200: AcceptedOut,
            400: DeleveraError,
            401: DeleveraError,
            402: DeleveraError,
            404: DeleveraError,
            405: DeleveraError,
        },
        tags=PUSH_TAGS,
        summary="Send a push to people or devices of an app (empty destinations: every device)",
    )
    def post(self, request):
        data = valid_input(PushSendIn, request)
        tenant = request.user.tenant
        app = app_get_by_code(tenant=tenant, code=data["appCode"])
        accepted = omni_send(
            tenant=tenant,
            product=Product.PUSH,
            flow=[{"channel": "push", "appCode": data["appCode"]}],
            sender=data["from"],
            destinations=data["destinations"],
            app=app,
            platform=PLATFORMS.get(data.get("platform", ""), ""),
            push=_push_content(data),
            start_at=_schedule(tenant, data.get("actions")),
            read_number=international,
        )
        message = accepted.message
        destinations = []
        for row, resolved in accepted.destinations:
            found = contact(row, resolved)
            destinations.append({key: found[key] for key in ("uid", "username", "phone", "email")})
        return Response(
            {
                "messageId": str(message.pk),
                "devicesCount": accepted.devices_count,
                "createDate": delevera_date(message.created_at),
                "destinations": destinations,
                **accepted_cost(message),
            }
        )


class PushMessageView(DeleveraView):
    required_scope = STATUSES_READ

    @extend_schema(
        parameters=[MessageQuery, OpenApiParameter("message_id", str, OpenApiParameter.PATH)],
        responses={200: MessageOut, 401: DeleveraError, 404: DeleveraError, 405: DeleveraError},
        tags=PUSH_TAGS,
        summary="A message and each destination's state",
    )
    def get(self, request, message_id: str):
        return message_status(request, message_id)


# --- Omni --------------------------------------------------------------------------------


class OmniMessagesView(DeleveraView):
    required_scope = OMNI_SEND
    field_names = {"scenario_key": "scenarioKey", "app_code": "appCode", "number": "destinations"}

    @idempotent(errors=DeleveraError)
    @extend_schema(
        request=OmniSendIn,
        responses={
            200: AcceptedOut,
            400: DeleveraError,
            401: DeleveraError,
            402: DeleveraError,
            404: DeleveraError,
            405: DeleveraError,
        },
        tags=OMNI_TAGS,
        summary="Send through a scenario (push, then SMS when not delivered in time) or one channel",
    )
    def post(self, request):
        data = valid_input(OmniSendIn, request)
        tenant = request.user.tenant
        scenario = scenario_get(tenant=tenant, key=data["scenarioKey"]) if data.get("scenarioKey") else None
        app = app_get_by_code(tenant=tenant, code=data["appCode"]) if data.get("appCode") else None
        if scenario is not None:
            flow = scenario.flow
        else:
            step = {"channel": data["channel"]}  # its sender is the message's "from"
            if data.get("appCode"):
                step["appCode"] = data["appCode"]
            flow = [step]
        push = _push_content(data["pushContent"]) if "pushContent" in data else None
        sms = dict(data["smsContent"]) if "smsContent" in data else None
        accepted = omni_send(
            tenant=tenant,
            product=Product.OMNI,
            flow=flow,
            sender=data["from"],
            destinations=data["destinations"],
            app=app,
            platform=PLATFORMS.get(data.get("platform", ""), ""),
            push=push,
            sms=sms,
            scenario=scenario,
            start_at=_schedule(tenant, (push or {}).get("actions")),
            read_number=international,
        )
        states = accepted_states(accepted)
        message = accepted.message
        return Response(
            {
                "messageId": str(message.pk),
                "devicesCount": accepted.devices_count,
                "createDate": delevera_date(message.created_at),
                "destinations": [
                    {**resolved.given, "state": states[row.pk]} for row, resolved in accepted.destinations
                ],
                **accepted_cost(message),
            }
        )


class OmniMessageView(DeleveraView):
    required_scope = STATUSES_READ

    @extend_schema(
        parameters=[MessageQuery, OpenApiParameter("message_id", str, OpenApiParameter.PATH)],
        responses={200: MessageOut, 401: DeleveraError, 404: DeleveraError, 405: DeleveraError},
        tags=OMNI_TAGS,
        summary="An omni message: each destination's state, channel and steps",
    )
    def get(self, request, message_id: str):
        return message_status(request, message_id)
