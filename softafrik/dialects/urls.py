"""URL routes of the vendors' API dialects (included at the root; each dialect's
catch-all for unknown paths is in softafrik/urls.py, after every route)."""

from django.urls import path

import softafrik.converters  # noqa: F401  (the key and keypath converters)
from softafrik.dialects import ion, primotexto
from softafrik.dialects.delevera import messages as delevera_messages
from softafrik.dialects.delevera import push as delevera_push
from softafrik.dialects.delevera import scenarios as delevera_scenarios
from softafrik.dialects.delevera import sms as delevera

urlpatterns: list = [
    # ION SMS Gateway (the fixed paths before <ref>)
    path("api/V1/sms/unides", ion.IonUnidesView.as_view()),
    path("api/V1/sms/muldes", ion.IonMuldesView.as_view()),
    path("api/V1/sms/muldesp", ion.IonMuldespView.as_view()),
    path("api/V1/sms/<key:ref>", ion.IonSendView.as_view()),
    path("api/V1/sms/<key:ref>/annuler", ion.IonCancelView.as_view()),
    # Primotexto (notification SMS, status, stats, unsubscribers)
    path("v2/notification/messages/send", primotexto.PrimotextoSendView.as_view()),
    path("v2/notification/messages/stats", primotexto.PrimotextoStatsView.as_view()),
    path("v2/notification/messages/<key:snapshot_id>/status", primotexto.PrimotextoStatusView.as_view()),
    path("v2/unsubscribers/default/contacts", primotexto.PrimotextoUnsubscribersView.as_view()),
    # Delevera SMS
    path("SMS/v1/messages", delevera.DeleveraMessagesView.as_view()),
    path("SMS/v1/messages/<key:message_id>", delevera.DeleveraMessageView.as_view()),
    # Delevera push: applications and their devices (a device uid may hold a "/")
    path("push/v1/applications", delevera_push.ApplicationsView.as_view()),
    path("push/v1/applications/<key:app_code>", delevera_push.ApplicationView.as_view()),
    path("push/v1/applications/<key:app_code>/devices", delevera_push.DevicesView.as_view()),
    path("push/v1/applications/<key:app_code>/devices/<keypath:device_uid>", delevera_push.DeviceView.as_view()),
    # Delevera omni: scenarios
    path("omni/v1/scenarios", delevera_scenarios.ScenariosView.as_view()),
    path("omni/v1/scenarios/<key:scenario_key>", delevera_scenarios.ScenarioView.as_view()),
    # Delevera push and omni messages: one machinery (the omni engine), read alike under both
    path("push/v1/messages", delevera_messages.PushMessagesView.as_view()),
    path("push/v1/messages/<key:message_id>", delevera_messages.PushMessageView.as_view()),
    path("omni/v1/messages", delevera_messages.OmniMessagesView.as_view()),
    path("omni/v1/messages/<key:message_id>", delevera_messages.OmniMessageView.as_view()),
]
