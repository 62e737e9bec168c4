"""URL routes of the SMS providers' delivery callbacks (included at the root)."""

from django.urls import path

import softafrik.converters  # noqa: F401  (the key and keypath converters)
from sms import api

urlpatterns: list = [
    path("sms/callbacks/<key:token>/africastalking", api.africastalking_callback),
    path("sms/callbacks/<key:token>/twilio", api.twilio_callback),
]
