"""SoftAfrik push API: users and devices (``/api/users/...``, ``/api/devices/...``, ``/api/apps/...``)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.scopes import DEVICES_MANAGE
from devices import selectors, services
from devices.models import Platform
from softafrik.dialects.common import SUCCESS, valid_input
from softafrik.fields import JsonObjectField

CONTACTS = ("phone", "email", "username", "lang")


class UserRegisterIn(serializers.Serializer):
    external_user_ref = serializers.CharField(max_length=200)
    meta = JsonObjectField(required=False, allow_empty=True)
    # Contact points: omitted, kept as they are; "" clears one.
    phone = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        help_text='Read as an SMS number ("+22890123456", "0022890123456" or national "90123456"); stored in '
        "E.164. Unique among the account's users.",
    )
    email = serializers.EmailField(
        max_length=254, required=False, allow_blank=True, help_text="Stored lower-cased. Unique among the users."
    )
    username = serializers.CharField(
        max_length=150, required=False, allow_blank=True, help_text="Unique among the users."
    )
    lang = serializers.RegexField(
        services.LANG_RE, max_length=services.LANG_MAX_LENGTH, required=False, allow_blank=True
    )


class UserOut(serializers.Serializer):
    puid = serializers.CharField()
    external_user_ref = serializers.CharField()
    meta = serializers.DictField()
    phone = serializers.CharField(help_text='E.164, or "" when not set')
    email = serializers.CharField()
    username = serializers.CharField()
    lang = serializers.CharField()
    created = serializers.BooleanField()


class UserRegisterView(APIView):
    required_scope = DEVICES_MANAGE

    @extend_schema(
        request=UserRegisterIn,
        responses={200: UserOut, 201: UserOut},
        tags=["users"],
        summary="Create or update a user: the PUID of your external_user_ref",
    )
    def post(self, request):
        data = valid_input(UserRegisterIn, request)
        end_user, created = services.end_user_register(
            tenant=request.user.tenant,
            external_user_ref=data["external_user_ref"],
            meta=data.get("meta"),
            **{field: data.get(field) for field in CONTACTS},
        )
        body = {
            "puid": end_user.puid,
            "external_user_ref": end_user.external_user_ref,
            "meta": end_user.meta,
            **{field: getattr(end_user, field) for field in CONTACTS},
            "created": created,
        }
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class DeviceTokenField(serializers.JSONField):
    """A token string, or for web the PushSubscription as an object or a JSON string."""

    def to_internal_value(self, data):
        if not isinstance(data, str | dict) or data in ("", {}):
            raise serializers.ValidationError("Must be a token string or a PushSubscription object.")
        return data


class DeviceRegisterIn(serializers.Serializer):
    puid = serializers.CharField(max_length=40)
    app_name = serializers.CharField(max_length=100)
    platform = serializers.ChoiceField(choices=Platform.values)
    device_token = DeviceTokenField()
    device_uid = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    # max_length: the column's, so a long tag is a 400, not a database error.
    lang = serializers.RegexField(
        services.LANG_RE, max_length=services.LANG_MAX_LENGTH, required=False, allow_blank=True, default=""
    )
    country = serializers.RegexField(r"^[A-Za-z]{2}$", required=False, allow_blank=True, default="")


class DeviceRegisterView(APIView):
    required_scope = DEVICES_MANAGE

    @extend_schema(
        request=DeviceRegisterIn,
        responses={200: SUCCESS, 201: SUCCESS},
        tags=["devices"],
        summary="Attach a device (Android, iOS or web) to a PUID",
    )
    def post(self, request):
        data = valid_input(DeviceRegisterIn, request)
        tenant = request.user.tenant
        end_user = selectors.end_user_get(tenant=tenant, puid=data["puid"])
        app = selectors.app_get(tenant=tenant, name=data["app_name"])
        _, created = services.device_register(
            tenant=tenant,
            end_user=end_user,
            app=app,
            platform=data["platform"],
            device_token=data["device_token"],
            device_uid=data["device_uid"],
            lang=data["lang"],
            country=data["country"],
        )
        return Response({"success": True}, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class DeviceUnregisterIn(serializers.Serializer):
    device_token = DeviceTokenField()


class DeviceUnregisterView(APIView):
    required_scope = DEVICES_MANAGE

    @extend_schema(
        request=DeviceUnregisterIn,
        responses={200: SUCCESS},
        tags=["devices"],
        summary="Unregister a device (at logout): it receives nothing more",
    )
    def post(self, request):
        data = valid_input(DeviceUnregisterIn, request)
        device = selectors.device_get_by_token(tenant=request.user.tenant, token=data["device_token"])
        services.device_unregister(device=device)
        return Response({"success": True})


class AppOut(serializers.Serializer):
    app_name = serializers.CharField()
    app_code = serializers.CharField()
    vapid_public_key = serializers.CharField(help_text="applicationServerKey for PushManager.subscribe")
    platforms = serializers.ListField(child=serializers.CharField())


class AppDetailView(APIView):
    required_scope = DEVICES_MANAGE

    @extend_schema(responses={200: AppOut}, tags=["apps"], summary="An app and its Web Push key (applicationServerKey)")
    def get(self, request, app_name: str):
        app = selectors.app_get(tenant=request.user.tenant, name=app_name)
        platforms = [
            platform
            for platform, ready in (
                (Platform.ANDROID, app.has_fcm),
                (Platform.IOS, app.has_apns),
                (Platform.WEB, app.has_webpush),
            )
            if ready
        ]
        return Response(
            {
                "app_name": app.name,
                "app_code": app.code,
                "vapid_public_key": app.vapid_public_key,
                "platforms": platforms,
            }
        )
