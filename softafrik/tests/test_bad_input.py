"""Every endpoint, fed malformed bodies: a 4xx JSON error each time, never a 500."""

import json

import pytest

pytestmark = pytest.mark.django_db

POST_PATHS = [
    "/api/users/register",
    "/api/devices/register",
    "/api/devices/unregister",
    "/api/push/to-user",
    "/api/push/to-device",
    "/api/push/broadcast",
    "/api/push/read",
    "/api/push/read-all",
    "/api/push/delivered",
    "/api/V1/sms/unides",
    "/api/V1/sms/muldes",
    "/api/V1/sms/muldesp",
    "/v2/notification/messages/send",
    "/v2/unsubscribers/default/contacts",
    "/SMS/v1/messages",
]
GET_PATHS = [
    "/v2/notification/messages/send",
    "/api/push/inbox",
    "/api/push/messages/x",
    "/api/apps/x",
    "/api/V1/sms/x",
    "/v2/notification/messages/stats",
    "/v2/notification/messages/x/status",
    "/SMS/v1/messages/x",
]
BODIES = [
    None,
    [],
    "text",
    123,
    {"x": 1},
    {
        "puid": None,
        "title": ["a"],
        "body": {"a": 1},
        "data": "not-an-object",
        "device_token": 5,
        "id": "abc",
        "numeros": "not-a-list",
        "destinations": {"a": 1},
    },
    {"puid": "sa_1_x" * 100, "external_user_ref": "r" * 5000, "title": "t" * 10_000, "body": "b", "limit": -1},
    {"emetteur": "", "destinataire": "\x00", "corps": "\ud800", "number": [], "message": None, "text": 1, "from": {}},
    {"platform": "android", "device_token": {"endpoint": 1}, "app_name": None, "country": "ZZZ"},
    {"dateDebut": "yesterday", "dateFin": 5, "nbParJour": "many", "intervalleMinutes": 10**30, "date": "soon"},
]


@pytest.mark.parametrize("path", POST_PATHS)
@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_malformed_post_is_a_json_4xx(owner, path, body):
    response = owner.client.post(
        path,
        data=json.dumps(body),
        content_type="application/json",
        headers={"X-API-KEY": owner.key, "Authorization": f"Bearer {owner.key}", "X-Primotexto-ApiKey": owner.key},
    )
    assert 400 <= response.status_code < 500, (path, body, response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("path", POST_PATHS)
def test_invalid_json_is_a_json_400(owner, path):
    response = owner.client.post(
        path,
        data=b"{\xff",
        content_type="application/json",
        headers={"X-API-KEY": owner.key, "Authorization": f"Bearer {owner.key}", "X-Primotexto-ApiKey": owner.key},
    )
    assert response.status_code == 400, (path, response.content[:300])


@pytest.mark.parametrize("path", GET_PATHS)
@pytest.mark.parametrize(
    "query",
    [
        {},
        {"puid": "x", "limit": "abc", "cursor": "-5"},
        {"category": "\x00", "apres": "z", "after": "z"},
        {"identifier": "+22890123456", "message": "m", "date": "99999999999999999999", "sender": "\x00"},
        {"identifier": "+22890123456", "message": "x" * 5000, "date": "-1"},
    ],
)
def test_odd_get_queries_never_fail_with_a_5xx(owner, path, query):
    headers = {"X-API-KEY": owner.key, "Authorization": f"Bearer {owner.key}", "X-Primotexto-ApiKey": owner.key}
    response = owner.client.get(path, query, headers=headers)
    assert response.status_code < 500, (path, query, response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json")


def test_nul_characters_inside_json_data_are_refused_not_a_500(owner):
    from devices.services import end_user_register

    user = end_user_register(tenant=owner.tenant, external_user_ref="nul", meta={})[0]
    response = owner.post("/api/push/to-user", {"puid": user.puid, "title": "t", "body": "b", "data": {"k": "a\x00b"}})
    assert response.status_code == 400
    assert response.json()["field"] == "data"
    meta = owner.post("/api/users/register", {"external_user_ref": "nul", "meta": {"k\x00": 1}})
    assert meta.status_code == 400
    assert meta.json()["field"] == "meta"
