"""Delevera omni scenarios (/omni/v1/scenarios): the document's examples verbatim, the
flow's validation naming the field, Delevera's error bodies, an outsider who finds and
changes nothing; and the scenarios' admin with its delivery counts."""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.scopes import DELIVERIES_CONFIRM
from accounts.services import api_key_create
from devices.services import app_create
from notifications.core.status import DeliveryStatus
from scenarios.models import OmniDestination, OmniMessage, OmniStep, Scenario
from scenarios.services import scenario_create
from softafrik.dialects.delevera.push import delevera_date

pytestmark = pytest.mark.django_db

SCENARIOS = "/omni/v1/scenarios"
KEY = re.compile(r"^[0-9a-f]{24}$")
SCENARIO_KEYS = ["scenarioKey", "flow", "name", "createDate", "modifyDate"]


@pytest.fixture
def app_code(owner) -> str:
    """The owner's app code, for the document's "someAppCode"."""
    return app_create(tenant=owner.tenant, name="Shop").code


def bearer(tenant_client) -> dict:
    return {"Authorization": f"Bearer {tenant_client.key}"}


def call(tenant_client, method: str, path: str, body=None, content_type="application/json"):
    data = None if body is None else json.dumps(body)
    return getattr(tenant_client.client, method)(
        path, data=data, content_type=content_type, headers=bearer(tenant_client)
    )


def as_documented(scenario: Scenario) -> dict:
    scenario.refresh_from_db()
    return {
        "scenarioKey": scenario.key,
        "flow": scenario.flow,
        "name": scenario.name,
        "createDate": delevera_date(scenario.created_at),
        "modifyDate": delevera_date(scenario.updated_at),
    }


def push_and_sms(tenant, *, app_code: str | None = None, sms_from="hamarshi", name="PUSH && SMS") -> Scenario:
    push = {"from": "dashboard.api", **({"appCode": app_code} if app_code else {}), "timeout": 50, "channel": "push"}
    return scenario_create(tenant=tenant, name=name, flow=[push, {"from": sms_from, "channel": "sms"}])


def snapshot(scenario: Scenario) -> tuple:
    row = Scenario.objects.get(pk=scenario.pk)
    return (row.name, row.flow, row.updated_at)


# --- The document's examples -------------------------------------------------------------


def test_create_is_the_documented_example(owner, app_code):
    body = {
        "name": "PUSH && SMS",
        "flow": [
            {"from": "dashboard.api", "appCode": app_code, "timeout": 50, "channel": "push"},
            {"from": "hamarshi", "channel": "sms"},
        ],
    }

    response = call(owner, "post", SCENARIOS, body)

    assert response.status_code == 200
    scenario = Scenario.objects.get()
    answer = response.json()
    assert list(answer) == SCENARIO_KEYS
    assert answer == {
        "scenarioKey": scenario.key,
        "flow": [
            {"from": "dashboard.api", "appCode": app_code, "timeout": 50, "channel": "push"},
            {"from": "hamarshi", "channel": "sms"},
        ],
        "name": "PUSH && SMS",
        "createDate": delevera_date(scenario.created_at),
        "modifyDate": delevera_date(scenario.updated_at),
    }
    assert KEY.match(answer["scenarioKey"])
    assert (scenario.tenant, scenario.name, scenario.flow) == (owner.tenant, "PUSH && SMS", body["flow"])


def test_list_is_the_documented_example(owner, app_code):
    first = push_and_sms(owner.tenant, app_code=app_code, sms_from="from")
    second = push_and_sms(owner.tenant, app_code=app_code, sms_from="someSender")

    response = call(owner, "get", SCENARIOS)

    assert response.status_code == 200
    assert response.json() == [as_documented(first), as_documented(second)]
    assert response.json()[1]["flow"] == [
        {"from": "dashboard.api", "appCode": app_code, "timeout": 50, "channel": "push"},
        {"from": "someSender", "channel": "sms"},
    ]


