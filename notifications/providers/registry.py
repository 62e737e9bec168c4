"""Provider clients per worker process: one per (app, platform, credentials version).

Clients hold long-lived connections (HTTP/2 to APNs, keep-alive pools to FCM and
push services) and cached auth tokens, so they are built once and reused by every
chunk this process sends. Changing an app's credentials bumps ``App.updated_at``; the
next lookup builds a fresh client and closes the stale one.
"""

from __future__ import annotations

import json
import logging
import threading

from django.conf import settings

from devices.models import App, Platform
from notifications.providers.base import PermanentProviderError, PushProvider

logger = logging.getLogger(__name__)

_clients: dict[tuple[int, str], tuple[float, PushProvider]] = {}
_lock = threading.Lock()


def _build(app: App, platform: str) -> PushProvider:
    if platform == Platform.ANDROID:
        if not app.has_fcm:
            raise PermanentProviderError("app has no FCM credentials")
        from notifications.providers.fcm import FcmProvider

        return FcmProvider(
            service_account=json.loads(app.fcm_service_account),
            api_url=settings.FCM_API_URL,
            name=f"softafrik-app-{app.pk}-{app.updated_at.timestamp()}",
        )
    if platform == Platform.IOS:
        if not app.has_apns:
            raise PermanentProviderError("app has no APNs credentials")
        from notifications.providers.apns import get_apns_provider

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
        )
    if platform == Platform.WEB:
        if not app.has_webpush:
            raise PermanentProviderError("app has no VAPID keys")
        from notifications.providers.webpush import WebPushProvider

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
    version = app.updated_at.timestamp()
    key = (app.pk, platform)
    with _lock:
        current = _clients.get(key)
        if current is not None and current[0] == version:
            return current[1]
        client = _build(app, platform)
        _clients[key] = (version, client)
    if current is not None and current[1] is not client:
        _close(current[1])
    return client


def providers_close_all() -> None:
    with _lock:
        clients = [client for _, client in _clients.values()]
        _clients.clear()
    for client in clients:
        _close(client)
    from notifications.providers.apns import close_apns_providers

    close_apns_providers()


def _close(client: PushProvider) -> None:
    from notifications.providers.apns import ApnsProvider

    if isinstance(client, ApnsProvider):
        return  # shared through get_apns_provider's cache: closed by close_apns_providers
    try:
        client.close()
    except Exception:  # closing a stale client must never break a send
        logger.exception("closing a push provider client failed")
