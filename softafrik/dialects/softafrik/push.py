"""SoftAfrik push API: sends, per-device status and the inbox (``/api/push/...``)."""

from __future__ import annotations

from urllib.parse import quote

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.scopes import DELIVERIES_CONFIRM, INBOX_MANAGE, PUSH_SEND, SMS_SEND, STATUSES_READ, scope_require
from billing.selectors import cost_shown
from devices import selectors as device_selectors
from devices.models import Platform
from notifications import selectors
from notifications.core.status import public_status
from notifications.push import accept, confirm, inbox
from scenarios.accept import push_send_to_user_with_fallback
from softafrik.api import FlatSerializer
from softafrik.dialects.common import SUCCESS, valid_input
from softafrik.dialects.softafrik.devices import DeviceTokenField
from softafrik.fields import JsonObjectField
from softafrik.idempotency import idempotent

ACCEPTED = inline_serializer(
    "Accepted",
    {
        "id": serializers.UUIDField(),
        "status": serializers.CharField(),
        "cost": serializers.CharField(help_text="What the push reserved: its price per delivery x devices"),
        "unit": serializers.CharField(help_text="credits or a currency"),
    },
)

ERROR = inline_serializer(
    "Error",
    {
        "error": serializers.CharField(),
        "message": serializers.CharField(),
        "field": serializers.CharField(required=False),
        "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False),
    },
)


class PushContent(FlatSerializer):
    title = serializers.CharField(max_length=500)
    body = serializers.CharField(max_length=4000)
    data = JsonObjectField(required=False, default=dict)


class SmsFallbackIn(serializers.Serializer):
    text = serializers.CharField(trim_whitespace=False, help_text="The SMS sent when no device confirmed in time")

    def get_fields(self):
        # "from" is a Python keyword, so it cannot be declared as a class attribute.
        fields = super().get_fields()
        fields["from"] = serializers.CharField(
            required=False,
            allow_blank=True,
            default="",
            max_length=16,
            help_text="An approved sender; omitted: the default",
        )
        return fields


class FallbackIn(serializers.Serializer):
    sms = SmsFallbackIn()
    after_seconds = serializers.IntegerField(min_value=1, max_value=86400)


class ToUserIn(PushContent):
    puid = serializers.CharField(max_length=40)
    fallback = FallbackIn(
        required=False,
        help_text="An SMS to the user's phone when none of the user's devices confirmed the push within after_seconds",
    )


class ToDeviceIn(PushContent):
    device_token = DeviceTokenField()


class BroadcastIn(PushContent):
    app_name = serializers.CharField(max_length=100)
    country = serializers.RegexField(r"^[A-Za-z]{2}$", required=False, allow_blank=True, default="")
    platform = serializers.ChoiceField(choices=Platform.values, required=False, allow_blank=True, default="")


def _accepted(message) -> Response:
    """202, with what the push reserved: its price per delivery times the devices it reached."""
    amount = message.unit_price * (message.paid_deliveries or 0)
    return Response(
        {"id": str(message.pk), "status": "queued", **cost_shown(tenant_id=message.tenant_id, amount=amount)},
        status=status.HTTP_202_ACCEPTED,
    )


class PushToUserView(APIView):
    required_scope = PUSH_SEND

    @idempotent(errors=ERROR)
    @extend_schema(
        request=ToUserIn,
        responses={202: ACCEPTED, 402: ERROR},
        tags=["push"],
        summary="Push to every active device of a user, and to the user's inbox",
    )
    def post(self, request):
        data = valid_input(ToUserIn, request)
        tenant = request.user.tenant
        fallback = data.get("fallback")
        if fallback is not None:
            scope_require(request=request, scope=SMS_SEND)  # the fallback may send an SMS
        if fallback is None:
            message = accept.push_send_to_user(
                tenant=tenant, puid=data["puid"], title=data["title"], body=data["body"], data=data["data"]
            )
        else:
            message = push_send_to_user_with_fallback(
                tenant=tenant,
                puid=data["puid"],
                title=data["title"],
                body=data["body"],
                data=data["data"],
                sms_text=fallback["sms"]["text"],
                sms_from=fallback["sms"]["from"],
                after_seconds=fallback["after_seconds"],
            )
        return _accepted(message)