def test_get_one_is_the_documented_example(owner):
    scenario = push_and_sms(owner.tenant)  # the document's push step names no appCode

    response = call(owner, "get", f"{SCENARIOS}/{scenario.key}")

    assert response.status_code == 200
    assert list(response.json()) == SCENARIO_KEYS
    assert [list(step) for step in response.json()["flow"]] == [["from", "timeout", "channel"], ["from", "channel"]]
    assert response.json() == {
        "scenarioKey": scenario.key,
        "flow": [
            {"from": "dashboard.api", "timeout": 50, "channel": "push"},
            {"from": "hamarshi", "channel": "sms"},
        ],
        "name": "PUSH && SMS",
        "createDate": delevera_date(scenario.created_at),
        "modifyDate": delevera_date(scenario.updated_at),
    }


def test_patch_name_is_the_documented_example_and_keeps_the_flow(owner):
    scenario = push_and_sms(owner.tenant)
    created = delevera_date(scenario.created_at)

    # The document's own Content-Type, as its curl sends it.
    response = call(
        owner,
        "patch",
        f"{SCENARIOS}/{scenario.key}",
        {"name": "New scenario name"},
        content_type="application/json,application/json",
    )

    assert response.status_code == 200
    scenario.refresh_from_db()
    assert response.json() == {
        "scenarioKey": scenario.key,
        "flow": [
            {"from": "dashboard.api", "timeout": 50, "channel": "push"},
            {"from": "hamarshi", "channel": "sms"},
        ],
        "name": "New scenario name",
        "createDate": created,
        "modifyDate": delevera_date(scenario.updated_at),
    }
    assert scenario.name == "New scenario name"
    assert scenario.updated_at > scenario.created_at


def test_put_is_the_documented_single_flow_example(owner, app_code):
    scenario = push_and_sms(owner.tenant)
    body = {
        "flow": [{"from": "dashboard.api", "appCode": app_code, "timeout": 44, "channel": "push"}],
        "name": "single flow",
    }

    response = call(owner, "put", f"{SCENARIOS}/{scenario.key}", body)

    assert response.status_code == 200
    assert response.json() == {
        "scenarioKey": scenario.key,
        "flow": [{"from": "dashboard.api", "appCode": app_code, "timeout": 44, "channel": "push"}],
        "name": "single flow",
        "createDate": delevera_date(scenario.created_at),
        "modifyDate": delevera_date(Scenario.objects.get().updated_at),
    }
    assert Scenario.objects.get().flow == body["flow"]


def test_delete_is_the_documented_example_and_answers_the_deleted_scenario(owner):
    scenario = push_and_sms(owner.tenant, name="New scenario name")
    deleted = as_documented(scenario)

    response = call(owner, "delete", f"{SCENARIOS}/{scenario.key}")

    assert response.status_code == 200
    assert response.json() == deleted
    assert response.json()["flow"] == [
        {"from": "dashboard.api", "timeout": 50, "channel": "push"},
        {"from": "hamarshi", "channel": "sms"},
    ]
    assert Scenario.objects.count() == 0
    assert call(owner, "get", f"{SCENARIOS}/{scenario.key}").status_code == 404


# --- Create, update, replace: beyond the examples ----------------------------------------


def test_a_step_answers_in_the_documents_key_order_however_it_was_given_or_stored(owner, app_code):
    flow = [
        {"dataOnly": True, "channel": "push", "timeout": 30, "appCode": app_code, "from": "Shop"},
        {"channel": "sms", "timeout": 10, "from": "Shop"},
    ]
    order = [["from", "appCode", "timeout", "channel", "dataOnly"], ["from", "timeout", "channel"]]

    created = call(owner, "post", SCENARIOS, {"name": "Ordered", "flow": flow})
    key = created.json()["scenarioKey"]
    read = [
        call(owner, "get", f"{SCENARIOS}/{key}").json()["flow"],
        call(owner, "get", SCENARIOS).json()[0]["flow"],
        call(owner, "patch", f"{SCENARIOS}/{key}", {"name": "Renamed"}).json()["flow"],
    ]

    assert created.status_code == 200
    assert [list(step) for step in created.json()["flow"]] == order
    for steps in read:
        assert [list(step) for step in steps] == order
        assert steps == created.json()["flow"]


