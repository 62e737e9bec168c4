"""Tenant-scoped reads for scenarios and their messages' outcomes. Another tenant's
scenario is never found."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from accounts.models import Tenant
from notifications.core.status import DeliveryStatus
from scenarios.models import FlowChannel, Scenario
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


def destination_outcomes(*, path: str = "destinations") -> dict[str, Count]:
    """Annotations counting the omni destinations at ``path`` (from the annotated model)
    that were delivered by push (``delivered_push``), by SMS (``delivered_sms``), or not
    at all (``undelivered``: failed, every step tried). Destinations still on their way
    are in none of them. Used as ``queryset.annotate(**destination_outcomes(...))``:
    one query whatever the number of rows, all three on one join."""

    def count(**where) -> Count:
        return Count(path, filter=Q(**{f"{path}__{name}": value for name, value in where.items()}))

    return {
        "delivered_push": count(status=DeliveryStatus.DELIVERED, channel=FlowChannel.PUSH),
        "delivered_sms": count(status=DeliveryStatus.DELIVERED, channel=FlowChannel.SMS),
        "undelivered": count(status=DeliveryStatus.FAILED),
    }
