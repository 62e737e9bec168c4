"""URL routes of the SMS dialects and the provider callbacks (included at the root)."""

from django.urls import path

from sms.api import callbacks

urlpatterns: list = [
    path("sms/callbacks/<str:token>/africastalking", callbacks.africastalking_callback),
    path("sms/callbacks/<str:token>/twilio", callbacks.twilio_callback),
]