def test_patch_with_a_flow_replaces_the_flow_and_keeps_the_name(owner, app_code):
    scenario = push_and_sms(owner.tenant, app_code=app_code)

    response = call(owner, "patch", f"{SCENARIOS}/{scenario.key}", {"flow": [{"from": "Shop", "channel": "sms"}]})

    assert response.status_code == 200
    assert (response.json()["name"], response.json()["flow"]) == ("PUSH && SMS", [{"from": "Shop", "channel": "sms"}])
    assert Scenario.objects.get().flow == [{"from": "Shop", "channel": "sms"}]


def test_patch_with_nothing_changes_nothing(owner):
    scenario = push_and_sms(owner.tenant)
    before = snapshot(scenario)

    response = call(owner, "patch", f"{SCENARIOS}/{scenario.key}", {})

    assert response.status_code == 200
    assert response.json() == as_documented(scenario)
    assert snapshot(scenario) == before


def test_patch_with_a_bad_flow_changes_nothing_not_even_the_name(owner):
    scenario = push_and_sms(owner.tenant)
    before = snapshot(scenario)

    response = call(
        owner, "patch", f"{SCENARIOS}/{scenario.key}", {"name": "Renamed", "flow": [{"from": "x", "channel": "fax"}]}
    )

    assert response.status_code == 400
    assert response.json()["field"] == "flow[0].channel"
    assert snapshot(scenario) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "only a name"}, "flow"),
        ({"flow": [{"from": "x", "channel": "sms"}]}, "name"),
    ],
)
def test_put_needs_both_name_and_flow(owner, body, field):
    scenario = push_and_sms(owner.tenant)
    before = snapshot(scenario)

    response = call(owner, "put", f"{SCENARIOS}/{scenario.key}", body)

    assert response.status_code == 400
    assert response.json() == {"code": 400, "message": f"{field}: This field is required.", "field": field}
    assert snapshot(scenario) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"flow": [{"from": "x", "channel": "sms"}]}, "name"),
        ({"name": "", "flow": [{"from": "x", "channel": "sms"}]}, "name"),
        ({"name": "   ", "flow": [{"from": "x", "channel": "sms"}]}, "name"),
        ({"name": None, "flow": [{"from": "x", "channel": "sms"}]}, "name"),
        ({"name": ["a"], "flow": [{"from": "x", "channel": "sms"}]}, "name"),
        ({"name": "n" * 201, "flow": [{"from": "x", "channel": "sms"}]}, "name"),
        ({"name": "No flow"}, "flow"),
        ({"name": "Null flow", "flow": None}, "flow"),
    ],
)
def test_create_with_a_bad_name_or_no_flow_is_400_naming_it(owner, body, field):
    response = call(owner, "post", SCENARIOS, body)

    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == (400, field)
    assert Scenario.objects.count() == 0


def test_a_200_character_name_is_accepted(owner):
    response = call(owner, "post", SCENARIOS, {"name": "n" * 200, "flow": [{"from": "x", "channel": "sms"}]})

    assert response.status_code == 200
    assert Scenario.objects.get().name == "n" * 200


# --- The flow's validation ---------------------------------------------------------------

SMS = {"from": "Shop", "channel": "sms"}