class PushToDeviceView(APIView):
    required_scope = PUSH_SEND

    @idempotent(errors=ERROR)
    @extend_schema(
        request=ToDeviceIn,
        responses={202: ACCEPTED, 402: ERROR},
        tags=["push"],
        summary="Push to one device by its token",
    )
    def post(self, request):
        data = valid_input(ToDeviceIn, request)
        tenant = request.user.tenant
        device = device_selectors.device_get_by_token(tenant=tenant, token=data["device_token"])
        message = accept.push_send_to_device(
            tenant=tenant, device=device, title=data["title"], body=data["body"], data=data["data"]
        )
        return _accepted(message)


class PushBroadcastView(APIView):
    required_scope = PUSH_SEND

    @idempotent(errors=ERROR)
    @extend_schema(
        request=BroadcastIn,
        responses={202: ACCEPTED, 402: ERROR},
        tags=["push"],
        summary="Push to every active device of an app, by country or platform",
    )
    def post(self, request):
        data = valid_input(BroadcastIn, request)
        tenant = request.user.tenant
        app = device_selectors.app_get(tenant=tenant, name=data["app_name"])
        message = accept.push_broadcast(
            tenant=tenant,
            app=app,
            country=data["country"],
            platform=data["platform"],
            title=data["title"],
            body=data["body"],
            data=data["data"],
        )
        return _accepted(message)


class InboxQuery(FlatSerializer):
    puid = serializers.CharField(max_length=40)
    limit = serializers.IntegerField(
        min_value=1, max_value=selectors.INBOX_MAX_LIMIT, required=False, default=selectors.INBOX_DEFAULT_LIMIT
    )
    cursor = serializers.IntegerField(min_value=1, required=False)


