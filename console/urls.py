"""The dashboard's sending pages, under ``/admin/send/`` (softafrik/urls.py), each behind
the admin's staff login."""

from django.contrib import admin
from django.urls import path

from console.views import omni, push, sms

app_name = "console"


def staff(view):
    return admin.site.admin_view(view)


urlpatterns = [
    path("sms/", staff(sms.sms_send), name="sms"),
    path("sms/price/", staff(sms.sms_price), name="sms_price"),
    path("sms/<uuid:send_id>/", staff(sms.sms_result), name="sms_result"),
    path("sms/<uuid:send_id>/progress/", staff(sms.sms_progress), name="sms_progress"),
    path("push/", staff(push.push_send), name="push"),
    path("push/price/", staff(push.push_price), name="push_price"),
    path("push/<uuid:send_id>/", staff(push.push_result), name="push_result"),
    path("push/<uuid:send_id>/progress/", staff(push.push_progress), name="push_progress"),
    path("omni/", staff(omni.omni_send_view), name="omni"),
    path("omni/price/", staff(omni.omni_price), name="omni_price"),
    path("omni/<uuid:send_id>/", staff(omni.omni_result), name="omni_result"),
    path("omni/<uuid:send_id>/progress/", staff(omni.omni_progress), name="omni_progress"),
]
