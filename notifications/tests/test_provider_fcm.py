"""FcmProvider against FakeFcmServer: real firebase-admin, real OAuth2 JWT exchange, real HTTP."""

from __future__ import annotations

import time

import pytest
import requests

from fakes.fcm import ERROR_TOKEN_PREFIX, FakeFcmServer, make_service_account
from notifications.push.providers.base import (
    Outcome,
    PermanentProviderError,
    PushMessage,
    PushResult,
    PushTarget,
    TransientProviderError,
)
from notifications.push.providers.fcm import FCM_CHUNK, FcmProvider

MESSAGE = PushMessage(
    title="Order shipped",
    body="Your parcel is on its way",
    data={"order_id": "42", "url": "/orders/42"},
    ttl=3600,
    collapse_id="order-42",
)


@pytest.fixture
def server():
    with FakeFcmServer() as fake:
        yield fake


@pytest.fixture
def service_account(server):
    return make_service_account(server)


@pytest.fixture
def provider(server, service_account):
    adapter = FcmProvider(service_account=service_account, api_url=server.url, name="test-app")
    yield adapter
    adapter.close()


def send_one(provider: FcmProvider, token: str, message: PushMessage = MESSAGE) -> PushResult:
    [result] = provider.send(message, [PushTarget(delivery_id=7, token=token)])
    return result


def test_send_records_title_body_data_and_collapse_key_on_fcm(provider, server):
    send_one(provider, "device-token-1")

    [received] = server.received
    assert received["token"] == "device-token-1"
    assert received["title"] == "Order shipped"
    assert received["body"] == "Your parcel is on its way"
    assert received["data"] == {"order_id": "42", "url": "/orders/42"}
    assert received["collapse_key"] == "order-42"
    assert received["tag"] == "order-42"
    assert received["apns_collapse_id"] == "order-42"


def test_send_returns_sent_with_fcm_message_name(provider, server):
    result = send_one(provider, "device-token-1")

    assert result == PushResult(delivery_id=7, outcome=Outcome.SENT, provider_message_id=server.received[0]["name"])
    assert result.provider_message_id == "projects/demo-project/messages/1"


def test_message_ttl_becomes_android_ttl_and_apns_expiration(provider, server):
    before = int(time.time())
    send_one(provider, "device-token-1")
    after = int(time.time())

    [received] = server.received
    assert received["ttl"] == "3600s"
    expiration = int(received["message"]["apns"]["headers"]["apns-expiration"])
    assert before + 3600 <= expiration <= after + 3600


def test_non_string_data_values_are_sent_as_json_strings(provider, server):
    message = PushMessage(title="t", body="b", data={"count": 3, "flag": True, "items": [1, "a"], "s": "x"})

    result = send_one(provider, "device-token-1", message)

    assert result.outcome is Outcome.SENT
    assert server.received[0]["data"] == {"count": "3", "flag": "true", "items": '[1,"a"]', "s": "x"}


def test_message_without_collapse_id_sends_no_collapse_key(provider, server):
    send_one(provider, "device-token-1", PushMessage(title="t", body="b"))

    [received] = server.received
    assert received["collapse_key"] is None
    assert received["tag"] is None
    assert received["apns_collapse_id"] is None
    assert received["data"] == {}


def test_unregistered_token_is_invalid_token(provider, server):
    server.fail_token("dead-token", "UNREGISTERED")

    assert send_one(provider, "dead-token") == PushResult(7, Outcome.INVALID_ENDPOINT, error="UNREGISTERED")
    assert server.received == []


def test_sender_id_mismatch_is_invalid_token(provider, server):
    server.fail_token("other-project-token", "SENDER_ID_MISMATCH")

    result = send_one(provider, "other-project-token")

    assert result == PushResult(7, Outcome.INVALID_ENDPOINT, error="SENDER_ID_MISMATCH")


def test_invalid_argument_is_permanent_not_invalid_token(provider, server):
    server.fail_token("malformed-token", "INVALID_ARGUMENT")

    result = send_one(provider, "malformed-token")

    assert result == PushResult(
        7,
        Outcome.PERMANENT,
        error="INVALID_ARGUMENT: The registration token is not a valid FCM registration token",
    )


def test_payload_fcm_refuses_is_permanent(provider, server):
    message = PushMessage(title="t", body="b", data={"from": "reserved by FCM"})

    result = send_one(provider, "device-token-1", message)

    assert result == PushResult(7, Outcome.PERMANENT, error="INVALID_ARGUMENT: Invalid data payload key: from")
    assert server.received == []


