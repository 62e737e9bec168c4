"""The docs' code examples: one request written as curl, PHP, Node and Python that work
when pasted, against the site's own base URL.

Each needs only what a developer's machine has: curl; PHP's command line alone (streams,
no curl extension); Node 18 or later (its built-in ``fetch``, no package); Python with
``requests``. Each prints the answer's status and then its JSON body (curl the body only).
``{YOUR_API_KEY}`` stands for the key; website/tests/test_examples.py runs them all against
a live server with a real key, taken from the rendered page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

KEY_PLACEHOLDER = "{YOUR_API_KEY}"
LANGUAGES = (("curl", "curl"), ("php", "PHP"), ("node", "Node.js"), ("python", "Python"))


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # with its query string
    auth_header: str
    auth_value: str  # "{key}" stands for the key
    body: dict | None = None

    def headers(self) -> list[tuple[str, str]]:
        headers = [(self.auth_header, self.auth_value.format(key=KEY_PLACEHOLDER))]
        if self.body is not None:
            headers.append(("Content-Type", "application/json"))
        return headers


@dataclass(frozen=True)
class Example:
    """A dialect's first call: the request, the answer it documents (its status and body),
    and the answer's fields whose value differs from call to call (ids, dates)."""

    request: Request
    status: int
    answer: dict
    varies: tuple[str, ...] = field(default=())

    def answer_json(self) -> str:
        return json.dumps(self.answer, indent=2, ensure_ascii=False)


def snippets(request: Request, *, base_url: str) -> list[tuple[str, str, str]]:
    """(language slug, language name, code) of ``request`` against ``base_url``, in LANGUAGES' order."""
    url = base_url.rstrip("/") + request.path
    renderers = {"curl": _curl, "php": _php, "node": _node, "python": _python}
    return [(slug, name, renderers[slug](request, url)) for slug, name in LANGUAGES]


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _curl(request: Request, url: str) -> str:
    lines = [f"curl -X {request.method} {_shell_quote(url)}"]
    lines += [f"  -H {_shell_quote(f'{name}: {value}')}" for name, value in request.headers()]
    if request.body is not None:
        lines.append(f"  -d {_shell_quote(json.dumps(request.body, indent=2, ensure_ascii=False))}")
    return " \\\n".join(lines)


def _php(request: Request, url: str) -> str:
    headers = ", ".join(_literal(f"{name}: {value}", "php") for name, value in request.headers())
    lines = ["<?php"]
    if request.body is not None:
        lines.append(f"$payload = {_literal(request.body, 'php')};")
    lines += [
        '$context = stream_context_create(["http" => [',
        f'    "method" => {_literal(request.method, "php")},',
        f'    "header" => implode("\\r\\n", [{headers}]),',
    ]
    if request.body is not None:
        lines.append('    "content" => json_encode($payload),')
    lines += [
        '    "ignore_errors" => true,  // read the answer of a refusal too',
        "]]);",
        f"$answer = file_get_contents({_literal(url, 'php')}, false, $context);",
        'echo $http_response_header[0], "\\n", $answer, "\\n";',
    ]
    return "\n".join(lines)


def _node(request: Request, url: str) -> str:
    headers = ", ".join(f"{_literal(name, 'node')}: {_literal(value, 'node')}" for name, value in request.headers())
    lines = []
    if request.body is not None:
        lines += [f"const payload = {_literal(request.body, 'node')};", ""]
    lines += [
        f"fetch({_literal(url, 'node')}, {{",
        f"  method: {_literal(request.method, 'node')},",
        f"  headers: {{ {headers} }},",
    ]
    if request.body is not None:
        lines.append("  body: JSON.stringify(payload),")
    lines += [
        "}).then(async (res) => {",
        "  console.log(res.status);",
        "  console.log(await res.text());",
        "});",
    ]
    return "\n".join(lines)


def _python(request: Request, url: str) -> str:
    headers = ", ".join(f"{_literal(name, 'python')}: {_literal(value, 'python')}" for name, value in request.headers())
    lines = ["import requests", ""]
    if request.body is not None:
        lines += [f"payload = {_literal(request.body, 'python')}", ""]
    lines += [
        f"resp = requests.request(\n    {_literal(request.method, 'python')},\n    {_literal(url, 'python')},",
        f"    headers={{{headers}}},",
    ]
    if request.body is not None:
        lines.append("    json=payload,")
    lines += [")", "print(resp.status_code)", "print(resp.text)"]
    return "\n".join(lines)