@pytest.mark.parametrize(
    ("flow", "field", "message"),
    [
        ([], "flow", "Must have at least one step."),
        ({"from": "x", "channel": "sms"}, "flow", "Must be a list of steps."),
        ("push", "flow", "Must be a list of steps."),
        ([SMS] * 6, "flow", "At most 5 steps."),
        (["sms"], "flow[0]", "Must be an object."),
        ([SMS, None], "flow[1]", "Must be an object."),
        ([{"from": "x"}], "flow[0].channel", "This field is required."),
        ([{"from": "x", "channel": "fax"}], "flow[0].channel", "Must be one of push, sms."),
        ([{"from": "x", "channel": "SMS"}], "flow[0].channel", "Must be one of push, sms."),
        ([{"from": "x", "channel": ["sms"]}], "flow[0].channel", "Must be one of push, sms."),
        ([SMS, {"channel": "sms"}], "flow[1].from", "This field is required."),
        ([SMS, {"from": "", "channel": "sms"}], "flow[1].from", "Must be a non-empty string."),
        ([SMS, {"from": "  ", "channel": "sms"}], "flow[1].from", "Must be a non-empty string."),
        ([SMS, {"from": 5, "channel": "sms"}], "flow[1].from", "Must be a non-empty string."),
        ([SMS, {"from": "f" * 101, "channel": "sms"}], "flow[1].from", "At most 100 characters."),
        ([{"from": "x", "channel": "push", "appCode": ""}], "flow[0].appCode", "Must be a non-empty string."),
        ([{"from": "x", "channel": "push", "appCode": 12}], "flow[0].appCode", "Must be a non-empty string."),
        ([{"from": "x", "channel": "push", "appCode": "app_nope"}], "flow[0].appCode", "Unknown app code."),
        ([{"from": "x", "channel": "sms", "appCode": "app_nope"}], "flow[0].appCode", "Only a push step takes it."),
        ([{"from": "x", "channel": "sms", "dataOnly": True}], "flow[0].dataOnly", "Only a push step takes it."),
        ([{"from": "x", "channel": "push", "dataOnly": "yes"}], "flow[0].dataOnly", "Must be true or false."),
        ([{"from": "x", "channel": "push", "timeout": 0}], "flow[0].timeout", "Must be between 1 and 86400 seconds."),
        (
            [{"from": "x", "channel": "push", "timeout": 86401}],
            "flow[0].timeout",
            "Must be between 1 and 86400 seconds.",
        ),
        ([{"from": "x", "channel": "push", "timeout": -5}], "flow[0].timeout", "Must be between 1 and 86400 seconds."),
        ([{"from": "x", "channel": "push", "timeout": "50"}], "flow[0].timeout", "Must be an integer (seconds)."),
        ([{"from": "x", "channel": "push", "timeout": 1.5}], "flow[0].timeout", "Must be an integer (seconds)."),
        ([{"from": "x", "channel": "push", "timeout": True}], "flow[0].timeout", "Must be an integer (seconds)."),
        ([{"from": "x", "channel": "push", "timeout": None}], "flow[0].timeout", "Must be an integer (seconds)."),
        ([{"from": "x", "channel": "push", "title": "t"}], "flow[0].title", "Unknown key: title."),
        ([{"from": "x", "channel": "push", "\ud800": 1}], "flow[0].\\ud800", "Unknown key: \\ud800."),
        ([{"from": "a\x00b", "channel": "sms"}], "flow[0].from", "Must not contain NUL or surrogate characters."),
        ([{"from": "a\ud800", "channel": "sms"}], "flow[0].from", "Must not contain NUL or surrogate characters."),
        (
            [{"from": "x", "appCode": "a\x00", "channel": "push"}],
            "flow[0].appCode",
            "Must not contain NUL or surrogate characters.",
        ),
        ([SMS, {"from": "x", "channel": "sms", "b": 1, "a": 2}], "flow[1].b", "Unknown keys: b, a."),
    ],
)
def test_a_bad_flow_is_400_naming_the_field(owner, flow, field, message):
    response = call(owner, "post", SCENARIOS, {"name": "Bad", "flow": flow})

    assert response.status_code == 400
    assert response.json() == {"code": 400, "message": f"{field}: {message}", "field": field}
    assert Scenario.objects.count() == 0


def test_steps_are_judged_in_order(owner):
    flow = [{"from": "x", "channel": "push", "appCode": "app_nope"}, {"from": "x", "channel": "fax"}]

    response = call(owner, "post", SCENARIOS, {"name": "Bad", "flow": flow})

    assert response.json()["field"] == "flow[0].appCode"


def test_the_limits_are_accepted(owner, app_code):
    flow = [
        {"from": "f" * 100, "appCode": app_code, "timeout": 1, "channel": "push", "dataOnly": False},
        {"from": "x", "timeout": 86400, "channel": "sms"},
        *[SMS] * 3,
    ]

    response = call(owner, "post", SCENARIOS, {"name": "Limits", "flow": flow})

    assert response.status_code == 200
    assert response.json()["flow"] == flow


def test_a_push_step_may_leave_app_code_to_the_message(owner):
    response = call(owner, "post", SCENARIOS, {"name": "Push", "flow": [{"from": "x", "channel": "push"}]})

    assert response.status_code == 200
    assert response.json()["flow"] == [{"from": "x", "channel": "push"}]


