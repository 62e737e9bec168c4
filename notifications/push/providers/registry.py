"""Provider clients per worker process: one per (app, platform, credentials version).

Clients hold long-lived connections (HTTP/2 to APNs, keep-alive pools to FCM and
push services) and cached auth tokens, so they are built once and reused by every
chunk this process sends. Changing an app's credentials bumps ``App.updated_at``; the
next lookup builds a fresh client and closes the stale one.
"""

from __future__ import annotations

import json
import logging

from django.conf import settings

from devices.models import App, Platform
from notifications.core.clients import ClientCache
from notifications.push.providers.base import PermanentProviderError, PushProvider

logger = logging.getLogger(__name__)


def _build(app: App, platform: str) -> PushProvider:
    if platform == Platform.ANDROID:
        if not app.has_fcm:
            raise PermanentProviderError("app has no FCM credentials")
        from notifications.push.providers.fcm import FcmProvider
        from notifications.push.providers.fcm_aiohttp import AiohttpFcmProvider

        # FCM_TRANSPORT: firebase-admin's send_each is kept to measure the default against.
        provider_class = FcmProvider if settings.FCM_TRANSPORT == "firebase-admin" else AiohttpFcmProvider
        return provider_class(
            service_account=json.loads(app.fcm_service_account),
            api_url=settings.FCM_API_URL,
            name=f"softafrik-app-{app.pk}-{app.updated_at.timestamp()}",
        )
    if platform == Platform.IOS:
        if not app.has_apns:
            raise PermanentProviderError("app has no APNs credentials")
        from notifications.push.providers.apns import get_apns_provider

        # Shared per (key, team, topic, environment): one HTTP/2 connection per process
        # even when several apps use the same key; owned by the apns module's cache.
        return get_apns_provider(
            key_pem=app.apns_key,
            key_id=app.apns_key_id,
            team_id=app.apns_team_id,
            topic=app.apns_topic,
            sandbox=app.apns_sandbox,
            url=settings.APNS_URL,
            ca_file=settings.APNS_CA_FILE,
            transport=settings.APNS_TRANSPORT,
        )
    if platform == Platform.WEB:
        if not app.has_webpush:
            raise PermanentProviderError("app has no VAPID keys")
        from notifications.push.providers.webpush import WebPushProvider

        return WebPushProvider(
            vapid_private_key=app.vapid_private_key,
            vapid_subject=settings.WEBPUSH_VAPID_SUBJECT,
            timeout=settings.WEBPUSH_TIMEOUT,
            allow_http=settings.WEBPUSH_ALLOW_HTTP,
        )
    raise PermanentProviderError(f"unknown platform {platform!r}")


def provider_for(app: App, platform: str) -> PushProvider:
    """The live client for ``app`` on ``platform``. Raises PermanentProviderError when the
    app lacks the credentials for it."""
    return _clients.get((app.pk, platform), app.updated_at.timestamp(), lambda: _build(app, platform))


def providers_close_all() -> None:
    _clients.close_all()
    from notifications.push.providers.apns import close_apns_providers

    close_apns_providers()


def _close(client: PushProvider) -> None:
    from notifications.push.providers.apns import ApnsProvider

    if not isinstance(client, ApnsProvider):  # shared through get_apns_provider's cache: closed there
        client.close()


_clients: ClientCache[PushProvider] = ClientCache("push provider", close=_close)
