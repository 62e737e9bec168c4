from django.contrib import admin
from django.urls import include, path, re_path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

import softafrik.converters  # noqa: F401  (the key and keypath converters)
from notifications.webhooks import api as webhooks_api
from softafrik.api import UnknownPathView, json_errors
from softafrik.dashboard import tenant_logo
from softafrik.dialects import ion, primotexto
from softafrik.dialects.delevera import errors as delevera_errors
from softafrik.dialects.softafrik import devices as devices_api
from softafrik.dialects.softafrik import push as push_api

api_patterns = [
    path("users/register", devices_api.UserRegisterView.as_view()),
    path("devices/register", devices_api.DeviceRegisterView.as_view()),
    path("devices/unregister", devices_api.DeviceUnregisterView.as_view()),
    path("apps/<key:app_name>", devices_api.AppDetailView.as_view()),
    path("push/to-user", push_api.PushToUserView.as_view()),
    path("push/to-device", push_api.PushToDeviceView.as_view()),
    path("push/broadcast", push_api.PushBroadcastView.as_view()),
    path("push/inbox", push_api.InboxView.as_view()),
    path("push/read", push_api.ReadView.as_view()),
    path("push/read-all", push_api.ReadAllView.as_view()),
    path("push/delivered", push_api.DeliveredView.as_view()),
    path("push/messages/<key:message_id>", push_api.MessageDetailView.as_view()),
    path("webhooks", webhooks_api.WebhooksView.as_view()),
    path("webhooks/<key:endpoint_id>", webhooks_api.WebhookDetailView.as_view()),
    path("", include("billing.urls")),  # /api/account...
    # Their errors (a wrong method) answer JSON too, not YAML or HTML.
    path("schema/", json_errors(SpectacularAPIView).as_view(), name="schema"),
    path("docs/", json_errors(SpectacularSwaggerView).as_view(url_name="schema"), name="swagger-ui"),
    path("redoc/", json_errors(SpectacularRedocView).as_view(url_name="schema"), name="redoc"),
]

urlpatterns = [
    path("api/", include(api_patterns)),
    path("admin/logo/<int:tenant_id>/", tenant_logo, name="tenant_logo"),  # the header's logo
    path("admin/send/", include("console.urls")),  # the dashboard's sending pages, before the admin's catch-all
    path("admin/reports/", include("reports.urls")),  # the reports and their CSV/XLSX downloads
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: the site's and admin's language switch
    path("", include("sms.urls")),
    path("", include("softafrik.dialects.urls")),
    path("", include("django_prometheus.urls")),
    path("", include("website.urls")),  # the public site: /, /docs/, /tarifs/, /a-propos/
    # Last: any other path under an API dialect's prefix answers that dialect's 404 body.
    re_path(r"^api/V1/", ion.unknown_path),
    re_path(r"^api/", UnknownPathView.as_view()),
    re_path(r"^v2/", primotexto.unknown_path),
    re_path(r"^(?:SMS|push|omni)/", delevera_errors.unknown_path),
]

# The header and the titles are the admin theme's (UNFOLD in the settings, softafrik.dashboard).
admin.site.index_title = _("Your notifications")
