"""State changes for apps (and their credentials), end users and devices."""

from __future__ import annotations

import json
import secrets
import string

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from django.db import IntegrityError, transaction

from accounts.models import Tenant
from devices.models import App, Device, EndUser
from devices.tokens import InvalidToken, token_canonical
from notifications.push.providers.webpush import generate_vapid_keypair
from softafrik.errors import DomainError

PUID_ALPHABET = string.ascii_lowercase + string.digits
PUID_RANDOM_CHARS = 8
APP_CODE_BYTES = 9
FCM_REQUIRED_KEYS = ("type", "project_id", "private_key", "client_email", "token_uri")


def fcm_service_account_validate(raw: str | dict) -> str:
    """The service-account JSON as a string; raises DomainError naming what is wrong."""
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError as exc:
        raise DomainError("The FCM service account is not valid JSON.", field="fcm_service_account") from exc
    missing = [key for key in FCM_REQUIRED_KEYS if not isinstance(data, dict) or not data.get(key)]
    if missing:
        raise DomainError(f"The FCM service account lacks {', '.join(missing)}.", field="fcm_service_account")
    if data["type"] != "service_account":
        raise DomainError("The FCM credentials must be a service account.", field="fcm_service_account")
    return json.dumps(data)


def apns_key_validate(pem: str) -> str:
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except ValueError as exc:
        raise DomainError("The APNs key is not a PEM (.p8) private key.", field="apns_key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise DomainError("The APNs key must be an ES256 (P-256) .p8 key.", field="apns_key")
    return pem.strip() + "\n"


def app_create(
    *,
    tenant: Tenant,
    name: str,
    fcm_service_account: str | dict | None = None,
    apns_key: str | None = None,
    apns_key_id: str = "",
    apns_team_id: str = "",
    apns_topic: str = "",
    apns_sandbox: bool = False,
) -> App:
    """Create an app with a fresh VAPID key pair and the given provider credentials."""
    if App.objects.filter(tenant=tenant, name=name).exists():
        raise DomainError(f"An app named {name!r} already exists.", field="app_name")
    app = app_identity_init(app=App(tenant=tenant, name=name))
    app_credentials_set(
        app=app,
        fcm_service_account=fcm_service_account,
        apns_key=apns_key,
        apns_key_id=apns_key_id,
        apns_team_id=apns_team_id,
        apns_topic=apns_topic,
        apns_sandbox=apns_sandbox,
    )
    return app


def app_identity_init(*, app: App) -> App:
    """Give a new (unsaved) app its public code and its own VAPID key pair."""
    app.code = "app_" + secrets.token_hex(APP_CODE_BYTES)
    app.vapid_private_key, app.vapid_public_key = generate_vapid_keypair()
    return app


def app_credentials_set(
    *,
    app: App,
    fcm_service_account: str | dict | None = None,
    apns_key: str | None = None,
    apns_key_id: str = "",
    apns_team_id: str = "",
    apns_topic: str = "",
    apns_sandbox: bool = False,
) -> App:
    """Validate and store credentials (each given part replaces the old one); saves ``app``."""
    if fcm_service_account:
        app.fcm_service_account = fcm_service_account_validate(fcm_service_account)
    if apns_key:
        if not (apns_key_id and apns_team_id and apns_topic):
            raise DomainError("An APNs key needs its key id, team id and topic.", field="apns_key_id")
        app.apns_key = apns_key_validate(apns_key)
        app.apns_key_id, app.apns_team_id, app.apns_topic = apns_key_id, apns_team_id, apns_topic
        app.apns_sandbox = apns_sandbox
    app.save()
    return app


def _new_puid(tenant: Tenant) -> str:
    suffix = "".join(secrets.choice(PUID_ALPHABET) for _ in range(PUID_RANDOM_CHARS))
    return f"sa_{tenant.pk}_{suffix}"


def end_user_register(*, tenant: Tenant, external_user_ref: str, meta: dict | None) -> tuple[EndUser, bool]:
    """The user for ``external_user_ref`` (created with a new PUID the first time);
    ``meta`` replaces the stored one when given. Returns (user, created)."""
    defaults = {"meta": meta} if meta is not None else {}
    for _ in range(3):  # a PUID collision (36^8 space) or a concurrent first call: try again
        try:
            with transaction.atomic():
                return EndUser.objects.update_or_create(
                    tenant=tenant,
                    external_user_ref=external_user_ref,
                    defaults=defaults,
                    create_defaults={**defaults, "puid": _new_puid(tenant)},
                )
        except IntegrityError:
            continue
    raise DomainError("Could not register the user, try again.", code="conflict")


def device_register(
    *,
    tenant: Tenant,
    end_user: EndUser,
    app: App,
    platform: str,
    device_token,
    device_uid: str = "",
    lang: str = "",
    country: str = "",
) -> tuple[Device, bool]:
    """Register a device, or update the known one with this token (moving it to
    ``end_user`` and reactivating it). Returns (device, created)."""
    try:
        token, digest = token_canonical(platform, device_token)
    except InvalidToken as exc:
        raise DomainError(f"device_token: {exc}", field="device_token") from exc
    values = {
        "end_user": end_user,
        "app": app,
        "platform": platform,
        "token": token,
        "device_uid": device_uid,
        "lang": lang,
        "country": country.upper(),
        "is_active": True,
        "deactivated_reason": "",
    }
    for _ in range(2):
        try:
            with transaction.atomic():
                return Device.objects.update_or_create(tenant=tenant, token_hash=digest, defaults=values)
        except IntegrityError:
            continue  # registered concurrently: the second pass updates it
    raise DomainError("Could not register the device, try again.", code="conflict")


def device_unregister(*, device: Device) -> None:
    Device.objects.filter(pk=device.pk).update(is_active=False, deactivated_reason="unregistered")


def devices_deactivate(*, device_ids: list[int], reason: str) -> int:
    """Deactivate dead tokens reported by a provider. One UPDATE, whatever the count."""
    if not device_ids:
        return 0
    return Device.objects.filter(pk__in=device_ids, is_active=True).update(
        is_active=False, deactivated_reason=reason[:200]
    )
