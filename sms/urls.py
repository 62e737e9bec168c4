"""URL routes of the SMS providers' delivery callbacks (included at the root)."""

from django.urls import path

from sms import api

urlpatterns: list = [
    path("sms/callbacks/<str:token>/africastalking", api.africastalking_callback),
    path("sms/callbacks/<str:token>/twilio", api.twilio_callback),
]
