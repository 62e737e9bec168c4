"""The API reference of the docs pages, read from the OpenAPI schema that /api/schema/ serves.

drf-spectacular's generator builds the schema from the API's own views and serializers,
so the pages cannot drift from the API: an endpoint, a field or an answer appears here
because the code has it. The schema is generated once per process (a deployment changes
the code, and with it the process) and turned into one ``Dialect`` per API surface, each
operation with its parameters, body fields, answers and an example body, all from the
schema (its ``$ref`` components resolved, its ``example`` values used where given).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field

from drf_spectacular.settings import spectacular_settings

METHODS = ("get", "post", "put", "patch", "delete")
MAX_DEPTH = 4  # nested bodies (omni's pushContent.actions) fit; recursive schemas stop here
STRING_EXAMPLES = {
    "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "date-time": "2026-01-01T12:00:00Z",
    "date": "2026-01-01",
    "email": "user@example.com",
}


@dataclass(frozen=True)
class DialectSpec:
    """An API surface: which paths are its own and how its vendor's examples authenticate
    (``auth_header`` and ``auth_value``, ``{key}`` standing for the key). The platform's
    own API has no vendor ``name``: the site shows it under SITE_NAME. Its operations are
    listed by their schema tag in ``tag_order`` (as its vendor's document goes: users and
    devices before sending), then in the schema's order."""

    slug: str
    name: str
    prefixes: tuple[str, ...]
    auth_header: str
    auth_value: str = "{key}"
    tag_order: tuple[str, ...] = ()


# Most specific prefix first: ION's /api/V1/sms/ is inside SoftAfrik's /api/.
DIALECT_SPECS = (
    DialectSpec(
        "softafrik", "", ("/api/",), "X-API-KEY", tag_order=("users", "devices", "apps", "push", "inbox", "webhooks")
    ),
    DialectSpec("ion", "ION SMS Gateway", ("/api/V1/sms/",), "X-API-Key"),
    DialectSpec("primotexto", "Primotexto", ("/v2/",), "X-Primotexto-ApiKey"),
    DialectSpec(
        "delevera",
        "Delevera",
        ("/SMS/", "/push/", "/omni/"),
        "Authorization",
        "Bearer {key}",
        tag_order=("Delevera SMS", "Delevera push", "Delevera omni"),
    ),
)


@dataclass(frozen=True)
class FieldRow:
    name: str  # dotted for nested fields: "fallback.sms.text", "destinations[].phone"
    type: str
    required: bool
    description: str


@dataclass(frozen=True)
class Answer:
    status: str
    schema_name: str
    fields: tuple[FieldRow, ...]
    example: str  # JSON text, "" when the answer has no body


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    summary: str
    description: str
    tags: tuple[str, ...]
    security: tuple[str, ...]  # how a key may be sent: "X-API-KEY: {YOUR_API_KEY}", ...
    parameters: tuple[FieldRow, ...]  # path, query and header parameters, "in" in the type
    body_fields: tuple[FieldRow, ...]
    body_example: dict | list | None
    answers: tuple[Answer, ...]  # the successful ones, with their fields
    error_statuses: tuple[str, ...]


@dataclass
class Dialect:
    spec: DialectSpec
    operations: list[Operation] = field(default_factory=list)
    security: list[str] = field(default_factory=list)  # every way its operations take a key

    @property
    def slug(self) -> str:
        return self.spec.slug


def dialect_of(path: str) -> DialectSpec:
    """The dialect ``path`` belongs to; raises LookupError for a path of none."""
    matches = [spec for spec in DIALECT_SPECS for prefix in spec.prefixes if path.startswith(prefix)]
    if not matches:
        raise LookupError(f"{path}: no dialect of DIALECT_SPECS serves this path")
    return max(matches, key=lambda spec: max(len(p) for p in spec.prefixes if path.startswith(p)))


@functools.cache
def api_schema() -> dict:
    """The OpenAPI schema, as /api/schema/ serves it (the same generator and settings)."""
    generator = spectacular_settings.DEFAULT_GENERATOR_CLASS()
    return generator.get_schema(request=None, public=True)


@functools.cache
def api_reference() -> dict[str, Dialect]:
    """Every operation of the schema, grouped by dialect in DIALECT_SPECS' order."""
    schema = api_schema()
    reader = _SchemaReader(schema)
    dialects = {spec.slug: Dialect(spec) for spec in DIALECT_SPECS}
    for path, item in schema["paths"].items():
        dialect = dialects[dialect_of(path).slug]
        for method in METHODS:
            if method in item:
                operation = reader.operation(method, path, item[method])
                dialect.operations.append(operation)
                for way in operation.security:
                    if way not in dialect.security:
                        dialect.security.append(way)
    for dialect in dialects.values():
        order = dialect.spec.tag_order
        dialect.operations.sort(
            key=lambda op: order.index(op.tags[0]) if op.tags and op.tags[0] in order else len(order)
        )
    return dialects


