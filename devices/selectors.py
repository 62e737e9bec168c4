"""Tenant-scoped reads for apps, users and devices. Another tenant's row is never found."""

from __future__ import annotations

from accounts.models import Tenant
from devices.models import App, Device, EndUser
from devices.tokens import InvalidToken, token_lookup_hash
from softafrik.errors import NotFound


def app_get(*, tenant: Tenant, name: str) -> App:
    app = App.objects.filter(tenant=tenant, name=name).first()
    if app is None:
        raise NotFound(f"Unknown app_name {name!r}.", field="app_name")
    return app


def end_user_get(*, tenant: Tenant, puid: str) -> EndUser:
    end_user = EndUser.objects.filter(tenant=tenant, puid=puid).first()
    if end_user is None:
        raise NotFound(f"Unknown puid {puid!r}.", field="puid")
    return end_user


def device_get_by_token(*, tenant: Tenant, token, field: str = "device_token") -> Device:
    try:
        digest = token_lookup_hash(token)
    except InvalidToken:
        digest = None
    device = Device.objects.select_related("app").filter(tenant=tenant, token_hash=digest).first() if digest else None
    if device is None:
        raise NotFound("Unknown device_token.", field=field)
    return device
