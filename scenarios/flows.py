"""A scenario's flow: the steps an omni message tries one after the other, each until it
is delivered or its ``timeout`` runs out.

The one definition of a valid flow, for the API, the admin and whoever saves one. A
step is Delevera's ``{"from", "appCode"?, "timeout"?, "channel", "dataOnly"?}``:

- ``channel``: ``push`` or ``sms``;
- ``from``: the sender name (the push's title, the SMS sender), required;
- ``appCode``: a push step's app, one of the tenant's; optional, since the message may
  name the app instead (the engine checks, at send, that one of them does);
- ``timeout``: seconds the step waits for "delivered" before the next step starts, 1 to
  a day; optional (a step without one waits for its outcome; on the last step it is
  accepted and unused);
- ``dataOnly``: a push step sent as data only (no notification shown), optional.
"""

from __future__ import annotations

from typing import NoReturn

from accounts.models import Tenant
from devices.selectors import app_codes_known
from scenarios.models import FlowChannel, OmniMessage
from softafrik.errors import DomainError

# A flow is tried in order and each step may wait up to TIMEOUT_MAX: five steps (push,
# then SMS, then a retry or two) is already most of a week of waiting.
STEPS_MAX = 5
TIMEOUT_MAX = 86_400  # a day, in seconds
FROM_MAX = OmniMessage._meta.get_field("sender").max_length
# A step's keys in the document's order (its examples: from, appCode, timeout, channel).
STEP_KEYS = ("from", "appCode", "timeout", "channel", "dataOnly")
PUSH_ONLY_KEYS = ("appCode", "dataOnly")
CHANNELS = tuple(FlowChannel.values)


def _refuse(field: str, message: str) -> NoReturn:
    raise DomainError(f"{field}: {message}", field=field)


def _non_empty_string(value) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _storable(value: str) -> bool:
    """No NUL (PostgreSQL's jsonb cannot hold one) and no lone surrogate (not UTF-8)."""
    return "\x00" not in value and not any("\ud800" <= char <= "\udfff" for char in value)


def _shown(text: str) -> str:
    """A client's string fit to be echoed in an error (a lone surrogate cannot be encoded)."""
    return text.encode("utf-8", "backslashreplace").decode()


def _text(where: str, value) -> str:
    if not _non_empty_string(value):
        _refuse(where, "Must be a non-empty string.")
    if not _storable(value):
        _refuse(where, "Must not contain NUL or surrogate characters.")
    return value


def flow_validate(*, tenant: Tenant, flow) -> list[dict]:
    """``flow`` as stored: each step's keys in the document's order, absent optional keys
    left out. Raises DomainError naming the first fault (``flow``, ``flow[1].from``,
    ``flow[0].appCode``...), steps in order. An ``appCode`` must be one of ``tenant``'s
    app codes (another tenant's is unknown); one query for the whole flow."""
    if not isinstance(flow, list):
        _refuse("flow", "Must be a list of steps.")
    if not flow:
        _refuse("flow", "Must have at least one step.")
    if len(flow) > STEPS_MAX:
        _refuse("flow", f"At most {STEPS_MAX} steps.")
    known = app_codes_known(
        tenant=tenant,
        codes=[
            s["appCode"]
            for s in flow
            if isinstance(s, dict) and _non_empty_string(s.get("appCode")) and _storable(s["appCode"])
        ],
    )
    return [_step_validate(step, f"flow[{index}]", known) for index, step in enumerate(flow)]


def flow_ordered(flow: list) -> list[dict]:
    """A stored flow with each step's keys in the document's order again: PostgreSQL's
    jsonb keeps an object's keys in its own order (shortest first), not as written."""
    return [{key: step[key] for key in STEP_KEYS if key in step} if isinstance(step, dict) else step for step in flow]


def _step_validate(step, where: str, known_codes: set[str]) -> dict:
    if not isinstance(step, dict):
        _refuse(where, "Must be an object.")
    unknown = [_shown(key) for key in step if key not in STEP_KEYS]
    if unknown:
        _refuse(f"{where}.{unknown[0]}", f"Unknown key{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}.")

    channel = step.get("channel")
    if "channel" not in step:
        _refuse(f"{where}.channel", "This field is required.")
    if channel not in CHANNELS:
        _refuse(f"{where}.channel", f"Must be one of {', '.join(CHANNELS)}.")

    if "from" not in step:
        _refuse(f"{where}.from", "This field is required.")
    if len(_text(f"{where}.from", step["from"])) > FROM_MAX:
        _refuse(f"{where}.from", f"At most {FROM_MAX} characters.")

    if channel != FlowChannel.PUSH:
        for key in PUSH_ONLY_KEYS:
            if key in step:
                _refuse(f"{where}.{key}", "Only a push step takes it.")

    if "appCode" in step and _text(f"{where}.appCode", step["appCode"]) not in known_codes:
        _refuse(f"{where}.appCode", "Unknown app code.")

    if "timeout" in step:
        timeout = step["timeout"]
        if isinstance(timeout, bool) or not isinstance(timeout, int):
            _refuse(f"{where}.timeout", "Must be an integer (seconds).")
        if not 1 <= timeout <= TIMEOUT_MAX:
            _refuse(f"{where}.timeout", f"Must be between 1 and {TIMEOUT_MAX} seconds.")

    if "dataOnly" in step and not isinstance(step["dataOnly"], bool):
        _refuse(f"{where}.dataOnly", "Must be true or false.")

    return flow_ordered([step])[0]