class _SchemaReader:
    def __init__(self, schema: dict):
        self.components = schema.get("components", {}).get("schemas", {})
        self.schemes = schema.get("components", {}).get("securitySchemes", {})

    def resolve(self, node: dict) -> dict:
        """``node`` with its $ref followed and a lone allOf merged (how drf-spectacular
        writes a described reference), its own description kept."""
        while "$ref" in node:
            node = {
                **self.components[node["$ref"].rsplit("/", 1)[-1]],
                **{k: v for k, v in node.items() if k != "$ref"},
            }
        if len(node.get("allOf", ())) == 1:
            return {**self.resolve(node["allOf"][0]), **{k: v for k, v in node.items() if k != "allOf"}}
        return node

    def schema_name(self, node: dict) -> str:
        if "$ref" in node:
            return node["$ref"].rsplit("/", 1)[-1]
        if node.get("type") == "array" and "$ref" in node.get("items", {}):
            return f"[{node['items']['$ref'].rsplit('/', 1)[-1]}]"
        return ""

    def type_name(self, node: dict) -> str:
        node = self.resolve(node)
        if "enum" in node:
            return "enum: " + ", ".join(json.dumps(value) for value in node["enum"] if value not in ("", None))
        if "oneOf" in node or "anyOf" in node:
            names = [self.type_name(option) for option in node.get("oneOf") or node["anyOf"]]
            return " | ".join(dict.fromkeys(names))
        kind = node.get("type", "object" if "properties" in node else "any")
        if kind == "array":
            return f"array of {self.type_name(node.get('items', {}))}"
        if node.get("format"):
            kind = f"{kind} ({node['format']})"
        if node.get("nullable"):
            kind += ", null"
        return kind

    def fields(self, node: dict, *, prefix: str = "", writing: bool, depth: int = 0) -> list[FieldRow]:
        """The rows of an object's fields, nested objects' and array items' fields after
        their parent (``a.b``, ``a[].b``). Read-only fields are left out of what is sent."""
        node = self.resolve(node)
        if node.get("type") == "array":
            return self.fields(node.get("items", {}), prefix=f"{prefix}[]", writing=writing, depth=depth)
        rows: list[FieldRow] = []
        required = set(node.get("required", ()))
        for name, prop in node.get("properties", {}).items():
            resolved = self.resolve(prop)
            if resolved.get("readOnly" if writing else "writeOnly"):
                continue
            dotted = f"{prefix}.{name}" if prefix else name
            rows.append(FieldRow(dotted, self.type_name(prop), name in required, resolved.get("description", "")))
            if depth < MAX_DEPTH:
                inner = resolved.get("items", {}) if resolved.get("type") == "array" else resolved
                inner = self.resolve(inner)
                if inner.get("properties"):
                    child = f"{dotted}[]" if resolved.get("type") == "array" else dotted
                    rows.extend(self.fields(inner, prefix=child, writing=writing, depth=depth + 1))
        return rows

    def example(self, node: dict, *, writing: bool, depth: int = 0):
        """A value of ``node``'s shape: its example or default, else one of its type."""
        node = self.resolve(node)
        if "example" in node:
            return node["example"]
        if node.get("enum"):
            return next((value for value in node["enum"] if value not in ("", None)), node["enum"][0])
        if node.get("default") not in (None, "", [], {}):
            return node["default"]
        if "oneOf" in node or "anyOf" in node:
            return self.example((node.get("oneOf") or node["anyOf"])[0], writing=writing, depth=depth)
        kind = node.get("type", "object" if "properties" in node else "string")
        if kind == "array":
            return [] if depth >= MAX_DEPTH else [self.example(node.get("items", {}), writing=writing, depth=depth + 1)]
        if kind == "object":
            if depth >= MAX_DEPTH:
                return {}
            return {
                name: self.example(prop, writing=writing, depth=depth + 1)
                for name, prop in node.get("properties", {}).items()
                if not self.resolve(prop).get("readOnly" if writing else "writeOnly")
            }
        if kind in ("integer", "number"):
            return max(node.get("minimum", 0), 0) if kind == "integer" else 0.0
        if kind == "boolean":
            return True
        return STRING_EXAMPLES.get(node.get("format", ""), "string")

    def security(self, requirements: list[dict]) -> tuple[str, ...]:
        ways = []
        for requirement in requirements:
            for name in requirement:
                scheme = self.schemes.get(name, {})
                if scheme.get("type") == "http" and scheme.get("scheme") == "bearer":
                    ways.append("Authorization: Bearer {YOUR_API_KEY}")
                elif scheme.get("type") == "apiKey" and scheme.get("in") == "header":
                    ways.append(f"{scheme['name']}: {{YOUR_API_KEY}}")
                elif scheme.get("type") == "apiKey" and scheme.get("in") == "query":
                    ways.append(f"?{scheme['name']}={{YOUR_API_KEY}}")
        return tuple(ways)

    def operation(self, method: str, path: str, spec: dict) -> Operation:
        parameters = tuple(
            FieldRow(
                parameter["name"],
                f"{parameter['in']}, {self.type_name(parameter.get('schema', {}))}",
                bool(parameter.get("required")),
                parameter.get("description", ""),
            )
            for parameter in spec.get("parameters", ())
        )
        body = spec.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        answers, errors = [], []
        for status, response in spec.get("responses", {}).items():
            if not status.startswith("2"):
                errors.append(status)
                continue
            content = response.get("content", {}).get("application/json", {}).get("schema")
            answers.append(
                Answer(
                    status=status,
                    schema_name=self.schema_name(content) if content else "",
                    fields=tuple(self.fields(content, writing=False)) if content else (),
                    example=json.dumps(self.example(content, writing=False), indent=2, ensure_ascii=False)
                    if content
                    else "",
                )
            )
        return Operation(
            operation_id=spec["operationId"],
            method=method.upper(),
            path=path,
            summary=spec.get("summary", ""),
            description=spec.get("description", ""),
            tags=tuple(spec.get("tags", ())),
            security=self.security(spec.get("security", [])),
            parameters=parameters,
            body_fields=tuple(self.fields(body, writing=True)) if body else (),
            body_example=self.example(body, writing=True) if body else None,
            answers=tuple(answers),
            error_statuses=tuple(sorted(errors)),
        )