def test_empty_token_is_permanent_and_does_not_sink_the_batch(provider, server):
    results = provider.send(MESSAGE, [PushTarget(1, ""), PushTarget(2, "device-token-2")])

    assert [(r.delivery_id, r.outcome, r.error) for r in results] == [
        (1, Outcome.PERMANENT, "INVALID_ARGUMENT: empty registration token"),
        (2, Outcome.SENT, ""),
    ]
    assert [item["token"] for item in server.received] == ["device-token-2"]


def test_quota_exceeded_is_transient_with_retry_after(provider, server):
    server.retry_after = 42
    server.fail_token("busy-token", "QUOTA_EXCEEDED")

    result = send_one(provider, "busy-token")

    assert result == PushResult(7, Outcome.TRANSIENT, error="QUOTA_EXCEEDED", retry_after=42.0)


@pytest.mark.parametrize(
    ("kind", "retry_after"),
    [("UNAVAILABLE", 10.0), ("INTERNAL", None)],
)
def test_fcm_server_error_is_transient(provider, server, kind, retry_after):
    server.fail_token("device-token-1", kind)

    result = send_one(provider, "device-token-1")

    assert result == PushResult(7, Outcome.TRANSIENT, error=kind, retry_after=retry_after)


def test_server_error_is_not_retried_inside_the_provider(provider, server):
    server.fail_token("device-token-1", "UNAVAILABLE", times=1)

    first = send_one(provider, "device-token-1")
    second = send_one(provider, "device-token-1")

    assert (first.outcome, second.outcome) == (Outcome.TRANSIENT, Outcome.SENT)
    assert server.send_requests == 2


def test_fcm_answer_slower_than_http_timeout_is_transient(server, service_account):
    provider = FcmProvider(service_account=service_account, api_url=server.url, name="test-app", http_timeout=0.2)
    server.delay = 0.5
    try:
        result = send_one(provider, "device-token-1")
    finally:
        provider.close()

    assert (result.outcome, result.error, result.retry_after) == (Outcome.TRANSIENT, "DEADLINE_EXCEEDED", None)


def test_error_token_convention_needs_no_setup(provider):
    result = send_one(provider, f"{ERROR_TOKEN_PREFIX}UNREGISTERED:1")

    assert result.outcome is Outcome.INVALID_ENDPOINT