class InboxEntryOut(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    body = serializers.CharField()
    data = serializers.DictField()
    is_read = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class InboxView(APIView):
    required_scope = INBOX_MANAGE

    @extend_schema(
        parameters=[InboxQuery],
        responses={200: InboxEntryOut(many=True)},
        tags=["inbox"],
        summary="A user's inbox: every message, received or not",
        description="Newest first. When more entries exist, the `X-Next-Cursor` header (and a `Link` "
        'header with rel="next") gives the `cursor` for the next page.',
    )
    def get(self, request):
        query = valid_input(InboxQuery, request, data=request.query_params)
        rows, next_cursor = selectors.inbox_page(
            tenant=request.user.tenant, puid=query["puid"], limit=query["limit"], before=query.get("cursor")
        )
        for row in rows:
            row["created_at"] = row["created_at"].isoformat().replace("+00:00", "Z")
        response = Response(rows)
        if next_cursor is not None:
            response["X-Next-Cursor"] = str(next_cursor)
            url = request.build_absolute_uri(
                f"{request.path}?puid={quote(query['puid'])}&limit={query['limit']}&cursor={next_cursor}"
            )
            response["Link"] = f'<{url}>; rel="next"'
        return response


class ReadIn(serializers.Serializer):
    id = serializers.IntegerField(min_value=1)


class ReadView(APIView):
    required_scope = INBOX_MANAGE

    @extend_schema(request=ReadIn, responses={200: SUCCESS}, tags=["inbox"], summary="Mark one inbox message read")
    def post(self, request):
        data = valid_input(ReadIn, request)
        inbox.inbox_mark_read(tenant=request.user.tenant, entry_id=data["id"])
        return Response({"success": True})


class ReadAllIn(serializers.Serializer):
    puid = serializers.CharField(max_length=40)


class ReadAllView(APIView):
    required_scope = INBOX_MANAGE

    @extend_schema(
        request=ReadAllIn, responses={200: SUCCESS}, tags=["inbox"], summary="Mark every message of a user's inbox read"
    )
    def post(self, request):
        data = valid_input(ReadAllIn, request)
        tenant = request.user.tenant
        end_user = device_selectors.end_user_get(tenant=tenant, puid=data["puid"])
        inbox.inbox_mark_all_read(tenant=tenant, end_user=end_user)
        return Response({"success": True})


class PushDeliveryOut(serializers.Serializer):
    platform = serializers.CharField()
    device_uid = serializers.CharField()
    device_token = serializers.CharField(help_text="Shortened")
    status = serializers.ChoiceField(choices=["pending", "sent", "failed", "delivered"])
    reason = serializers.CharField(help_text="Why it failed, or the last transient error while pending")
    attempts = serializers.IntegerField()
    updated_at = serializers.DateTimeField()


class PushMessageOut(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    state = serializers.CharField(help_text="queued while deliveries are being created, then dispatched")
    created_at = serializers.DateTimeField()
    total = serializers.IntegerField()
    summary = serializers.DictField(child=serializers.IntegerField())
    deliveries = PushDeliveryOut(many=True)
    next_cursor = serializers.IntegerField(allow_null=True)


class PushMessageQuery(serializers.Serializer):
    cursor = serializers.IntegerField(min_value=1, required=False)


class MessageDetailView(APIView):
    required_scope = STATUSES_READ

    @extend_schema(
        parameters=[PushMessageQuery],
        responses={200: PushMessageOut},
        tags=["push"],
        summary="A push message and the status of each delivery",
    )
    def get(self, request, message_id: str):
        query = valid_input(PushMessageQuery, request, data=request.query_params)
        message = selectors.message_get(tenant=request.user.tenant, message_id=message_id)
        state = selectors.message_status(message=message, after=query.get("cursor"))
        deliveries = [
            {
                "platform": row["device__platform"],
                "device_uid": row["device__device_uid"],
                "device_token": _shorten(row["device__token"]),
                "status": public_status(row["status"]),
                "reason": row["error"],
                "attempts": row["attempts"],
                "updated_at": row["updated_at"],
            }
            for row in state["deliveries"]
        ]
        return Response(
            {
                "id": str(message.pk),
                "kind": message.kind,
                "state": message.state,
                "created_at": message.created_at,
                "total": message.total_deliveries,
                "summary": state["summary"],
                "deliveries": deliveries,
                "next_cursor": state["next_cursor"],
            }
        )


class DeliveredIn(serializers.Serializer):
    id = serializers.UUIDField(help_text="The message id the push carried in data.sa_message_id")
    device_token = DeviceTokenField()


# A web app's service worker confirms from the app's own origin: the receipt endpoint
# answers browsers' CORS preflights, for any origin (its key may only confirm deliveries,
# and it carries no cookie).
RECEIPT_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, X-API-KEY, Authorization",
    "Access-Control-Max-Age": "86400",
}


class DeliveredView(APIView):
    required_scope = DELIVERIES_CONFIRM  # the one call a key shipped in an app may make

    def initial(self, request, *args, **kwargs):
        if request.method == "OPTIONS":  # a preflight carries no key: nothing to check
            return
        super().initial(request, *args, **kwargs)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        for header, value in RECEIPT_CORS.items():
            response[header] = value
        return response

    @extend_schema(exclude=True)
    def options(self, request, *args, **kwargs):
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=DeliveredIn,
        responses={200: SUCCESS},
        tags=["push"],
        summary="Confirm a push was displayed (the app's delivery receipt)",
        description="Called by the app when it displays a push: the delivery becomes `delivered`.",
    )
    def post(self, request):
        data = valid_input(DeliveredIn, request)
        tenant = request.user.tenant
        device = device_selectors.device_get_by_token(tenant=tenant, token=data["device_token"])
        confirm.delivery_confirm(tenant=tenant, message_id=str(data["id"]), device=device)
        return Response({"success": True})


def _shorten(token: str) -> str:
    if token.startswith("{"):
        return "web-subscription"
    return token if len(token) <= 16 else f"{token[:8]}…{token[-6:]}"
