"""Both FCM transports against FakeFcmServer: real OAuth2 JWT exchange, real HTTP.

Every behaviour runs against firebase-admin's ``send_each`` (``FcmProvider``) and the
aiohttp transport (``AiohttpFcmProvider``), which must answer alike.
"""

from __future__ import annotations

import email.utils
import os
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
from notifications.push.providers.fcm_aiohttp import AiohttpFcmProvider

TRANSPORTS = {"aiohttp": AiohttpFcmProvider, "firebase-admin": FcmProvider}

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


@pytest.fixture(params=sorted(TRANSPORTS))
def make_provider(request):
    """Builds providers of the transport under test and closes them after the test."""
    built = []

    def make(**kwargs):
        built.append(TRANSPORTS[request.param](**{"name": "test-app", **kwargs}))
        return built[-1]

    yield make
    for adapter in built:
        adapter.close()


@pytest.fixture
def provider(make_provider, server, service_account):
    return make_provider(service_account=service_account, api_url=server.url)


def send_one(provider: FcmProvider | AiohttpFcmProvider, token: str, message: PushMessage = MESSAGE) -> PushResult:
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


def test_retry_after_as_an_http_date_becomes_seconds_from_now(provider, server):
    server.retry_after = email.utils.formatdate(time.time() + 60, usegmt=True)
    server.fail_token("busy-token", "QUOTA_EXCEEDED")

    result = send_one(provider, "busy-token")

    assert (result.outcome, result.error) == (Outcome.TRANSIENT, "QUOTA_EXCEEDED")
    assert 58.0 <= result.retry_after <= 60.0


def test_third_party_auth_error_is_permanent_and_deactivates_nothing(provider, server):
    server.fail_token("ios-device-token", "THIRD_PARTY_AUTH_ERROR")

    result = send_one(provider, "ios-device-token")

    assert result == PushResult(
        7, Outcome.PERMANENT, error="THIRD_PARTY_AUTH_ERROR: Auth error from APNS or Web Push Service"
    )


def test_aiohttp_transport_keeps_its_token_on_a_third_party_auth_error(server, service_account):
    # A 401 about the app's APNs/Web Push credentials is not about our OAuth2 token:
    # exchanging it again (as google-auth's session does for any 401) would not help.
    provider = AiohttpFcmProvider(service_account=service_account, api_url=server.url, name="test-app")
    server.fail_token("ios-device-token", "THIRD_PARTY_AUTH_ERROR")
    try:
        result = send_one(provider, "ios-device-token")
    finally:
        provider.close()

    assert result.outcome is Outcome.PERMANENT
    assert (server.token_requests, server.send_requests) == (1, 1)


def test_access_token_still_rejected_after_two_refreshes_is_permanent(provider, server, monkeypatch):
    send_one(provider, "device-token-1")
    # Every token the fake issues from now on is forgotten at once: FCM keeps answering 401.
    issue = server._answer_token

    def issue_and_forget(body):
        answer = issue(body)
        server.revoke_access_tokens()
        return answer

    monkeypatch.setattr(server, "_answer_token", issue_and_forget)
    server.revoke_access_tokens()

    result = send_one(provider, "device-token-2")

    assert (result.outcome, result.error.split(":")[0]) == (Outcome.PERMANENT, "UNAUTHENTICATED")
    assert server.token_requests == 3  # the first token, then two refreshes
    assert [item["token"] for item in server.received] == ["device-token-1"]


def test_send_many_sends_each_target_its_own_message(provider, server):
    other = PushMessage(title="Payment received", body="Thank you", data={"invoice": "9"}, data_only=True)

    results = provider.send_many([(MESSAGE, PushTarget(1, "token-a")), (other, PushTarget(2, "token-b"))])

    assert [(r.delivery_id, r.outcome) for r in results] == [(1, Outcome.SENT), (2, Outcome.SENT)]
    received = server.received_by_token()
    assert (received["token-a"]["title"], received["token-a"]["data"]) == ("Order shipped", MESSAGE.data)
    assert "notification" not in received["token-b"]["message"]
    assert received["token-b"]["data"] == {"title": "Payment received", "body": "Thank you", "invoice": "9"}


def test_a_batch_is_sent_concurrently(provider, server):
    send_one(provider, "device-token-0")  # the token exchange, outside the timing
    server.delay = 0.2

    started = time.monotonic()
    results = provider.send(MESSAGE, [PushTarget(i, f"token-{i}") for i in range(100)])
    elapsed = time.monotonic() - started

    assert [result.outcome for result in results] == [Outcome.SENT] * 100
    assert elapsed < 3.0  # one after the other would take 20 s


