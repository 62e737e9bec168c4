"""The docs pages against the OpenAPI schema /api/schema/ serves: every operation is
documented under its dialect, with its body fields and answers, the dialect's ways to
send the key, and examples carrying the site's own base URL."""

from __future__ import annotations

import html
import re

import pytest
from django.test import Client

from website.examples import QUICK_STARTS
from website.reference import DIALECT_SPECS, api_reference, dialect_of

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def served_schema(django_db_blocker):
    with django_db_blocker.unblock():
        response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


@pytest.fixture(scope="module")
def pages(django_db_blocker) -> dict[str, str]:
    with django_db_blocker.unblock():
        return {spec.slug: Client().get(f"/docs/{spec.slug}/").content.decode() for spec in DIALECT_SPECS}


def article(page: str, method: str, path: str) -> str:
    match = re.search(
        rf'<article class="operation"[^>]*data-operation="{method} {re.escape(path)}">.*?</article>', page, re.S
    )
    assert match, f"{method} {path} is not documented"
    return match.group(0)


def test_every_operation_of_the_served_schema_is_documented_under_its_dialect(served_schema, pages):
    expected = {
        spec.slug: sorted(
            f"{method.upper()} {path}"
            for path, item in served_schema["paths"].items()
            for method in METHODS
            if method in item and dialect_of(path) == spec
        )
        for spec in DIALECT_SPECS
    }

    documented = {slug: sorted(re.findall(r'data-operation="([^"]+)"', page)) for slug, page in pages.items()}

    assert documented == expected
    assert sum(map(len, documented.values())) == sum(
        1 for item in served_schema["paths"].values() for method in METHODS if method in item
    )
    assert all(expected.values())  # each of the four dialects has its endpoints in the schema


def test_each_dialect_is_the_vendors_paths():
    assert {slug: sorted({op.path.split("/")[1] for op in d.operations}) for slug, d in api_reference().items()} == {
        "softafrik": ["api"],
        "ion": ["api"],
        "primotexto": ["v2"],
        "delevera": ["SMS", "omni", "push"],
    }
    assert all(op.path.startswith("/api/V1/sms/") for op in api_reference()["ion"].operations)
    assert not any(op.path.startswith("/api/V1/") for op in api_reference()["softafrik"].operations)


def test_an_operation_shows_its_body_fields_and_answer_from_the_schema(served_schema, pages):
    to_user = article(pages["softafrik"], "POST", "/api/push/to-user")
    body = served_schema["components"]["schemas"]["ToUserIn"]

    for name in body["properties"]:
        assert f"<code>{name}</code>" in to_user
    assert "<code>fallback.sms.text</code>" in to_user  # nested fields, dotted
    assert re.search(r"<code>puid</code> <span class=\"required\">obligatoire</span>", to_user)
    assert "Réponse 202" in to_user and "Accepted" in to_user
    for name in served_schema["components"]["schemas"]["Accepted"]["properties"]:
        assert f"<code>{name}</code>" in to_user
    assert re.findall(r'<span class="status">(\d+)</span>', to_user) == ["400", "402", "409", "422"]


def test_query_parameters_and_array_items_are_documented(pages):
    inbox = article(pages["softafrik"], "GET", "/api/push/inbox")
    delevera_send = article(pages["delevera"], "POST", "/SMS/v1/messages")

    assert "<code>puid</code>" in inbox and "query, string" in inbox
    assert "<code>destinations[].phone</code>" in delevera_send
    assert "<code>destinations[].state</code>" in delevera_send  # the answer's items


def test_each_dialect_documents_the_ways_its_key_is_sent(pages):
    ways = {
        slug: re.search(r'id="authentication".*?<pre><code>(.*?)</code></pre>', page, re.S).group(1)
        for slug, page in pages.items()
    }

    assert ways["softafrik"].split() == ["X-API-KEY:", "{YOUR_API_KEY}", "Authorization:", "Bearer", "{YOUR_API_KEY}"]
    assert "X-Primotexto-ApiKey: {YOUR_API_KEY}" in ways["primotexto"]
    assert "?apiKey={YOUR_API_KEY}" in ways["primotexto"]
    assert "Authorization: Bearer {YOUR_API_KEY}" in ways["delevera"]


def test_the_examples_carry_the_sites_own_base_url():
    page = Client().get("/docs/ion/", HTTP_HOST="sms.example.org").content.decode()
    codes = [
        html.unescape(code) for code in re.findall(r'<code data-example="ion" data-lang="\w+">(.*?)</code>', page, re.S)
    ]

    assert len(codes) == 4
    assert all("http://sms.example.org/api/V1/sms/unides" in code for code in codes)
    assert "'X-API-Key: {YOUR_API_KEY}'" in codes[0]  # ION's own spelling of the header


def test_the_index_links_the_interactive_docs_and_the_schema_and_each_dialect():
    page = Client().get("/docs/").content.decode()

    assert 'href="/api/docs/"' in page and 'href="/api/schema/"' in page
    for spec in DIALECT_SPECS:
        assert f'href="/docs/{spec.slug}/"' in page
    assert "X-Primotexto-ApiKey: {YOUR_API_KEY}" in page


def test_the_schema_is_generated_once_per_process():
    assert api_reference() is api_reference()


@pytest.mark.parametrize("dialect", [spec.slug for spec in DIALECT_SPECS])
def test_each_first_call_answers_what_the_schema_says(served_schema, dialect):
    example = QUICK_STARTS[dialect]
    operation = served_schema["paths"][example.request.path][example.request.method.lower()]
    schema = operation["responses"][str(example.status)]["content"]["application/json"]["schema"]
    component = served_schema["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]

    # The answer the page documents, which test_examples checks against the live API, has
    # exactly the schema's fields: neither the page nor the schema leaves one out.
    assert sorted(example.answer) == sorted(component["properties"])
    assert set(example.request.body) <= set(
        served_schema["components"]["schemas"][
            operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        ]["properties"]
    )
