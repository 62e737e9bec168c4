"""Tenant-scoped reads for apps, users and devices. Another tenant's row is never found."""

from __future__ import annotations

from django.db.models import BooleanField, Count, ExpressionWrapper, Q, QuerySet

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


# The fields an omni destination may name a person by (Delevera's userId is the ref).
CONTACT_FIELDS = ("external_user_ref", "username", "email", "phone")


def end_users_by_contact(*, tenant: Tenant, field: str, values: list[str]) -> dict[str, EndUser]:
    """``tenant``'s users whose ``field`` is one of ``values``, by that value; a value no
    user has is absent. One query, whatever the count.

    Values are matched as stored: a phone in E.164 (normalizing one is the caller's job,
    ``devices.services.end_user_phone_normalize``), an email lower-cased (done here: the
    key is then the value as given). Empty values match nobody. Raises ValueError for a
    field outside CONTACT_FIELDS."""
    if field not in CONTACT_FIELDS:
        raise ValueError(f"Unknown contact field {field!r}; expected one of {', '.join(CONTACT_FIELDS)}.")
    wanted: dict[str, list[str]] = {}
    for value in values:
        if value:
            wanted.setdefault(value.strip().lower() if field == "email" else value, []).append(value)
    if not wanted:
        return {}
    found: dict[str, EndUser] = {}
    for end_user in EndUser.objects.filter(tenant=tenant, **{f"{field}__in": list(wanted)}):
        for given in wanted.get(getattr(end_user, field), ()):
            found[given] = end_user
    return found


# --- Delevera push: apps with their providers and device counts, an app's devices --------

# Credentials a listing never needs: the provider flags are computed in SQL (an empty
# secret is stored empty, see EncryptedTextField), so no secret is decrypted.
_SECRETS = ("fcm_service_account", "apns_key", "vapid_private_key")


def apps_overview(*, tenant: Tenant) -> QuerySet[App]:
    """``tenant``'s apps, each annotated with ``fcm_active`` and ``apns_active`` (what
    ``App.has_fcm`` and ``App.has_apns`` say) and ``active_devices`` (its active devices).
    One query, whatever the number of apps."""
    return (
        App.objects.filter(tenant=tenant)
        .defer(*_SECRETS)
        .annotate(
            fcm_active=ExpressionWrapper(~Q(fcm_service_account=""), output_field=BooleanField()),
            apns_active=ExpressionWrapper(
                ~Q(apns_key="") & ~Q(apns_key_id="") & ~Q(apns_team_id="") & ~Q(apns_topic=""),
                output_field=BooleanField(),
            ),
            active_devices=Count("devices", filter=Q(devices__is_active=True)),
        )
        .order_by("id")
    )


def app_overview_get(*, tenant: Tenant, code: str) -> App:
    """``tenant``'s app with this code, annotated as in ``apps_overview``; NotFound otherwise."""
    app = apps_overview(tenant=tenant).filter(code=code).first()
    if app is None:
        raise NotFound("Unknown app code.", field="app_code")
    return app


def app_get_by_code(*, tenant: Tenant, code: str) -> App:
    app = App.objects.filter(tenant=tenant, code=code).defer(*_SECRETS).first()
    if app is None:
        raise NotFound("Unknown app code.", field="app_code")
    return app


def app_codes_known(*, tenant: Tenant, codes) -> set[str]:
    """Which of ``codes`` are codes of ``tenant``'s apps (another tenant's are not). One query."""
    codes = {code for code in codes if code}
    if not codes:
        return set()
    return set(App.objects.filter(tenant=tenant, code__in=codes).values_list("code", flat=True))


def app_devices_page(*, app: App, after: int | None, limit: int) -> list[Device]:
    """Up to ``limit`` of ``app``'s active devices with their users, in id order, those
    after the device id ``after`` (a keyset page: the partial index on (app, id) serves
    every page alike, however deep)."""
    devices = Device.objects.filter(app=app, is_active=True).select_related("end_user").order_by("id")
    if after is not None:
        devices = devices.filter(id__gt=after)
    return list(devices[:limit])


def app_device_get(*, app: App, device_uid: str) -> Device:
    """``app``'s newest active device with this uid (a reinstall registers a new token
    under the same uid), with its user; NotFound otherwise."""
    device = (
        Device.objects.filter(app=app, is_active=True, device_uid=device_uid)
        .select_related("end_user")
        .order_by("-id")
        .first()
        if device_uid
        else None
    )
    if device is None:
        raise NotFound("Unknown device uid.", field="device_uid")
    return device