def test_another_tenants_app_code_is_400_naming_it(owner, outsider, app_code):
    response = call(
        outsider, "post", SCENARIOS, {"name": "Theirs", "flow": [{"from": "x", "appCode": app_code, "channel": "push"}]}
    )

    assert response.status_code == 400
    assert response.json() == {"code": 400, "message": "flow[0].appCode: Unknown app code.", "field": "flow[0].appCode"}
    assert Scenario.objects.count() == 0


def test_app_codes_of_a_flow_are_checked_in_one_query(owner):
    codes = [app_create(tenant=owner.tenant, name=f"App {n}").code for n in range(3)]
    flow = [{"from": "x", "appCode": code, "channel": "push"} for code in codes]
    call(owner, "get", SCENARIOS)  # the key is now cached

    with CaptureQueriesContext(connection) as queries:
        assert call(owner, "post", SCENARIOS, {"name": "Three apps", "flow": flow}).status_code == 200

    assert len([q for q in queries.captured_queries if '"devices_app"' in q["sql"]]) == 1


@pytest.mark.parametrize("body", [[], "text", 5, None])
def test_a_body_that_is_not_an_object_is_400(owner, body):
    response = owner.client.post(
        SCENARIOS, data=json.dumps(body), content_type="application/json", headers=bearer(owner)
    )

    assert response.status_code == 400
    assert response.json()["code"] == 400
    assert Scenario.objects.count() == 0


def test_invalid_json_is_400(owner):
    response = owner.client.post(SCENARIOS, data=b'{"name": ', content_type="application/json", headers=bearer(owner))

    assert response.status_code == 400
    assert response.json()["code"] == 400


def test_unknown_content_type_is_415_in_delevera_body(owner):
    response = owner.client.post(SCENARIOS, data="name=x", content_type="text/plain", headers=bearer(owner))

    assert response.status_code == 415
    assert response.json()["code"] == 415
    assert Scenario.objects.count() == 0


# --- Errors: 401, 404, 405 ---------------------------------------------------------------


def test_no_key_is_401_and_creates_nothing(owner):
    response = owner.client.post(SCENARIOS, {"name": "x", "flow": [SMS]}, format="json")

    assert response.status_code == 401
    assert response.json() == {"code": 401, "message": "Authentication credentials were not provided."}
    assert Scenario.objects.count() == 0


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_bad_key_is_401(owner, method):
    response = getattr(owner.client, method)(
        SCENARIOS, {"name": "x", "flow": [SMS]}, format="json", headers={"Authorization": "Bearer sk_nope_nope"}
    )

    assert response.status_code == 401
    assert response.json() == {"code": 401, "message": "Invalid, revoked or expired API key."}
    assert Scenario.objects.count() == 0


@pytest.mark.parametrize("method", ["get", "patch", "put", "delete"])
def test_a_scenario_key_with_a_nul_is_404(owner, method):
    push_and_sms(owner.tenant)

    body = {"name": "x", "flow": [SMS]} if method in ("patch", "put") else None
    response = call(owner, method, f"{SCENARIOS}/a%00b", body)

    assert response.status_code == 404
    assert response.json()["code"] == 404
    assert Scenario.objects.get().name == "PUSH && SMS"


def test_a_confirm_only_key_is_403_and_creates_nothing(owner):
    issued = api_key_create(tenant=owner.tenant, name="app-receipts", scopes=[DELIVERIES_CONFIRM])

    response = owner.client.post(
        SCENARIOS, {"name": "x", "flow": [SMS]}, format="json", headers={"Authorization": f"Bearer {issued.plaintext}"}
    )

    assert response.status_code == 403
    assert response.json()["code"] == 403
    assert Scenario.objects.count() == 0


