"""Unknown paths and wrong methods under /api/: SoftAfrik's error body (error_body), JSON,
never Django's HTML page. The SMS dialects' own prefixes are tested with each dialect."""

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

NOT_FOUND = {"error": "not_found", "message": "No such path."}


@pytest.mark.parametrize("path", ["/api/nope", "/api/push/nope", "/api/push/inbox/", "/api/users/register/x", "/api/"])
@pytest.mark.parametrize("method", ["get", "post", "put", "delete", "options"])
def test_unknown_path_is_a_json_404(owner, path, method):
    response = getattr(owner.client, method)(path, headers={"X-API-KEY": owner.key})

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == NOT_FOUND


def test_unknown_path_needs_no_key():
    response = APIClient().post("/api/nope", {"x": 1}, format="json")

    assert (response.status_code, response.json()) == (404, NOT_FOUND)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("post", "/api/push/inbox", "GET, HEAD, OPTIONS"),
        ("delete", "/api/push/to-user", "POST, OPTIONS"),
        ("get", "/api/devices/register", "POST, OPTIONS"),
    ],
)
def test_wrong_method_is_a_json_405_with_allow(owner, method, path, allow):
    response = getattr(owner.client, method)(path, headers={"X-API-KEY": owner.key})

    assert response.status_code == 405
    assert response["Allow"] == allow
    assert response.json() == {"error": "method_not_allowed", "message": f'Method "{method.upper()}" not allowed.'}


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/", "/api/redoc/"])
def test_wrong_method_on_the_docs_is_json_too(path):
    response = APIClient().post(path)

    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    assert response.json() == {"error": "method_not_allowed", "message": 'Method "POST" not allowed.'}


@pytest.mark.parametrize("path", ["/api/docs", "/api/schema", "/api/redoc"])
def test_a_get_without_the_trailing_slash_is_still_redirected(path):
    response = APIClient().get(f"{path}?x=1")

    assert (response.status_code, response["Location"]) == (301, f"{path}/?x=1")


def test_docs_still_answer(client):
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/api/schema/").status_code == 200


def test_outsider_gets_the_same_404_and_405(outsider):
    headers = {"X-API-KEY": outsider.key}

    assert outsider.client.get("/api/nope", headers=headers).json() == NOT_FOUND
    assert outsider.client.delete("/api/push/to-user", headers=headers).status_code == 405