_SYNTAX = {
    # language: (true, false, null, "key: value" separator, object open/close, empty object)
    "php": ("true", "false", "null", " => ", "[", "]", "new stdClass()"),
    "node": ("true", "false", "null", ": ", "{", "}", "{}"),
    "python": ("True", "False", "None", ": ", "{", "}", "{}"),
}


def _literal(value, language: str, indent: int = 0) -> str:
    """``value`` (JSON-shaped) as a literal of ``language``, objects and lists on several lines."""
    true, false, null, separator, open_, close, empty = _SYNTAX[language]
    pad, inner = "    " * indent, "    " * (indent + 1)
    if value is True:
        return true
    if value is False:
        return false
    if value is None:
        return null
    if isinstance(value, str):
        # JSON's string escapes are valid in JavaScript and Python; in PHP's double quotes
        # too, once "$" cannot start a variable.
        text = json.dumps(value, ensure_ascii=False)
        return text.replace("$", "\\$") if language == "php" else text
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, dict):
        if not value:
            return empty
        items = [
            f"{inner}{_literal(k, language)}{separator}{_literal(v, language, indent + 1)}," for k, v in value.items()
        ]
        return "\n".join([open_, *items, f"{pad}{close}"])
    if not value:
        return "[]"
    items = [f"{inner}{_literal(v, language, indent + 1)}," for v in value]
    return "\n".join(["[", *items, f"{pad}]"])


SENDER = "MyCompany"  # an approved sender name of the account (admin: sender names)
NUMBER = "+22890123456"

# Each dialect's first call, in its vendor's vocabulary and with its vendor's header.
QUICK_STARTS = {
    "softafrik": Example(
        Request(
            "POST",
            "/api/users/register",
            "X-API-KEY",
            "{key}",
            {"external_user_ref": "user_12345", "meta": {"full_name": "John Doe", "email": "john@example.com"}},
        ),
        status=201,
        answer={
            "puid": "sa_1_k3x9q2mz",
            "external_user_ref": "user_12345",
            "meta": {"full_name": "John Doe", "email": "john@example.com"},
            "phone": "",
            "email": "",
            "username": "",
            "lang": "",
            "created": True,
        },
        varies=("puid", "created"),
    ),
    "ion": Example(
        Request(
            "POST",
            "/api/V1/sms/unides",
            "X-API-Key",
            "{key}",
            {"emetteur": SENDER, "destinataire": NUMBER, "corps": "Bienvenue !"},
        ),
        status=201,
        answer={
            "ref": "0b6f3c1e-6d1a-4f43-9b0e-2f7f4f7c1a52",
            "type": "UNIDES",
            "statut": "EN_ATTENTE",
            "cout": "1.00",
            "unite": "credits",
        },
        varies=("ref",),
    ),
    "primotexto": Example(
        Request(
            "POST",
            "/v2/notification/messages/send",
            "X-Primotexto-ApiKey",
            "{key}",
            {"number": NUMBER, "message": "Votre code : 283951", "sender": SENDER},
        ),
        status=200,
        answer={"snapshotId": "0b6f3c1e-6d1a-4f43-9b0e-2f7f4f7c1a52", "creditsUsed": 1.0},
        varies=("snapshotId",),
    ),
    "delevera": Example(
        Request(
            "POST",
            "/SMS/v1/messages",
            "Authorization",
            "Bearer {key}",
            {"text": "Hello from the Delevera API", "from": SENDER, "destinations": ["22890123456"]},
        ),
        status=200,
        answer={
            "messageId": "0b6f3c1e-6d1a-4f43-9b0e-2f7f4f7c1a52",
            "createDate": "2026-01-01T12:00:00.000Z",
            "destinations": [{"phone": NUMBER, "state": 2}],
            "cost": "1.00",
            "unit": "credits",
        },
        varies=("messageId", "createDate"),
    ),
}