def test_unknown_scenario_key_is_404_naming_scenario_key(owner):
    response = call(owner, "get", f"{SCENARIOS}/{'0' * 24}")

    assert response.status_code == 404
    assert response.json() == {"code": 404, "message": "Unknown scenario key.", "field": "scenarioKey"}


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("post", "{scenarios}/{key}", "GET, PUT, PATCH, DELETE, HEAD, OPTIONS"),
        ("put", "{scenarios}", "GET, POST, HEAD, OPTIONS"),
        ("delete", "{scenarios}", "GET, POST, HEAD, OPTIONS"),
    ],
)
def test_wrong_method_is_405(owner, method, path, allow):
    scenario = push_and_sms(owner.tenant)
    before = snapshot(scenario)

    response = call(owner, method, path.format(scenarios=SCENARIOS, key=scenario.key), {"name": "x", "flow": [SMS]})

    assert response.status_code == 405
    assert response["Allow"] == allow
    assert response.json() == {"code": 405, "message": f'Method "{method.upper()}" not allowed.'}
    assert Scenario.objects.count() == 1
    assert snapshot(scenario) == before


# --- An outsider -------------------------------------------------------------------------


def test_outsider_lists_only_its_own_scenarios(owner, outsider):
    push_and_sms(owner.tenant)
    theirs = push_and_sms(outsider.tenant, name="Theirs")

    response = call(outsider, "get", SCENARIOS)

    assert response.json() == [as_documented(theirs)]


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("get", None),
        ("patch", {"name": "Taken over"}),
        ("put", {"name": "Taken over", "flow": [{"from": "x", "channel": "sms"}]}),
        ("delete", None),
    ],
)
def test_outsider_gets_404_for_the_owners_scenario_and_changes_nothing(owner, outsider, app_code, method, body):
    scenario = push_and_sms(owner.tenant, app_code=app_code)
    before = snapshot(scenario)

    response = call(outsider, method, f"{SCENARIOS}/{scenario.key}", body)

    assert response.status_code == 404
    assert response.json() == {"code": 404, "message": "Unknown scenario key.", "field": "scenarioKey"}
    assert snapshot(scenario) == before


def test_deleting_a_scenario_keeps_its_messages_and_their_flow(owner):
    scenario = push_and_sms(owner.tenant)
    message = OmniMessage.objects.create(tenant=owner.tenant, product="omni", scenario=scenario, flow=scenario.flow)

    assert call(owner, "delete", f"{SCENARIOS}/{scenario.key}").status_code == 200

    message.refresh_from_db()
    assert (message.scenario, message.flow) == (None, scenario.flow)


# --- Admin -------------------------------------------------------------------------------


def omni_message(scenario: Scenario, outcomes: list[tuple[str, str]]) -> OmniMessage:
    """A message through ``scenario`` with one destination per (status, channel), each with its step."""
    message = OmniMessage.objects.create(
        tenant=scenario.tenant, product="omni", scenario=scenario, flow=scenario.flow, destinations_count=len(outcomes)
    )
    for n, (status, channel) in enumerate(outcomes):
        destination = OmniDestination.objects.create(
            message=message, tenant=scenario.tenant, given={"uid": f"u{n}"}, status=status, channel=channel
        )
        OmniStep.objects.create(
            destination=destination,
            message=message,
            tenant=scenario.tenant,
            index=0,
            channel=channel,
            started_at=timezone.now(),
        )
    return message


DELIVERED, FAILED, PENDING = DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.PENDING


def test_admin_counts_each_scenarios_destinations_by_outcome(staff_client, owner, outsider):
    scenario = push_and_sms(owner.tenant, name="Counted")
    omni_message(scenario, [(DELIVERED, "push"), (DELIVERED, "push"), (DELIVERED, "sms"), (FAILED, "sms")])
    omni_message(scenario, [(DELIVERED, "push"), (PENDING, "push"), (FAILED, "push")])
    idle = push_and_sms(owner.tenant, name="Idle")
    push_and_sms(outsider.tenant, name="Their scenario")

    from scenarios.admin import ScenarioAdmin

    response = staff_client.get("/admin/scenarios/scenario/")

    assert response.status_code == 200
    rows = {row.name: row for row in response.context["cl"].result_list}
    assert set(rows) == {"Counted", "Idle"}
    counted = rows["Counted"]
    assert (counted.delivered_push, counted.delivered_sms, counted.undelivered) == (3, 1, 2)
    assert (rows["Idle"].delivered_push, rows["Idle"].delivered_sms, rows["Idle"].undelivered) == (0, 0, 0)
    assert idle.pk in {row.pk for row in rows.values()}
    assert "Their scenario" not in response.content.decode()
    assert ScenarioAdmin.list_display[3:6] == ("delivered_by_push", "delivered_by_sms", "not_delivered")


