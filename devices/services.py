"""State changes for apps (and their credentials), end users and devices."""

from __future__ import annotations

import json
import re
import secrets
import string

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q

from accounts.models import Tenant
from devices.models import App, Device, EndUser
from devices.tokens import InvalidToken, token_canonical
from notifications.push.providers.webpush import generate_vapid_keypair
from sms.numbers import InvalidNumber, normalize_msisdn
from softafrik.errors import DomainError

PUID_ALPHABET = string.ascii_lowercase + string.digits
PUID_RANDOM_CHARS = 8
APP_CODE_BYTES = 9
FCM_REQUIRED_KEYS = ("type", "project_id", "private_key", "client_email", "token_uri")
# A BCP 47-ish language tag ("fr", "fr-TG", "pt_BR"), as devices give it.
LANG_RE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
LANG_MAX_LENGTH = 16
# The contact points unique per tenant, in the order a conflict is reported.
UNIQUE_CONTACTS = ("phone", "email", "username")
EMAIL_MAX_LENGTH = 254  # the column's (and RFC 5321's path limit)
USERNAME_MAX_LENGTH = 150  # the column's


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


def end_user_phone_normalize(*, tenant: Tenant, phone: str) -> str:
    """``phone`` in E.164, read as an SMS destination is (national numbers in the tenant's
    default region); raises DomainError naming ``phone``."""
    try:
        return normalize_msisdn(phone, default_region=tenant.default_region or None)
    except InvalidNumber as exc:
        raise DomainError(f"phone: {exc}.", field="phone", code="invalid") from exc


def end_user_email_normalize(*, email: str) -> str:
    """``email`` trimmed and lower-cased (how it is stored, compared and looked up: no
    mail provider tells "Ama@X.com" from "ama@x.com"); raises DomainError naming ``email``."""
    email = email.strip().lower()
    try:
        if len(email) > EMAIL_MAX_LENGTH:
            raise ValidationError("too long")
        validate_email(email)
    except ValidationError as exc:
        raise DomainError("email: Enter a valid email address.", field="email", code="invalid") from exc
    return email


def _contacts_clean(
    *, tenant: Tenant, phone: str | None, email: str | None, username: str | None, lang: str | None
) -> dict[str, str]:
    """The contact fields given (None: not given), normalized; "" clears one."""
    given: dict[str, str] = {}
    if phone is not None:
        given["phone"] = end_user_phone_normalize(tenant=tenant, phone=phone) if phone.strip() else ""
    if email is not None:
        given["email"] = end_user_email_normalize(email=email) if email.strip() else ""
    if username is not None:
        given["username"] = username.strip()
        if len(given["username"]) > USERNAME_MAX_LENGTH:
            message = f"username: Ensure this field has no more than {USERNAME_MAX_LENGTH} characters."
            raise DomainError(message, field="username", code="invalid")
    if lang is not None:
        lang = lang.strip()
        if lang and (len(lang) > LANG_MAX_LENGTH or not LANG_RE.match(lang)):
            raise DomainError("lang: Expected a language tag such as fr or fr-TG.", field="lang", code="invalid")
        given["lang"] = lang
    return given


def _contact_conflict_raise(*, tenant: Tenant, external_user_ref: str, contacts: dict[str, str]) -> None:
    """DomainError naming the first contact point another user of ``tenant`` holds."""
    wanted = {field: contacts[field] for field in UNIQUE_CONTACTS if contacts.get(field)}
    if not wanted:
        return
    query = Q()
    for field, value in wanted.items():
        query |= Q(**{field: value})
    others = EndUser.objects.filter(query, tenant=tenant).exclude(external_user_ref=external_user_ref)
    holders = others.values_list(*wanted)
    taken = {field for row in holders for field, value in zip(wanted, row, strict=True) if value == wanted[field]}
    for field in UNIQUE_CONTACTS:
        if field in taken:
            raise DomainError(f"{field}: {wanted[field]} is already another user's {field}.", field=field)


def end_user_register(
    *,
    tenant: Tenant,
    external_user_ref: str,
    meta: dict | None = None,
    phone: str | None = None,
    email: str | None = None,
    username: str | None = None,
    lang: str | None = None,
) -> tuple[EndUser, bool]:
    """The user for ``external_user_ref`` (created with a new PUID the first time).
    ``meta`` and each contact point replace the stored value when given (None: kept as
    it is; "" clears a contact point). Returns (user, created).

    The phone is stored in E.164, the email lower-cased. Raises DomainError naming the
    field for an invalid phone, email or lang, or for a phone, email or username another
    user of the tenant already has (also when both register it at once: the unique
    constraint's IntegrityError is mapped to the field); nothing is then written."""
    contacts = _contacts_clean(tenant=tenant, phone=phone, email=email, username=username, lang=lang)
    defaults = {**({"meta": meta} if meta is not None else {}), **contacts}
    for _ in range(3):  # a PUID collision (36^8 space) or a concurrent first call: try again
        # Checked first for a clear message; a concurrent holder that commits in between
        # makes the write fail, and the next pass's check names the field.
        _contact_conflict_raise(tenant=tenant, external_user_ref=external_user_ref, contacts=contacts)
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
    _contact_conflict_raise(tenant=tenant, external_user_ref=external_user_ref, contacts=contacts)
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
