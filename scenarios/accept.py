"""Accepting an omni message: the flow resolved, the destinations found, the first step
started, in the request's transaction (``scenarios.engine`` runs the rest).

Every API that sends through a flow calls ``omni_send``: Delevera's omni product with a
saved scenario or a one-step ``channel``, its push and SMS products (one-step flows), and
the SoftAfrik to-user fallback (``push_send_to_user_with_fallback``). Field names in
errors are the omni product's (``appCode``, ``pushContent.text``, ``smsContent.from``,
``flow[1].from``...); each dialect renames them to its own.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import Tenant
from devices.models import App, Device, EndUser
from devices.selectors import end_users_by_contact
from notifications.models import Message
from notifications.push.accept import push_send_to_user
from scenarios import engine
from scenarios.models import FlowChannel, OmniDestination, OmniMessage, OmniState, OmniStep, Product, Scenario
from sms.numbers import InvalidNumber, normalize_msisdn
from sms.services import sender_resolve, text_segment
from softafrik.errors import DomainError, NotFound

DESTINATIONS_MAX = 100_000  # destinations one request names (each dialect may allow fewer)
APP_DEVICES_MAX = 10_000  # devices an empty destination list may reach (more: a broadcast)
CONTACT_KEYS = ("uid", "userId", "username", "email", "phone")
_USER_FIELDS = {"userId": "external_user_ref", "username": "username", "email": "email", "phone": "phone"}


@dataclass
class Resolved:
    """One destination as found: the device or person it names, and its number."""

    given: dict
    entry: int = 0  # the first entry of the request that names it
    device: Device | None = None
    end_user: EndUser | None = None
    phone: str = ""
    reason: str = ""  # why it has no number


@dataclass
class OmniAccepted:
    message: OmniMessage
    destinations: list[tuple[OmniDestination, Resolved]] = field(default_factory=list)
    devices_count: int = 0


def omni_send(
    *,
    tenant: Tenant,
    product: str,
    flow: list[dict],
    sender: str = "",
    destinations: list[dict],
    app: App | None = None,
    platform: str = "",
    push: dict | None = None,
    sms: dict | None = None,
    scenario: Scenario | None = None,
    start_at: datetime | None = None,
    read_number: Callable[[str], str] | None = None,
) -> OmniAccepted:
    """Accept a message through ``flow`` (validated steps: channel, from, appCode?,
    timeout?, dataOnly?) to ``destinations`` ({uid|userId|username|email|phone}; empty:
    every active device of the app). Raises DomainError (nothing written, nothing sent)
    for a push step without an app or content, an SMS step without text or with a
    refused sender, no destination, or a first SMS step whose send is refused.
    ``read_number``: the dialect's reading of a given phone before it is normalized
    (Delevera's: bare digits are international)."""
    steps = _flow_resolve(tenant=tenant, flow=flow, app=app, push=push, sms=sms, sender=sender)
    first_app = next((s["appId"] for s in steps if s["channel"] == FlowChannel.PUSH), None)
    resolved = destinations_resolve(
        tenant=tenant, entries=destinations, app_id=first_app, platform=platform, read_number=read_number
    )
    now = timezone.now()
    scheduled = start_at is not None and start_at > now
    with transaction.atomic():
        message = OmniMessage.objects.create(
            tenant=tenant,
            product=product,
            scenario=scenario,
            flow=steps,
            app=app,
            platform=platform,
            sender=sender,
            push_content=push or {},
            sms_content=sms or {},
            state=OmniState.SCHEDULED if scheduled else OmniState.RUNNING,
            start_at=start_at if scheduled else None,
            destinations_count=len(resolved),
        )
        rows = OmniDestination.objects.bulk_create(
            [
                OmniDestination(
                    message=message,
                    tenant=tenant,
                    given=r.given,
                    end_user=r.end_user,
                    device=r.device,
                    phone=r.phone,
                    channel=steps[0]["channel"],
                )
                for r in resolved
            ]
        )
        devices = 0
        if not scheduled:
            reasons = {row.pk: r.reason for row, r in zip(rows, resolved, strict=True) if r.reason}
            targets = engine.targets_of(rows, reasons)
            devices = engine.destinations_advance(message=message, index=0, targets=targets, now=now, raise_errors=True)
            if devices:
                OmniMessage.objects.filter(pk=message.pk).update(devices_count=devices)
                message.devices_count = devices
    return OmniAccepted(message=message, destinations=list(zip(rows, resolved, strict=True)), devices_count=devices)


@contextmanager
def _named(field: str):
    """A DomainError raised inside names ``field``: the input that gave the refused value."""
    try:
        yield
    except DomainError as exc:
        raise DomainError(exc.message, field=field, code=exc.code) from exc


def _flow_resolve(*, tenant: Tenant, flow: list[dict], app: App | None, push, sms, sender: str) -> list[dict]:
    """Each step with what it needs to run: a push step its app, an SMS step its approved
    sender (the SMS content's ``from``, else the step's, else the message's)."""
    if not flow:
        raise DomainError("The flow has no step.", field="flow")
    codes = {s.get("appCode") for s in flow if s.get("appCode")}
    apps = {a.code: a.pk for a in App.objects.filter(tenant=tenant, code__in=codes)} if codes else {}
    steps = []
    for index, step in enumerate(flow):
        resolved = {key: step[key] for key in ("channel", "from", "appCode", "timeout", "dataOnly") if key in step}
        if step["channel"] == FlowChannel.PUSH:
            code = step.get("appCode")
            if code and code not in apps:
                raise DomainError(f"Unknown appCode {code!r}.", field=f"flow[{index}].appCode")
            app_id = apps[code] if code else app.pk if app else None
            if app_id is None:
                raise DomainError("A push step needs an appCode, in the scenario or in the message.", field="appCode")
            if not (push or {}).get("text"):
                raise DomainError("A push step needs the push text.", field="pushContent.text")
            resolved["appId"] = app_id
        else:
            content = sms or {}
            if not content.get("text"):
                raise DomainError("An SMS step needs the SMS text.", field="smsContent.text")
            with _named("smsContent.text"):  # too long
                text_segment(text=content["text"])
            given, where = (
                (content["from"], "smsContent.from")
                if content.get("from")
                else (step["from"], f"flow[{index}].from")
                if step.get("from")
                else (sender, "from")
            )
            with _named(where):
                resolved["sender"] = sender_resolve(tenant=tenant, sender=given or None)
        steps.append(resolved)
    return steps


def destinations_resolve(
    *,
    tenant: Tenant,
    entries: list[dict],
    app_id: int | None,
    platform: str,
    read_number: Callable[[str], str] | None = None,
) -> list[Resolved]:
    """Find what each entry names: a device by ``uid`` (the newest active one of the app),
    else a person by userId, username, email or phone (each unique per tenant), else a
    bare number. Entries naming the same device, person or number are one destination.
    Empty: every active device of the app. A fixed number of queries."""
    if not entries:
        return _app_devices(tenant=tenant, app_id=app_id, platform=platform)
    if len(entries) > DESTINATIONS_MAX:
        raise DomainError(f"At most {DESTINATIONS_MAX} destinations per message.", field="destinations")
    uids = {e["uid"] for e in entries if e.get("uid")}
    devices: dict[str, Device] = {}
    if uids:
        query = Device.objects.filter(tenant=tenant, device_uid__in=uids, is_active=True).select_related("end_user")
        for device in query.filter(app_id=app_id) if app_id else query:
            if device.device_uid not in devices or device.pk > devices[device.device_uid].pk:
                devices[device.device_uid] = device
    numbers: dict[str, str | InvalidNumber] = {}
    region = tenant.default_region or None
    for raw in {e["phone"] for e in entries if e.get("phone")}:
        try:
            numbers[raw] = normalize_msisdn(read_number(str(raw)) if read_number else str(raw), default_region=region)
        except InvalidNumber as exc:
            numbers[raw] = exc
    users: dict[str, dict[str, EndUser]] = {}
    for key, column in _USER_FIELDS.items():
        if key == "phone":
            values = [n for n in numbers.values() if isinstance(n, str)]
        else:
            values = list({str(e[key]) for e in entries if e.get(key)})
        if values:  # by the value as given (an email matched lower-cased, as stored)
            users[key] = end_users_by_contact(tenant=tenant, field=column, values=values)
    resolved: list[Resolved] = []
    seen: set[tuple] = set()
    for position, entry in enumerate(entries):
        given = {key: str(entry[key]) for key in CONTACT_KEYS if entry.get(key) not in (None, "")}
        number = numbers.get(entry.get("phone")) if entry.get("phone") else None
        device = devices.get(entry.get("uid"))
        user = device.end_user if device else None
        for key in ("userId", "username", "email", "phone"):
            if user is None and given.get(key):
                lookup = number if key == "phone" else given[key]
                user = users.get(key, {}).get(lookup) if isinstance(lookup, str) else None
        phone = user.phone if user and user.phone else number if isinstance(number, str) else ""
        reason = str(number) if not phone and isinstance(number, InvalidNumber) else ""
        identity = (
            ("device", device.pk) if device else ("user", user.pk) if user else ("phone", phone) if phone else None
        )
        if identity in seen:
            continue
        if identity:
            seen.add(identity)
        resolved.append(Resolved(given=given, entry=position, device=device, end_user=user, phone=phone, reason=reason))
    return resolved


def _app_devices(*, tenant: Tenant, app_id: int | None, platform: str) -> list[Resolved]:
    if app_id is None:
        raise DomainError("Name the destinations (an SMS flow has no app to take devices from).", field="destinations")
    devices = Device.objects.filter(tenant=tenant, app_id=app_id, is_active=True).select_related("end_user")
    if platform:
        devices = devices.filter(platform=platform)
    found = list(devices.order_by("pk")[: APP_DEVICES_MAX + 1])
    if len(found) > APP_DEVICES_MAX:
        raise DomainError(
            f"The app has more than {APP_DEVICES_MAX} devices: name the destinations, or use a broadcast.",
            field="destinations",
        )
    if not found:
        raise DomainError("The app has no active device to send to.", field="destinations")
    return [
        Resolved(
            given={"uid": d.device_uid} if d.device_uid else {},
            device=d,
            end_user=d.end_user,
            phone=d.end_user.phone if d.end_user else "",
        )
        for d in found
    ]


# --- SoftAfrik: POST /api/push/to-user with a fallback ------------------------------------


def push_send_to_user_with_fallback(
    *, tenant: Tenant, puid: str, title: str, body: str, data: dict, sms_text: str, sms_from: str, after_seconds: int
) -> Message:
    """A to-user push (its inbox entry too) that becomes an SMS to the user's phone when
    none of the user's devices confirmed it within ``after_seconds``: a two-step flow
    whose push step is this push. Raises NotFound (puid) or DomainError (the user has no
    phone, the SMS sender or text is refused), and then writes nothing."""
    user = EndUser.objects.filter(tenant=tenant, puid=puid).values("pk", "phone").first()
    if user is None:
        raise NotFound(f"Unknown puid {puid!r}.", field="puid")
    if not user["phone"]:
        raise DomainError("The user has no phone number to send the SMS fallback to.", field="fallback.sms")
    with _named("fallback.sms.text"):
        text_segment(text=sms_text)
    with _named("fallback.sms.from"):
        sender = sender_resolve(tenant=tenant, sender=sms_from or None)
    flow = [
        {"channel": FlowChannel.PUSH.value, "timeout": after_seconds},
        {"channel": FlowChannel.SMS.value, "from": sms_from, "sender": sender},
    ]
    with transaction.atomic():
        message = push_send_to_user(tenant=tenant, puid=puid, title=title, body=body, data=data)
        now = timezone.now()
        omni = OmniMessage.objects.create(
            tenant=tenant,
            product=Product.SOFTAFRIK,
            flow=flow,
            sender=sms_from,
            push_content={"text": body, "from": title},
            sms_content={"text": sms_text, "from": sms_from},
            destinations_count=1,
        )
        destination = OmniDestination.objects.create(
            message=omni, tenant=tenant, end_user_id=user["pk"], phone=user["phone"], channel=FlowChannel.PUSH
        )
        OmniStep.objects.create(
            destination=destination,
            message=omni,
            tenant=tenant,
            index=0,
            channel=FlowChannel.PUSH,
            send_id=message.pk,
            due_at=now + timedelta(seconds=after_seconds),
            started_at=now,
        )
    return message
