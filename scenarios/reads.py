"""Reading omni messages: a message of the tenant, and a page of its destinations with
their steps. Two queries per page, whatever its size."""

from __future__ import annotations

import uuid

from accounts.models import Tenant
from scenarios.models import OmniDestination, OmniMessage, OmniStep
from softafrik.errors import NotFound

DESTINATIONS_PAGE = 1000  # destinations per GET page


def omni_message_get(*, tenant: Tenant, message_id: str, field: str = "messageId") -> OmniMessage:
    """The tenant's omni message; NotFound for an unknown id or another tenant's."""
    try:
        pk = uuid.UUID(str(message_id))
    except ValueError:
        raise NotFound("Unknown reference.", field=field) from None
    message = OmniMessage.objects.filter(tenant=tenant, pk=pk).first()
    if message is None:
        raise NotFound("Unknown reference.", field=field)
    return message


def omni_destination_statuses(*, ids: list[int]) -> dict[int, str]:
    """The status of each of these destinations, by id. One query."""
    return dict(OmniDestination.objects.filter(pk__in=ids).values_list("pk", "status"))


def omni_destinations(*, message: OmniMessage, after: int | None = None, limit: int = DESTINATIONS_PAGE) -> list[dict]:
    """The message's destinations after the id ``after``, in order: each with its person's
    and device's contact points, its state and channel, and its steps (oldest first)."""
    rows = OmniDestination.objects.filter(message=message)
    if after is not None:
        rows = rows.filter(pk__gt=after)
    page = list(
        rows.order_by("pk").values(
            "pk",
            "given",
            "status",
            "channel",
            "step",
            "phone",
            "end_user__external_user_ref",
            "end_user__username",
            "end_user__email",
            "device__device_uid",
        )[:limit]
    )
    steps: dict[int, list[dict]] = {row["pk"]: [] for row in page}
    if page:
        for step in (
            OmniStep.objects.filter(destination_id__in=list(steps))
            .order_by("destination_id", "index")
            .values("destination_id", "index", "channel", "state", "reason", "started_at", "ended_at", "sent_at")
        ):
            steps[step["destination_id"]].append(step)
    for row in page:
        row["steps"] = steps[row["pk"]]
    return page


def omni_destinations_page(
    *, message: OmniMessage, after: int | None = None, size: int = DESTINATIONS_PAGE
) -> tuple[list[dict], int | None]:
    """A page of ``omni_destinations`` and the ``after`` of the next one (None: the last)."""
    rows = omni_destinations(message=message, after=after, limit=size + 1)
    more = len(rows) > size
    rows = rows[:size]
    return rows, rows[-1]["pk"] if more else None
