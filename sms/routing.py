"""Which route a number takes, and the live route clients of this worker process.

Route clients hold long-lived connections (an SMPP bind, keep-alive HTTP sessions), so
each is built once per process and rebuilt when its route row changes (``updated_at``).
"""

from __future__ import annotations

import logging
import time

from django.conf import settings

from notifications.core.clients import ClientCache
from sms.models import RouteKind, SmsRoute
from sms.numbers import country_of
from sms.providers.base import Receipt
from sms.providers.base import SmsRoute as RouteClient

logger = logging.getLogger(__name__)

ROUTES_CACHE_SECONDS = 5.0  # how stale this process's view of the route table may be

_routes_cache: tuple[float, list[SmsRoute]] = (0.0, [])


def routes_active() -> list[SmsRoute]:
    global _routes_cache
    loaded_at, routes = _routes_cache
    if time.monotonic() - loaded_at > ROUTES_CACHE_SECONDS:
        routes = list(SmsRoute.objects.filter(is_active=True).order_by("priority", "pk"))
        _routes_cache = (time.monotonic(), routes)
    return routes


def routes_for(number: str, routes: list[SmsRoute]) -> list[SmsRoute]:
    """The routes that serve ``number``'s country, best first."""
    country = country_of(number)
    return [route for route in routes if not route.country_list or country in route.country_list]


def callback_url(route: SmsRoute) -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/sms/callbacks/{route.callback_token}"


def _build(route: SmsRoute) -> RouteClient:
    if route.kind == RouteKind.SMPP:
        from sms.providers.smpp import SmppRoute

        route_id = route.pk

        def on_receipt(receipt: Receipt) -> None:
            from sms.receipts import receipt_sink

            receipt_sink().put(route_id, receipt)

        return SmppRoute(
            host=route.host,
            port=route.port or 2775,
            system_id=route.system_id,
            password=route.secret,
            window=route.window,
            tps=route.tps,
            on_receipt=on_receipt,
        )
    if route.kind == RouteKind.AFRICASTALKING:
        from sms.providers.africastalking import AfricasTalkingRoute

        kwargs = {"base_url": route.base_url} if route.base_url else {}
        return AfricasTalkingRoute(username=route.username, api_key=route.secret, **kwargs)
    if route.kind == RouteKind.TWILIO:
        from sms.providers.twilio import TwilioRoute

        kwargs = {"base_url": route.base_url} if route.base_url else {}
        return TwilioRoute(
            account_sid=route.username,
            auth_token=route.secret,
            status_callback_url=callback_url(route) + "/twilio",
            **kwargs,
        )
    from sms.providers.log import LogRoute

    return LogRoute()


def route_client(route: SmsRoute) -> RouteClient:
    return _clients.get(route.pk, route.updated_at.timestamp(), lambda: _build(route))


def route_clients_close_all() -> None:
    global _routes_cache
    _routes_cache = (0.0, [])
    _clients.close_all()


_clients: ClientCache[RouteClient] = ClientCache("SMS route")
