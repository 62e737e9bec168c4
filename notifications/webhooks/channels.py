"""What each channel adds to its events' webhook data: the tenant's own ids.

A status event names a send and a recipient row by the platform's ids; receivers know
the push message ``id`` and the device's ``device_uid``/``platform``, or the SMS ``ref``
(ION's ``ref``, Delevera's ``messageId``, Primotexto's ``snapshotId``) and ``number``.
A channel registers how its send id is named and one bulk loader of its recipients'
details: the consumer calls it once per batch with every recipient id of that channel.
The next channel (email, WhatsApp...) plugs in with one ``register`` call.

An account's events (``account.balance_low``) have no recipient row and no delivery
status, and the account has moved on by the time they are consumed: the event carries
its data, as the JSON object in its ``reason`` (written by ``billing.alerts``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ChannelPlug:
    send_key: str  # what the send id is called in ``data``
    details: Callable[[list[int]], dict[int, dict]]  # recipient ids -> their fields, one query
    missing: dict  # the fields of a recipient row that no longer exists
    # The event's reason is the JSON of its data (nothing to load, no status or reason).
    data_in_reason: bool = False


CHANNELS: dict[str, ChannelPlug] = {}


def register(channel: str, plug: ChannelPlug) -> None:
    CHANNELS[channel] = plug


def details_load(channel: str, recipient_ids: Iterable[int]) -> dict[int, dict]:
    plug = CHANNELS[channel]
    ids = sorted(set(recipient_ids))
    found = plug.details(ids) if ids else {}
    return {pk: found.get(pk, plug.missing) for pk in ids}


def _push_details(ids: list[int]) -> dict[int, dict]:
    from notifications.models import Delivery

    rows = Delivery.objects.filter(pk__in=ids).values_list("pk", "device__device_uid", "device__platform")
    return {pk: {"device_uid": uid, "platform": platform} for pk, uid, platform in rows}


def _sms_details(ids: list[int]) -> dict[int, dict]:
    from sms.models import SmsRecipient

    return {
        pk: {"number": number} for pk, number in SmsRecipient.objects.filter(pk__in=ids).values_list("pk", "number")
    }


register("push", ChannelPlug(send_key="id", details=_push_details, missing={"device_uid": "", "platform": ""}))
register("sms", ChannelPlug(send_key="ref", details=_sms_details, missing={"number": ""}))


def _omni_details(ids: list[int]) -> dict[int, dict]:
    from scenarios.models import OmniStep

    rows = OmniStep.objects.filter(pk__in=ids).values_list(
        "pk", "index", "channel", "destination__given", "destination__phone"
    )
    return {
        pk: {"step": index, "channel": channel, "destination": given or {}, "phone": phone}
        for pk, index, channel, given, phone in rows
    }


register(
    "omni",
    ChannelPlug(
        send_key="messageId",
        details=_omni_details,
        missing={"step": None, "channel": "", "destination": {}, "phone": ""},
    ),
)


def _no_details(ids: list[int]) -> dict[int, dict]:
    return {}


register("account", ChannelPlug(send_key="alert_id", details=_no_details, missing={}, data_in_reason=True))
