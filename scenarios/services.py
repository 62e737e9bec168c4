"""State changes for scenarios: create, update (only what is given), replace, delete.

A message copies its scenario's flow when it is accepted (``OmniMessage.flow``): changing
or deleting a scenario never changes a message already sent through it.
"""

from __future__ import annotations

from django.db import transaction

from accounts.models import Tenant
from scenarios import selectors
from scenarios.flows import flow_validate
from scenarios.models import Scenario
from softafrik.errors import DomainError

NAME_MAX = Scenario._meta.get_field("name").max_length


def _name_validate(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise DomainError("name: Must be a non-empty string.", field="name")
    if len(name) > NAME_MAX:
        raise DomainError(f"name: At most {NAME_MAX} characters.", field="name")
    return name


def scenario_create(*, tenant: Tenant, name: str, flow: list) -> Scenario:
    """A new scenario with a fresh key. Raises DomainError naming the field (``name``,
    ``flow[0].channel``...); nothing is saved then."""
    return Scenario.objects.create(
        tenant=tenant, name=_name_validate(name), flow=flow_validate(tenant=tenant, flow=flow)
    )


def scenario_update(*, tenant: Tenant, key: str, name: str | None = None, flow: list | None = None) -> Scenario:
    """Change only what is given (None: keep it); a given flow replaces the whole flow.
    Raises NotFound for an unknown key or another tenant's, DomainError naming the field
    for a bad value; nothing changes then. Nothing given: the scenario as it is."""
    changes: dict = {}
    if name is not None:
        changes["name"] = _name_validate(name)
    if flow is not None:
        changes["flow"] = flow_validate(tenant=tenant, flow=flow)
    return _scenario_change(tenant=tenant, key=key, changes=changes)


def scenario_replace(*, tenant: Tenant, key: str, name: str, flow: list) -> Scenario:
    """Replace the name and the flow (both required). Raises as ``scenario_update``."""
    changes = {"name": _name_validate(name), "flow": flow_validate(tenant=tenant, flow=flow)}
    return _scenario_change(tenant=tenant, key=key, changes=changes)


def _scenario_change(*, tenant: Tenant, key: str, changes: dict) -> Scenario:
    with transaction.atomic():
        scenario = selectors.scenario_get(tenant=tenant, key=key, for_update=bool(changes))
        if not changes:
            return scenario
        for field, value in changes.items():
            setattr(scenario, field, value)
        # Only the fields given are written (updated_at is auto_now): a concurrent change
        # of another field is kept.
        scenario.save(update_fields=[*changes, "updated_at"])
    return scenario


def scenario_delete(*, tenant: Tenant, key: str) -> Scenario:
    """Delete the scenario and return it as it was (its key, name, flow and dates).
    Messages sent through it keep their copy of its flow. Raises NotFound for an unknown
    key or another tenant's; nothing is deleted then."""
    with transaction.atomic():
        scenario = selectors.scenario_get(tenant=tenant, key=key, for_update=True)
        scenario.delete()
    return scenario
