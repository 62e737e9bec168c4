"""The reports' admin pages, mounted at /admin/reports/ (softafrik/urls.py), behind the
admin's login and staff check."""

from django.contrib import admin
from django.urls import path

from reports.views import report_view

app_name = "reports"
urlpatterns = [path("", admin.site.admin_view(report_view), name="report")]
