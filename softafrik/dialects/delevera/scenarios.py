"""Delevera omni scenarios (``/omni/v1/scenarios``): a tenant's saved flows of channels,
tried one after the other until a message is delivered.

A translation layer over ``scenarios.services`` and ``scenarios.selectors``; a flow's
rules are ``scenarios.flows``. A scenario answers as ``{scenarioKey, flow, name,
createDate, modifyDate}``, its flow as stored (each step's keys in the document's order).
Errors are Delevera's body, naming the field (``name``, ``flow[0].channel``...).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response

from accounts.scopes import SCENARIOS_MANAGE
from scenarios import selectors, services
from scenarios.flows import FROM_MAX, STEPS_MAX, TIMEOUT_MAX, flow_ordered
from scenarios.models import FlowChannel, Scenario
from scenarios.services import NAME_MAX
from softafrik.dialects.common import valid_input
from softafrik.dialects.delevera.errors import DeleveraView, delevera_date
from softafrik.dialects.delevera.sms import DeleveraError

TAGS = ["Delevera omni"]
FIELDS = {"scenario_key": "scenarioKey"}

FLOW_STEP_SCHEMA = {
    "type": "object",
    "properties": {
        "from": {"type": "string", "minLength": 1, "maxLength": FROM_MAX, "description": "Sender name"},
        "appCode": {
            "type": "string",
            "minLength": 1,
            "description": "Push steps: the app (one of yours); required unless the message names one",
        },
        "timeout": {
            "type": "integer",
            "minimum": 1,
            "maximum": TIMEOUT_MAX,
            "description": 'Seconds this step waits for "delivered" before the next step starts',
        },
        "channel": {"type": "string", "enum": list(FlowChannel.values)},
        "dataOnly": {"type": "boolean", "description": "Push steps: a data-only push (nothing shown)"},
    },
    "required": ["from", "channel"],
    "additionalProperties": False,
}
FLOW_SCHEMA = {"type": "array", "items": FLOW_STEP_SCHEMA, "minItems": 1, "maxItems": STEPS_MAX}


class DeleveraScenarioView(DeleveraView):
    required_scope = SCENARIOS_MANAGE
    field_names = FIELDS


# --- Input -------------------------------------------------------------------------------


@extend_schema_field(FLOW_SCHEMA)
class FlowField(serializers.JSONField):
    """Any JSON here: ``scenarios.flows.flow_validate`` judges it and names the step's field."""


class ScenarioIn(serializers.Serializer):
    name = serializers.CharField(max_length=NAME_MAX, help_text="Scenario name")
    flow = FlowField(help_text="The channels, tried one by one until the message is delivered")


class ScenarioPatchIn(serializers.Serializer):
    name = serializers.CharField(max_length=NAME_MAX, required=False, help_text="Scenario name")
    flow = FlowField(required=False, help_text="Replaces the whole flow")


# --- Output (OpenAPI) --------------------------------------------------------------------


class DeleveraScenario(serializers.Serializer):
    scenarioKey = serializers.CharField(help_text="Names the scenario in omni messages and in this API")
    flow = FlowField()
    name = serializers.CharField()
    createDate = serializers.DateTimeField()
    modifyDate = serializers.DateTimeField()


SCENARIO_KEY = OpenApiParameter("scenario_key", str, OpenApiParameter.PATH, description="scenarioKey")


def scenario_shape(scenario: Scenario) -> dict:
    return {
        "scenarioKey": scenario.key,
        "flow": flow_ordered(scenario.flow),
        "name": scenario.name,
        "createDate": delevera_date(scenario.created_at),
        "modifyDate": delevera_date(scenario.updated_at),
    }


# --- Views -------------------------------------------------------------------------------


class ScenariosView(DeleveraScenarioView):
    """The tenant's scenarios; a new one gets its scenarioKey."""

    @extend_schema(
        responses={200: DeleveraScenario(many=True), 401: DeleveraError, 405: DeleveraError},
        tags=TAGS,
        summary="Your scenarios",
    )
    def get(self, request):
        return Response([scenario_shape(s) for s in selectors.scenarios_list(tenant=request.user.tenant)])

    @extend_schema(
        request=ScenarioIn,
        responses={200: DeleveraScenario, 400: DeleveraError, 401: DeleveraError, 405: DeleveraError},
        tags=TAGS,
        summary="Create a scenario",
    )
    def post(self, request):
        data = valid_input(ScenarioIn, request)
        scenario = services.scenario_create(tenant=request.user.tenant, name=data["name"], flow=data["flow"])
        return Response(scenario_shape(scenario))


class ScenarioView(DeleveraScenarioView):
    """One scenario by its key; another tenant's is not found (and never changed)."""

    @extend_schema(
        parameters=[SCENARIO_KEY],
        responses={200: DeleveraScenario, 401: DeleveraError, 404: DeleveraError, 405: DeleveraError},
        tags=TAGS,
        summary="One scenario",
    )
    def get(self, request, scenario_key: str):
        return Response(scenario_shape(selectors.scenario_get(tenant=request.user.tenant, key=scenario_key)))

    @extend_schema(
        parameters=[SCENARIO_KEY],
        request=ScenarioPatchIn,
        responses={
            200: DeleveraScenario,
            400: DeleveraError,
            401: DeleveraError,
            404: DeleveraError,
            405: DeleveraError,
        },
        tags=TAGS,
        summary="Safely update a scenario: only the fields given change",
    )
    def patch(self, request, scenario_key: str):
        data = valid_input(ScenarioPatchIn, request)
        scenario = services.scenario_update(
            tenant=request.user.tenant, key=scenario_key, name=data.get("name"), flow=data.get("flow")
        )
        return Response(scenario_shape(scenario))

    @extend_schema(
        parameters=[SCENARIO_KEY],
        request=ScenarioIn,
        responses={
            200: DeleveraScenario,
            400: DeleveraError,
            401: DeleveraError,
            404: DeleveraError,
            405: DeleveraError,
        },
        tags=TAGS,
        summary="Replace a scenario's name and flow",
    )
    def put(self, request, scenario_key: str):
        data = valid_input(ScenarioIn, request)
        scenario = services.scenario_replace(
            tenant=request.user.tenant, key=scenario_key, name=data["name"], flow=data["flow"]
        )
        return Response(scenario_shape(scenario))

    @extend_schema(
        parameters=[SCENARIO_KEY],
        responses={200: DeleveraScenario, 401: DeleveraError, 404: DeleveraError, 405: DeleveraError},
        tags=TAGS,
        summary="Delete a scenario; answers what was deleted",
    )
    def delete(self, request, scenario_key: str):
        scenario = services.scenario_delete(tenant=request.user.tenant, key=scenario_key)
        return Response(scenario_shape(scenario))
