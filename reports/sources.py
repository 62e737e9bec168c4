"""What the reports consumer needs to know of the recipients its events name, read in
bulk per batch (one query per channel, never per row): the send's tenant-side
dimensions, the price, the destination, and when the message was due to go out.

Events carry the tenant, the send, the recipient row and the status, not the app,
sender, country or price: those are the channels' own columns, joined here once per
batch as billing's consumer does for its charges.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from notifications.models import Delivery
from scenarios.models import OmniStep
from sms.models import SmsRecipient
from sms.numbers import country_or_blank


class Source(NamedTuple):
    """One recipient as the aggregates see it."""

    app: str
    sender: str
    country: str
    category: str
    campaign: str
    scenario: str
    price: int  # minor units settled when the network takes it (omni: its steps' sends carry it)
    due_at: datetime | None  # when it was due to go out: the time to deliver starts there
    destination: str  # what the failures list shows: the number, or the push app


def push_sources(ids: list[int]) -> dict[int, Source]:
    rows = Delivery.objects.filter(pk__in=ids).values_list(
        "pk", "message__app__name", "device__app__name", "device__country", "message__unit_price", "message__created_at"
    )
    found = {}
    for pk, message_app, device_app, country, price, created_at in rows:
        app = message_app or device_app or ""
        found[pk] = Source(app, "", country or "", "", "", "", price, created_at, app)
    return found


def sms_sources(ids: list[int]) -> dict[int, Source]:
    rows = SmsRecipient.objects.filter(pk__in=ids).values_list(
        "pk",
        "number",
        "price",
        "sent_at",
        "message__kind",
        "message__sender",
        "message__category",
        "message__campaign_name",
        "message__created_at",
        "message__scheduled_at",
    )
    found = {}
    for pk, number, price, sent_at, kind, sender, category, campaign, created_at, scheduled_at in rows:
        # A spread campaign releases each number in its own batch, a time no column keeps:
        # its clock starts at the hand-off. Any other send's at its accept or its schedule.
        due_at = sent_at if kind == "campaign" else max(created_at, scheduled_at or created_at)
        found[pk] = Source("", sender, country_or_blank(number), category, campaign, "", price, due_at, number)
    return found


def omni_sources(step_ids: list[int]) -> dict[int, Source]:
    """Omni destinations, found by the step their final event names."""
    rows = OmniStep.objects.filter(pk__in=step_ids).values_list(
        "pk",
        "message__app__name",
        "message__sender",
        "message__scenario__name",
        "message__created_at",
        "message__start_at",
        "destination__phone",
    )
    found = {}
    for pk, app, sender, scenario, created_at, start_at, phone in rows:
        country = country_or_blank(phone) if phone else ""
        due_at = max(created_at, start_at or created_at)
        found[pk] = Source(app or "", sender, country, "", "", scenario or "", 0, due_at, phone or app or "")
    return found
