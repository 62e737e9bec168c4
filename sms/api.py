"""Delivery-receipt callbacks from HTTP SMS providers.

The URL carries the route's unguessable ``callback_token`` (Africa's Talking does not
sign its callbacks); Twilio's are also checked against X-Twilio-Signature.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from sms.models import RouteKind, SmsRoute
from sms.providers import africastalking, twilio
from sms.receipts import receipt_record
from sms.routing import callback_url


def _route(token: str, kind: str) -> SmsRoute | None:
    return SmsRoute.objects.filter(callback_token=token, kind=kind).first()


@csrf_exempt
@require_POST
def africastalking_callback(request, token: str):
    route = _route(token, RouteKind.AFRICASTALKING)
    if route is None:
        return HttpResponse(status=404)
    receipt = africastalking.parse_callback(request.POST)
    if receipt is None:
        return HttpResponse(status=400)
    receipt_record(route_id=route.pk, receipt=receipt)
    return HttpResponse(status=200)


@csrf_exempt
@require_POST
def twilio_callback(request, token: str):
    route = _route(token, RouteKind.TWILIO)
    if route is None:
        return HttpResponse(status=404)
    signature = request.headers.get("X-Twilio-Signature", "")
    url = callback_url(route) + "/twilio"
    params = {key: request.POST.getlist(key) for key in request.POST}
    if not twilio.validate_signature(route.secret, url, params, signature):
        return HttpResponse(status=403)
    receipt = twilio.parse_callback(request.POST)
    if receipt is not None:
        receipt_record(route_id=route.pk, receipt=receipt)
    return HttpResponse(status=204)