@pytest.mark.parametrize(
    "message",
    [
        MESSAGE,
        PushMessage(title="t", body="b"),
        PushMessage(title="t", body="b", data={"k": "v", "n": 2}, data_only=True, collapse_id="c", ttl=0),
        PushMessage(title="t", body="b", badge=3, sound="ping.caf", image="https://example.com/i.png", ttl=60),
    ],
)
def test_both_transports_send_the_same_message_json(server, service_account, message):
    sent = {}
    for transport, provider_class in TRANSPORTS.items():
        provider = provider_class(service_account=service_account, api_url=server.url, name="test-app")
        try:
            assert send_one(provider, f"token-{transport}", message).outcome is Outcome.SENT
        finally:
            provider.close()
        fcm_message = dict(server.received_by_token()[f"token-{transport}"]["message"])
        del fcm_message["token"]
        sent[transport] = fcm_message

    # apns-expiration is a UNIX time computed at each send
    for fcm_message in sent.values():
        fcm_message.get("apns", {}).get("headers", {}).pop("apns-expiration", None)
    assert sent["aiohttp"] == sent["firebase-admin"]


def test_server_error_is_not_retried_inside_the_provider(provider, server):
    server.fail_token("device-token-1", "UNAVAILABLE", times=1)

    first = send_one(provider, "device-token-1")
    second = send_one(provider, "device-token-1")

    assert (first.outcome, second.outcome) == (Outcome.TRANSIENT, Outcome.SENT)
    assert server.send_requests == 2


def test_fcm_answer_slower_than_http_timeout_is_transient(make_provider, server, service_account):
    provider = make_provider(service_account=service_account, api_url=server.url, http_timeout=0.2)
    server.delay = 0.5

    result = send_one(provider, "device-token-1")

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


def test_connection_refused_raises_transient_provider_error(make_provider, server, service_account):
    provider = make_provider(service_account=service_account, api_url=server.url)
    server.stop()  # the token endpoint and FCM both refuse connections now

    with pytest.raises(TransientProviderError, match="OAuth token endpoint unreachable"):
        send_one(provider, "device-token-1")


def test_fcm_unreachable_with_a_valid_token_raises_transient_provider_error(provider, server):
    send_one(provider, "device-token-1")
    server.stop()

    with pytest.raises(TransientProviderError, match="FCM unreachable"):
        provider.send(MESSAGE, [PushTarget(1, "device-token-1"), PushTarget(2, "device-token-2")])


def test_service_account_key_unknown_to_google_raises_permanent_provider_error(make_provider, server):
    account = make_service_account(server, register=False)
    provider = make_provider(service_account=account, api_url=server.url)

    with pytest.raises(PermanentProviderError, match="invalid_grant"):
        send_one(provider, "device-token-1")

    assert server.send_requests == 0


def test_malformed_service_account_raises_permanent_provider_error(make_provider, service_account):
    broken = {**service_account, "private_key": "not a key"}

    with pytest.raises(PermanentProviderError, match="invalid FCM service account"):
        make_provider(service_account=broken)


def test_two_providers_with_the_same_name_coexist(make_provider, server, service_account):
    first = make_provider(service_account=service_account, api_url=server.url, name="tenant-1")
    second = make_provider(service_account=service_account, api_url=server.url, name="tenant-1")

    first.close()

    assert send_one(second, "device-token-1").outcome is Outcome.SENT


def test_aiohttp_transport_close_is_idempotent_and_closes_its_connections(server, service_account):
    provider = AiohttpFcmProvider(service_account=service_account, api_url=server.url, name="test-app")
    send_one(provider, "device-token-1")
    session = provider._session

    provider.close()
    provider.close()

    assert session.closed


def test_aiohttp_transport_built_before_a_fork_sends_from_the_child_on_its_own_connections(server, service_account):
    provider = AiohttpFcmProvider(service_account=service_account, api_url=server.url, name="test-app")
    try:
        assert send_one(provider, "parent-token").outcome is Outcome.SENT
        parent_session = provider._session
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report the outcome and whether the session was a new one
            try:
                result = send_one(provider, "child-token")
                answer = f"{result.outcome}|{result.provider_message_id}|{provider._session is not parent_session}"
            except BaseException as exc:
                answer = f"error|{exc!r}|"
            os.write(write_end, answer.encode())
            os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            answer = pipe.read()
        os.waitpid(pid, 0)
        # the parent still sends on its own session afterwards
        assert send_one(provider, "parent-token-2").outcome is Outcome.SENT
    finally:
        provider.close()

    outcome, message_id, new_session = answer.split("|")
    assert (outcome, new_session) == (str(Outcome.SENT), "True")
    assert server.received_by_token()["child-token"]["name"] == message_id
    assert provider._session is None and parent_session.closed


def test_firebase_admin_transport_close_deletes_the_firebase_app(server, service_account):
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
