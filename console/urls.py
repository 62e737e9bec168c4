"""The dashboard's sending pages, under ``/admin/send/`` (softafrik/urls.py), each behind
the admin's staff login."""

from django.contrib import admin
from django.urls import path

from console import views

app_name = "console"


def staff(view):
    return admin.site.admin_view(view)


urlpatterns = [
    path("sms/", staff(views.sms_send), name="sms"),
    path("sms/<uuid:send_id>/", staff(views.sms_result), name="sms_result"),
    path("sms/<uuid:send_id>/progress/", staff(views.sms_progress), name="sms_progress"),
    path("push/", staff(views.push_send), name="push"),
    path("push/<uuid:send_id>/", staff(views.push_result), name="push_result"),
    path("push/<uuid:send_id>/progress/", staff(views.push_progress), name="push_progress"),
    path("omni/", staff(views.omni_send_view), name="omni"),
    path("omni/<uuid:send_id>/", staff(views.omni_result), name="omni_result"),
    path("omni/<uuid:send_id>/progress/", staff(views.omni_progress), name="omni_progress"),
]
