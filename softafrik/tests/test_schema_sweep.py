"""A generated-input sweep: every operation of the app's own OpenAPI schema, no 5xx.

Schemathesis loads ``/api/schema/`` from the WSGI application and feeds each operation
schema-valid and schema-invalid requests (its examples, coverage and fuzzing phases),
each authenticated with a real tenant's key in the header that operation's dialect
documents. Every answer must be below 500 and JSON. Operations with path parameters are
called twice per case: as generated (mostly a 404) and with the tenant's real objects
(so the found-object branches meet the generated bodies too).

Cost: ``SCHEMA_SWEEP_EXAMPLES`` fuzzing examples per operation and generation mode
(default 20: about 1,600 requests, 20-25 s on two cores; the examples and coverage
phases add a fixed number of cases per operation).
``SCHEMA_SWEEP_SEED`` fixes the seed (default 0, so ``make test`` runs the same cases each
time); ``random`` draws a new one. The big sweep::

    SCHEMA_SWEEP_EXAMPLES=500 SCHEMA_SWEEP_SEED=random .venv/bin/pytest softafrik/tests/test_schema_sweep.py
"""

from __future__ import annotations

import json
import os
import secrets

import pytest
import schemathesis
from django.conf import settings
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis import Config

SWEEP_EXAMPLES = int(os.environ.get("SCHEMA_SWEEP_EXAMPLES", "20"))
_seed = os.environ.get("SCHEMA_SWEEP_SEED", "0")
SWEEP_SEED = secrets.randbelow(2**32) if _seed == "random" else int(_seed)
# Hypothesis' caches (the constants it collects from modules) under the local dir, not in
# a .hypothesis/ folder of the working directory.
set_hypothesis_home_dir(settings.LOCAL_DIR / "hypothesis")

# Each dialect's prefix, the header its vendor documents and the scheme naming it in the
# schema: ION's "X-API-Key", Primotexto's "X-Primotexto-ApiKey", Delevera's bearer token,
# SoftAfrik's "X-API-KEY". A path under none of them fails the sweep: a new dialect says
# here how it authenticates.
DIALECT_AUTH = (
    ("/api/V1/sms/", "X-API-Key", "{key}", "ApiKey"),
    ("/api/", "X-API-KEY", "{key}", "ApiKey"),
    ("/v2/", "X-Primotexto-ApiKey", "{key}", "PrimotextoApiKey"),
    ("/SMS/", "Authorization", "Bearer {key}", "Bearer"),
    ("/push/", "Authorization", "Bearer {key}", "Bearer"),
    ("/omni/", "Authorization", "Bearer {key}", "Bearer"),
)


def dialect_auth(path: str) -> tuple[str, str, str]:
    """(header, value template, security scheme) of the dialect ``path`` belongs to."""
    for prefix, header, value, scheme in DIALECT_AUTH:
        if path.startswith(prefix):
            return header, value, scheme
    raise AssertionError(f"{path}: no dialect in DIALECT_AUTH authenticates this path")


def dialect_headers(path: str, key: str) -> dict[str, str]:
    header, value, _ = dialect_auth(path)
    return {header: value.format(key=key)}


# Values a tenant would send, mixed into the generated ones so that cases also get past
# validation (random strings are rarely phone numbers): the sends, campaigns and
# registrations then run too, with generated values around them.
DICTIONARIES = {
    "numbers": ["+22890123456", "90123456", "22891234567", "+33600000000", "966501234567", "+2250701020304"],
    "senders": ["SoftAfrik", "ION-Networking"],
    "texts": ["Bonjour", "Code de confirmation: 283951"],
    "apps": ["SweepApp"],
    "dates": ["2099-07-01", "2099-07-31T18:00:00", "2099-07-31T18:00:00+01:00"],
}
BINDINGS = {
    "numbers": [
        "body.destinataire",
        "body.numeros[*]",
        "body.destinations[*]",
        "body.destinations[*].phone",
        "body.number",
        "body.identifier",
        "query.identifier",
    ],
    "senders": ["body.emetteur", "body.sender", "body.from", "query.sender"],
    "texts": ["body.corps", "body.text", "body.message", "query.message", "body.title", "body.body"],
    "apps": ["body.app_name"],
    "dates": ["body.dateDebut", "body.dateFin"],
}


def _config() -> Config:
    return Config.from_dict(
        {
            "seed": SWEEP_SEED,
            # Hypothesis' own health checks judge data generation, not the API.
            "suppress-health-check": ["all"],
            "dictionaries": {name: {"values": values} for name, values in DICTIONARIES.items()},
            "parameters": {
                key: {"dictionary": name, "probability": 0.5} for name, keys in BINDINGS.items() for key in keys
            },
            "generation": {
                "max-examples": SWEEP_EXAMPLES,
                # Auth headers are the sweep's (a real key); generated ones would only be 401s.
                "with-security-parameters": False,
                # No .hypothesis/ directory in the working tree; the seed reproduces a run.
                "database": "none",
            },
        }
    )


