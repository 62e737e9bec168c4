"""Tenant-scoped reads for scenarios and their messages' outcomes. Another tenant's
scenario is never found."""

from __future__ import annotations

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from accounts.models import Tenant
from notifications.core.status import DeliveryStatus
from scenarios.models import FlowChannel, OmniDestination, Scenario
from softafrik.errors import NotFound


def scenarios_list(*, tenant: Tenant) -> QuerySet[Scenario]:
    """``tenant``'s scenarios, oldest first."""
    return Scenario.objects.filter(tenant=tenant).order_by("id")


def scenario_get(*, tenant: Tenant, key: str, for_update: bool = False) -> Scenario:
    """``tenant``'s scenario with this key (locked when ``for_update``, inside a
    transaction); NotFound for an unknown key or another tenant's."""
    scenarios = Scenario.objects.filter(tenant=tenant, key=key)
    if for_update:
        scenarios = scenarios.select_for_update()
    scenario = scenarios.first()
    if scenario is None:
        raise NotFound("Unknown scenario key.", field="scenario_key")
    return scenario


def destination_outcomes(*, to: str) -> dict[str, Coalesce]:
    """Annotations counting the omni destinations of each annotated row (``to``: the path
    from a destination to that row, ``"message"`` for messages, ``"message__scenario"``
    for scenarios) delivered by push (``delivered_push``), by SMS (``delivered_sms``) or
    not at all (``undelivered``: failed, every step tried); destinations still on their
    way are in none. Used as ``queryset.annotate(**destination_outcomes(to=...))``.

    One query for a page of rows: each count is a correlated subquery on the
    (message, id) index, which PostgreSQL evaluates only for the rows the page keeps,
    so a page costs the same however many messages and destinations there are."""

    def count(**where) -> Coalesce:
        rows = (
            OmniDestination.objects.filter(**{to: OuterRef("pk")}, **where)
            .order_by()
            .values(to)
            .annotate(n=Count("pk"))
            .values("n")
        )
        return Coalesce(Subquery(rows, output_field=IntegerField()), 0)

    return {
        "delivered_push": count(status=DeliveryStatus.DELIVERED, channel=FlowChannel.PUSH),
        "delivered_sms": count(status=DeliveryStatus.DELIVERED, channel=FlowChannel.SMS),
        "undelivered": count(status=DeliveryStatus.FAILED),
    }