def test_admin_scenario_list_takes_the_same_queries_whatever_the_rows(staff_client, owner):
    scenario = push_and_sms(owner.tenant, name="One")
    omni_message(scenario, [(DELIVERED, "push")])
    staff_client.get("/admin/scenarios/scenario/")
    with CaptureQueriesContext(connection) as one:
        staff_client.get("/admin/scenarios/scenario/")
    for n in range(3):
        omni_message(push_and_sms(owner.tenant, name=f"More {n}"), [(FAILED, "sms"), (DELIVERED, "sms")])
    with CaptureQueriesContext(connection) as four:
        response = staff_client.get("/admin/scenarios/scenario/")

    assert len(response.context["cl"].result_list) == 4
    assert len(four.captured_queries) == len(one.captured_queries)


def test_admin_shows_each_omni_message_with_its_counts_read_only(staff_client, owner, outsider):
    scenario = push_and_sms(owner.tenant)
    message = omni_message(scenario, [(DELIVERED, "push"), (DELIVERED, "sms"), (FAILED, "sms"), (PENDING, "push")])
    omni_message(push_and_sms(outsider.tenant), [(DELIVERED, "push")])

    listing = staff_client.get("/admin/scenarios/omnimessage/")
    page = staff_client.get(f"/admin/scenarios/omnimessage/{message.pk}/change/")

    [row] = listing.context["cl"].result_list
    assert (row.pk, row.destinations_count, row.delivered_push, row.delivered_sms, row.undelivered) == (
        message.pk,
        4,
        1,
        1,
        1,
    )
    assert page.status_code == 200
    assert f"/admin/scenarios/omnidestination/?message={message.pk}" in page.content.decode()
    assert staff_client.get("/admin/scenarios/omnimessage/add/").status_code == 403
    staff_client.post(f"/admin/scenarios/omnimessage/{message.pk}/delete/", {"post": "yes"})
    assert OmniMessage.objects.filter(pk=message.pk).exists()


def test_admin_lists_a_messages_destinations_and_steps_of_the_own_tenant_only(staff_client, owner, outsider):
    message = omni_message(push_and_sms(owner.tenant), [(DELIVERED, "push"), (FAILED, "sms")])
    theirs = omni_message(push_and_sms(outsider.tenant), [(DELIVERED, "push")])

    destinations = staff_client.get(f"/admin/scenarios/omnidestination/?message={message.pk}")
    steps = staff_client.get(f"/admin/scenarios/omnistep/?message={message.pk}")
    their_destination = OmniDestination.objects.get(message=theirs)

    assert [d.given for d in destinations.context["cl"].result_list] == [{"uid": "u0"}, {"uid": "u1"}]
    assert len(steps.context["cl"].result_list) == 2
    assert staff_client.get(f"/admin/scenarios/omnidestination/{their_destination.pk}/change/").status_code in (
        302,
        404,
    )
    assert (
        staff_client.get(f"/admin/scenarios/omnidestination/?message={theirs.pk}").context["cl"].result_list.count()
        == 0
    )


def test_admin_saves_a_scenario_by_the_apis_rules(staff_client, owner, outsider, app_code):
    their_code = app_create(tenant=outsider.tenant, name="Theirs").code
    bad = staff_client.post(
        "/admin/scenarios/scenario/add/",
        {"name": "Bad", "flow": json.dumps([{"from": "x", "appCode": their_code, "channel": "push"}])},
    )
    good = staff_client.post(
        "/admin/scenarios/scenario/add/",
        {"name": "Good", "flow": json.dumps([{"channel": "push", "timeout": 5, "appCode": app_code, "from": "x"}])},
    )

    assert bad.status_code == 200
    assert "flow[0].appCode: Unknown app code." in bad.content.decode()
    assert good.status_code == 302
    scenario = Scenario.objects.get()
    assert (scenario.tenant, scenario.name) == (owner.tenant, "Good")
    assert scenario.flow == [{"from": "x", "appCode": app_code, "timeout": 5, "channel": "push"}]