@pytest.fixture
def sweep_world(owner):
    """The owner tenant with its key, an approved sender, a route, an app, a user with a device, a
    push message, an SMS send and a scenario: the objects path parameters can name."""
    from devices.services import app_create, device_register, end_user_register
    from notifications.push.accept import push_send_to_user
    from scenarios.services import scenario_create
    from sms.models import RouteKind, SenderName, SenderStatus, SmsRoute
    from sms.services import sms_submit

    tenant = owner.tenant
    SenderName.objects.create(tenant=tenant, name="SoftAfrik", status=SenderStatus.APPROVED, is_default=True)
    SmsRoute.objects.create(name="log", kind=RouteKind.LOG, priority=1000, callback_token=secrets.token_urlsafe(16))
    app = app_create(tenant=tenant, name="SweepApp")
    end_user, _ = end_user_register(tenant=tenant, external_user_ref="sweep-user", meta=None)
    device_register(
        tenant=tenant, end_user=end_user, app=app, platform="android", device_token="t" * 64, device_uid="sweep-device"
    )
    push = push_send_to_user(tenant=tenant, puid=end_user.puid, title="Hi", body="there", data={})
    sms = sms_submit(
        tenant=tenant, dialect="ion", sender=None, numbers=["+22890123456", "+22891234567"], text="Bonjour"
    ).message
    scenario = scenario_create(
        tenant=tenant,
        name="sweep",
        flow=[
            {"from": "Sweep", "appCode": app.code, "timeout": 30, "channel": "push"},
            {"from": "x", "channel": "sms"},
        ],
    )
    real = {
        "app_name": app.name,
        "message_id": str(push.pk),
        "ref": str(sms.pk),
        "snapshot_id": str(sms.pk),
        "app_code": app.code,  # Delevera push: applications and their devices
        "device_uid": "sweep-device",
        "scenario_key": scenario.key,
    }
    return owner.key, real


def _load_schema():
    """The schema as the app serves it at /api/schema/; its cases call the app in this
    process (WSGI). Loaded at collection (no database needed), so that each operation
    is a test of its own."""
    from softafrik.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/schema/", application, config=_config())


schema = _load_schema()


@pytest.fixture(autouse=True)
def _requests_keep_the_connection():
    """As Django's test client does, requests leave the connection open: it holds the
    test's transaction."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


def test_every_operation_documents_its_dialect_auth():
    """The schema names, for every operation, the scheme of the header the sweep sends."""
    operations = [
        (method.upper(), path, definition)
        for path, methods in schema.raw_schema["paths"].items()
        for method, definition in methods.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert len(operations) >= 26
    undocumented = []
    for method, path, definition in operations:
        header, _, scheme = dialect_auth(path)
        if not any(scheme in requirement for requirement in definition.get("security") or []):
            undocumented.append(f"{method} {path}: {scheme} ({header})")
    assert undocumented == []


def pytest_generate_tests(metafunc):
    """Each operation's item is ``test_no_server_error[<METHOD> <path>][dialect-header]``.

    pytest 9.2 builds an item's id from its original name and its parameters, and
    schemathesis 4.32 puts the operation only into the name: without a parameter every
    operation's item has the same id (no ``-k``, no ``--lf``). The parameter is the
    choice of auth headers the cases carry.
    """
    if metafunc.definition.name == "test_no_server_error":
        metafunc.parametrize("auth_headers", [pytest.param(dialect_headers, id="dialect-header")])


def _check(case, response, headers) -> None:
    reproducer = (
        f"{response.status_code} {response.text[:500]!r} (SCHEMA_SWEEP_SEED={SWEEP_SEED}) for\n"
        f"{case.as_curl_command(headers)}"
    )
    assert response.status_code < 500, reproducer
    if response.status_code == 204 or case.method == "HEAD":
        return
    content_type = (response.headers.get("content-type") or [""])[0]
    assert content_type.startswith("application/json"), reproducer
    json.loads(response.content)


@schema.parametrize()
def test_no_server_error(case, sweep_world, auth_headers):
    key, real = sweep_world
    headers = auth_headers(case.path, key)
    _check(case, case.call(headers=headers), headers)
    if case.path_parameters:
        named = {name: real.get(name, given) for name, given in case.path_parameters.items()}
        if named != case.path_parameters:
            case.path_parameters = named
            _check(case, case.call(headers=headers), headers)