def test_mixed_batch_of_500_answers_each_target_with_its_own_result(provider, server):
    kinds = ["UNREGISTERED", "INVALID_ARGUMENT", "QUOTA_EXCEEDED"]
    targets = []
    for delivery_id in range(1, FCM_CHUNK + 1):
        token = f"token-{delivery_id}"
        if delivery_id % 10 == 0:
            token = f"{ERROR_TOKEN_PREFIX}{kinds[delivery_id // 10 % 3]}:{delivery_id}"
        targets.append(PushTarget(delivery_id, token))

    results = provider.send(MESSAGE, targets)

    assert [result.delivery_id for result in results] == list(range(1, FCM_CHUNK + 1))
    name_by_token = {item["token"]: item["name"] for item in server.received}
    assert len(name_by_token) == server.accepted == 450
    expected_outcome = {
        "UNREGISTERED": Outcome.INVALID_ENDPOINT,
        "INVALID_ARGUMENT": Outcome.PERMANENT,
        "QUOTA_EXCEEDED": Outcome.TRANSIENT,
    }
    for target, result in zip(targets, results, strict=True):
        if target.delivery_id % 10 == 0:
            kind = kinds[target.delivery_id // 10 % 3]
            assert (result.outcome, result.error.split(":")[0]) == (expected_outcome[kind], kind)
        else:
            assert (result.outcome, result.provider_message_id) == (Outcome.SENT, name_by_token[target.token])


def test_more_than_500_targets_raises_and_sends_nothing(provider, server):
    targets = [PushTarget(i, f"token-{i}") for i in range(FCM_CHUNK + 1)]

    with pytest.raises(ValueError, match="at most 500 targets"):
        provider.send(MESSAGE, targets)

    assert server.send_requests == 0
    assert server.token_requests == 0


def test_empty_target_list_sends_nothing(provider, server):
    assert provider.send(MESSAGE, []) == []
    assert (server.token_requests, server.send_requests) == (0, 0)


def test_access_token_is_fetched_once_and_reused_across_sends(provider, server):
    provider.send(MESSAGE, [PushTarget(i, f"token-{i}") for i in range(200)])
    provider.send(MESSAGE, [PushTarget(i, f"token-{i}") for i in range(200)])
    send_one(provider, "device-token-1")

    assert server.token_requests == 1
    assert len(server.received) == 401


def test_access_token_rejected_by_fcm_is_refreshed_and_the_send_succeeds(provider, server):
    send_one(provider, "device-token-1")
    server.revoke_access_tokens()

    result = send_one(provider, "device-token-2")

    assert result.outcome is Outcome.SENT
    assert server.token_requests == 2


def test_connection_refused_raises_transient_provider_error(server, service_account):
    provider = FcmProvider(service_account=service_account, api_url=server.url, name="test-app")
    server.stop()  # the token endpoint and FCM both refuse connections now
    try:
        with pytest.raises(TransientProviderError, match="unreachable"):
            send_one(provider, "device-token-1")
    finally:
        provider.close()


def test_fcm_unreachable_with_a_valid_token_raises_transient_provider_error(provider, server):
    send_one(provider, "device-token-1")
    server.stop()

    with pytest.raises(TransientProviderError, match="FCM unreachable"):
        provider.send(MESSAGE, [PushTarget(1, "device-token-1"), PushTarget(2, "device-token-2")])


def test_service_account_key_unknown_to_google_raises_permanent_provider_error(server):
    account = make_service_account(server, register=False)
    provider = FcmProvider(service_account=account, api_url=server.url, name="test-app")
    try:
        with pytest.raises(PermanentProviderError, match="invalid_grant"):
            send_one(provider, "device-token-1")
    finally:
        provider.close()
    assert server.send_requests == 0


def test_malformed_service_account_raises_permanent_provider_error(service_account):
    broken = {**service_account, "private_key": "not a key"}

    with pytest.raises(PermanentProviderError, match="invalid FCM service account"):
        FcmProvider(service_account=broken, name="test-app")


def test_two_providers_with_the_same_name_coexist(server, service_account):
    first = FcmProvider(service_account=service_account, api_url=server.url, name="tenant-1")
    second = FcmProvider(service_account=service_account, api_url=server.url, name="tenant-1")
    try:
        first.close()
        assert send_one(second, "device-token-1").outcome is Outcome.SENT
    finally:
        second.close()


def test_close_deletes_the_firebase_app(server, service_account):
    import firebase_admin

    provider = FcmProvider(service_account=service_account, api_url=server.url, name="test-app")
    provider.close()
    provider.close()  # idempotent

    with pytest.raises(ValueError):
        firebase_admin.get_app(provider.app_name)


def test_fake_refuses_non_string_data_like_fcm(provider, server):
    send_one(provider, "device-token-1")  # to get an access token issued
    access_token = next(iter(server._access_tokens))

    response = requests.post(
        f"{server.url}/v1/projects/demo-project/messages:send",
        json={"message": {"token": "t", "data": {"count": 3}}},
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=5,
    )

    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert response.json()["error"]["message"] == "Invalid value at 'message.data[0].value' (TYPE_STRING), 3"


def test_fake_refuses_a_send_without_bearer_token(server):
    response = requests.post(
        f"{server.url}/v1/projects/demo-project/messages:send",
        json={"message": {"token": "t"}},
        timeout=5,
    )

    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"
    assert server.received == []


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (
            {"android": {"priority": "urgent"}},
            "Invalid value at 'message.android.priority' "
            '(type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority), "urgent"',
        ),
        (
            {"android": {"notification": {"notification_count": "3"}}},
            "Invalid value at 'message.android.notification.notification_count' (TYPE_INT32), \"3\"",
        ),
        (
            {"android": {"notification": {"sound": 1}}},
            "Invalid value at 'message.android.notification.sound' (TYPE_STRING), 1",
        ),
        (
            {"android": {"notification": {"badge": 1}}},
            "Invalid JSON payload received. Unknown name \"badge\" at 'message.android.notification': "
            "Cannot find field.",
        ),
        (
            {"apns": {"payload": {"aps": {"badge": "3"}}}},
            "Invalid value at 'message.apns.payload.aps.badge' (TYPE_INT32), \"3\"",
        ),
        (
            {"apns": {"fcm_options": {"image": 7}}},
            "Invalid value at 'message.apns.fcm_options.image' (TYPE_STRING), 7",
        ),
    ],
)
def test_fake_refuses_badly_typed_display_fields_like_fcm(provider, server, message, error):
    send_one(provider, "device-token-1")  # to get an access token issued
    access_token = next(iter(server._access_tokens))

    response = requests.post(
        f"{server.url}/v1/projects/demo-project/messages:send",
        json={"message": {"token": "t", **message}},
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=5,
    )

    assert (response.status_code, response.json()["error"]["message"]) == (400, error)
    assert len(server.received) == 1
