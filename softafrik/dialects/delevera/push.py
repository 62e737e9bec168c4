"""Delevera push dialect, applications and devices (``/push/v1/applications...``): the
tenant's apps with their providers and device counts, and each app's active devices.

A translation layer over ``devices.selectors``: Delevera's ``appCode`` is ``App.code``,
a device's ``deviceUid`` is ``Device.device_uid``, its ``userId`` the end user's
``external_user_ref``. Errors, dates and the ``Content-Type`` Delevera's own examples
send are every Delevera view's (``errors``). A NUL in a path value matches no route
(``softafrik.converters``): the catch-all's 404.
"""

from __future__ import annotations

from urllib.parse import urlencode

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from accounts.scopes import DEVICES_MANAGE
from devices import selectors
from devices.models import Device, Platform
from softafrik.dialects.common import valid_input
from softafrik.dialects.delevera.errors import DeleveraView, delevera_date
from softafrik.dialects.delevera.sms import DeleveraError  # the error body's one schema component

TAGS = ["Delevera push"]
FIELDS = {"app_code": "appCode", "device_uid": "deviceUid"}

DEVICES_PAGE = 100  # devices per page unless `limit` says otherwise
# A page of 1000 devices with their users is one indexed query and ~250 kB of JSON.
DEVICES_PAGE_MAX = 1000
CURSOR_MAX = 2**63 - 1  # device ids are 64-bit: a larger cursor is refused, never sent to the database

DEVICE_TYPE = {Platform.ANDROID: "ANDROID", Platform.IOS: "IOS", Platform.WEB: "WEB"}


class DeleveraPushView(DeleveraView):
    required_scope = DEVICES_MANAGE
    field_names = FIELDS


# --- Input -------------------------------------------------------------------------------


class DevicesQuery(serializers.Serializer):
    limit = serializers.IntegerField(
        min_value=1, max_value=DEVICES_PAGE_MAX, default=DEVICES_PAGE, help_text="Devices per page"
    )
    after = serializers.IntegerField(
        min_value=0,
        max_value=CURSOR_MAX,
        required=False,
        help_text='Opaque cursor: take it from the `Link: <...>; rel="next"` header of the previous page',
    )


# --- Output (OpenAPI) --------------------------------------------------------------------


class ProviderActive(serializers.Serializer):
    active = serializers.BooleanField()


class DeleveraApplication(serializers.Serializer):
    appName = serializers.CharField()
    appCode = serializers.CharField()
    apns = ProviderActive(help_text="APNs credentials are set (iOS devices can be reached)")
    fcm = ProviderActive(help_text="An FCM service account is set (Android devices can be reached)")
    createDate = serializers.DateTimeField()
    modifyDate = serializers.DateTimeField()
    countDevices = serializers.IntegerField(help_text="Active devices")


class DeleveraDevice(serializers.Serializer):
    userId = serializers.CharField(help_text='The user\'s own reference; "" for a device without user')
    username = serializers.CharField()
    email = serializers.CharField()
    phone = serializers.CharField()
    deviceUid = serializers.CharField()
    deviceType = serializers.ChoiceField(choices=list(DEVICE_TYPE.values()))
    createDate = serializers.DateTimeField()
    modifyDate = serializers.DateTimeField()


APP_CODE = OpenApiParameter("app_code", str, OpenApiParameter.PATH, description="appCode")
DEVICE_UID = OpenApiParameter("device_uid", str, OpenApiParameter.PATH, description="deviceUid")
NEXT_LINK = OpenApiParameter(
    "Link",
    str,
    OpenApiParameter.HEADER,
    response=[200],
    description='The next page, `<url>; rel="next"`; absent on the last page',
)


# --- Shapes ------------------------------------------------------------------------------


def application_shape(app) -> dict:
    """An app from ``devices.selectors.apps_overview`` in Delevera's shape."""
    return {
        "appName": app.name,
        "appCode": app.code,
        "apns": {"active": bool(app.apns_active)},
        "fcm": {"active": bool(app.fcm_active)},
        "createDate": delevera_date(app.created_at),
        "modifyDate": delevera_date(app.updated_at),
        "countDevices": app.active_devices,
    }


def device_shape(device: Device) -> dict:
    user = device.end_user
    return {
        "userId": user.external_user_ref if user else "",
        "username": user.username if user else "",
        "email": user.email if user else "",
        "phone": user.phone if user else "",
        "deviceUid": device.device_uid,
        "deviceType": DEVICE_TYPE[device.platform],
        "createDate": delevera_date(device.created_at),
        "modifyDate": delevera_date(device.updated_at),
    }


# --- Views -------------------------------------------------------------------------------


class ApplicationsView(DeleveraPushView):
    """The tenant's apps: their providers (active when credentials are set) and active devices."""

    @extend_schema(
        responses={200: DeleveraApplication(many=True), 401: DeleveraError, 405: DeleveraError},
        tags=TAGS,
        summary="The tenant's applications",
    )
    def get(self, request):
        apps = selectors.apps_overview(tenant=request.user.tenant)
        return Response([application_shape(app) for app in apps])


class ApplicationView(DeleveraPushView):
    """One of the tenant's apps by its code; another tenant's is not found."""

    @extend_schema(
        parameters=[APP_CODE],
        responses={200: DeleveraApplication, 401: DeleveraError, 404: DeleveraError, 405: DeleveraError},
        tags=TAGS,
        summary="One application",
    )
    def get(self, request, app_code: str):
        app = selectors.app_overview_get(tenant=request.user.tenant, code=app_code)
        return Response(application_shape(app))


class DevicesView(DeleveraPushView):
    """An app's active devices, oldest first, with their users' contact points."""

    @extend_schema(
        parameters=[APP_CODE, DevicesQuery, NEXT_LINK],
        responses={
            200: DeleveraDevice(many=True),
            400: DeleveraError,
            401: DeleveraError,
            404: DeleveraError,
            405: DeleveraError,
        },
        tags=TAGS,
        summary="An application's active devices, a page at a time",
        description=(
            "A JSON array, as documented; `limit` devices at most (default 100, at most 1000). "
            'When there are more, the `Link: <url>; rel="next"` header gives the next page.'
        ),
    )
    def get(self, request, app_code: str):
        query = valid_input(DevicesQuery, request, data=request.query_params)
        app = selectors.app_get_by_code(tenant=request.user.tenant, code=app_code)
        limit = query["limit"]
        devices = selectors.app_devices_page(app=app, after=query.get("after"), limit=limit + 1)
        more = len(devices) > limit
        devices = devices[:limit]
        response = Response([device_shape(device) for device in devices])
        if more:
            next_url = request.build_absolute_uri(
                f"{request.path}?{urlencode({'limit': limit, 'after': devices[-1].pk})}"
            )
            response["Link"] = f'<{next_url}>; rel="next"'
        return response


class DeviceView(DeleveraPushView):
    """One active device of an app by its uid (the newest, if a reinstall registered another)."""

    @extend_schema(
        parameters=[APP_CODE, DEVICE_UID],
        responses={200: DeleveraDevice, 401: DeleveraError, 404: DeleveraError, 405: DeleveraError},
        tags=TAGS,
        summary="One device of an application (the newest active one with this uid)",
    )
    def get(self, request, app_code: str, device_uid: str):
        app = selectors.app_get_by_code(tenant=request.user.tenant, code=app_code)
        device = selectors.app_device_get(app=app, device_uid=device_uid)
        return Response(device_shape(device))
