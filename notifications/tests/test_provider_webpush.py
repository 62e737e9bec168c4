"""WebPushProvider against FakeWebPushServer: real HTTP, real VAPID, real aes128gcm."""

from __future__ import annotations

import base64
import collections
import email.utils
import json
import os
import threading
import time

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid

from fakes.webpush import FakeWebPushServer
from notifications.push.providers import aioloop, webpush
from notifications.push.providers.base import (
    Outcome,
    PermanentProviderError,
    PushMessage,
    PushResult,
    PushTarget,
)
from notifications.push.providers.webpush import (
    VAPID_TOKEN_LIFETIME,
    VAPID_TOKEN_REFRESH_MARGIN,
    WebPushProvider,
    collapse_id_to_topic,
    generate_vapid_keypair,
    parse_retry_after,
)
from notifications.push.providers.webpush_aiohttp import CONNECTIONS_PER_ORIGIN, PushRequest, WebPushTransport

MESSAGE = PushMessage(
    title="Order shipped",
    body="Your parcel is on its way",
    data={"order_id": "42", "url": "/orders/42"},
    ttl=3600,
    collapse_id="order-42",
)
VAPID_PRIVATE_KEY, VAPID_PUBLIC_KEY = generate_vapid_keypair()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def target(subscription: dict | str, delivery_id: int = 1) -> PushTarget:
    token = subscription if isinstance(subscription, str) else json.dumps(subscription)
    return PushTarget(delivery_id=delivery_id, token=token)


@pytest.fixture
def server():
    with FakeWebPushServer() as fake:
        yield fake


@pytest.fixture
def provider():
    adapter = WebPushProvider(vapid_private_key=VAPID_PRIVATE_KEY, timeout=5.0, allow_http=True)
    yield adapter
    adapter.close()


# -- delivery ------------------------------------------------------------------------


def test_push_is_decrypted_to_exactly_title_body_data(server, provider):
    subscription = server.new_subscription()

    [result] = provider.send(MESSAGE, [target(subscription)])

    [push] = server.received
    assert push.payload == {
        "title": "Order shipped",
        "body": "Your parcel is on its way",
        "data": {"order_id": "42", "url": "/orders/42"},
    }
    assert push.endpoint == subscription["endpoint"]
    assert result == PushResult(
        delivery_id=1,
        outcome=Outcome.SENT,
        provider_message_id=f"{server.url}/message/{push.message_id}",
    )


def test_push_carries_ttl_topic_and_normal_urgency(server, provider):
    provider.send(MESSAGE, [target(server.new_subscription())])

    [push] = server.received
    assert (push.ttl, push.topic, push.urgency) == (3600, "order-42", "normal")


def test_default_ttl_is_sent_rather_than_pywebpush_zero(server, provider):
    provider.send(PushMessage(title="t", body="b"), [target(server.new_subscription())])

    [push] = server.received
    assert (push.ttl, push.topic) == (86400, None)


def test_collapse_id_outside_topic_alphabet_becomes_a_stable_valid_topic(server, provider):
    collapse_id = "tenant:7/campaign:été-2026/very-long-identifier"
    message = PushMessage(title="t", body="b", collapse_id=collapse_id)

    provider.send(message, [target(server.new_subscription())])

    [push] = server.received
    assert push.topic == collapse_id_to_topic(collapse_id)
    assert len(push.topic) == 32
    assert collapse_id_to_topic(collapse_id) != collapse_id_to_topic(collapse_id + "x")


# -- VAPID ---------------------------------------------------------------------------


def test_vapid_jwt_is_signed_by_the_provider_key_for_the_push_service_origin(server, provider):
    before = time.time()

    provider.send(MESSAGE, [target(server.new_subscription())])

    [push] = server.received
    assert push.vapid_public_key == VAPID_PUBLIC_KEY == provider.vapid_public_key
    assert push.vapid_claims["aud"] == server.url
    assert push.vapid_claims["sub"] == "mailto:ops@softafrik.local"
    assert int(before) + 12 * 3600 <= push.vapid_claims["exp"] <= time.time() + 12 * 3600


def test_vapid_jwt_is_reused_across_pushes_to_the_same_origin(server, provider):
    provider.send(MESSAGE, [target(server.new_subscription())])
    provider.send(MESSAGE, [target(server.new_subscription())])

    first, second = server.received
    # ECDSA signatures are randomised: re-signing would give a different token.
    assert first.vapid_token == second.vapid_token


def test_vapid_jwt_is_signed_once_for_a_whole_chunk(server, provider):
    provider.send(MESSAGE, [target(server.new_subscription(), i) for i in range(50)])

    assert {push.vapid_token for push in server.received} == {server.received[0].vapid_token}
    assert len(server.received) == 50


def test_vapid_jwt_is_signed_again_when_it_nears_expiry(server, provider, monkeypatch):
    provider.send(MESSAGE, [target(server.new_subscription())])
    first_exp = server.received[0].vapid_claims["exp"]
    # the cached token is due for renewal once within the refresh margin of its exp
    later = time.time() + VAPID_TOKEN_LIFETIME - VAPID_TOKEN_REFRESH_MARGIN + 1
    monkeypatch.setattr(webpush.time, "time", lambda: later)

    provider.send(MESSAGE, [target(server.new_subscription())])
    provider.send(MESSAGE, [target(server.new_subscription())])

    first, second, third = server.received
    assert second.vapid_token != first.vapid_token
    assert third.vapid_token == second.vapid_token
    assert second.vapid_claims["exp"] == int(later) + VAPID_TOKEN_LIFETIME > first_exp


def test_subscription_bound_to_another_vapid_key_gets_403_mapped_permanent(server, provider):
    _, other_public_key = generate_vapid_keypair()
    subscription = server.new_subscription(application_server_key=other_public_key)

    [result] = provider.send(MESSAGE, [target(subscription)])

    assert result == PushResult(delivery_id=1, outcome=Outcome.PERMANENT, error="HTTP 403")
    assert server.received == []


def test_subscription_bound_to_the_provider_vapid_key_is_accepted(server, provider):
    subscription = server.new_subscription(application_server_key=VAPID_PUBLIC_KEY)

    [result] = provider.send(MESSAGE, [target(subscription)])

    assert result.outcome is Outcome.SENT
    assert len(server.received) == 1


def _raw_push(server, subscription, *, claims, signing_key, public_key):
    token = jwt.encode(claims, signing_key, algorithm="ES256")
    return requests.post(
        subscription["endpoint"],
        data=b"",
        headers={"Authorization": f"vapid t={token}, k={public_key}", "TTL": "60"},
        timeout=5,
    )


def test_fake_refuses_jwt_signed_by_a_key_other_than_k_with_401(server):
    signing_key = ec.generate_private_key(ec.SECP256R1())
    claims = {
        "aud": server.url,
        "exp": int(time.time()) + 3600,
        "sub": "mailto:a@b.example",
    }

    response = _raw_push(
        server,
        server.new_subscription(),
        claims=claims,
        signing_key=signing_key,
        public_key=VAPID_PUBLIC_KEY,
    )

    assert response.status_code == 401
    assert server.received == []


@pytest.mark.parametrize(
    "claims_override",
    [
        {"aud": "https://fcm.googleapis.com"},
        {"exp": int(time.time()) - 60},
        {"exp": int(time.time()) + 25 * 3600},
    ],
    ids=["wrong-aud", "expired", "exp-over-24h"],
)
def test_fake_refuses_jwt_with_bad_claims_with_401(server, claims_override):
    signing_key = ec.generate_private_key(ec.SECP256R1())
    public_key = b64url(
        signing_key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    claims = {
        "aud": server.url,
        "exp": int(time.time()) + 3600,
        "sub": "mailto:a@b.example",
    }

    response = _raw_push(
        server,
        server.new_subscription(),
        claims={**claims, **claims_override},
        signing_key=signing_key,
        public_key=public_key,
    )

    assert response.status_code == 401
    assert server.received == []


def test_fake_refuses_push_without_authorization_with_401(server):
    response = requests.post(
        server.new_subscription()["endpoint"],
        data=b"",
        headers={"TTL": "60"},
        timeout=5,
    )

    assert response.status_code == 401


# -- error mapping -------------------------------------------------------------------


def test_expired_subscription_410_is_invalid_token(server, provider):
    subscription = server.new_subscription()
    server.expire(subscription)

    [result] = provider.send(MESSAGE, [target(subscription)])

    assert result == PushResult(delivery_id=1, outcome=Outcome.INVALID_ENDPOINT, error="HTTP 410")
    assert server.received == []


def test_unknown_subscription_404_is_invalid_token(server, provider):
    subscription = server.new_subscription()
    subscription["endpoint"] = f"{server.url}/push/{'0' * 32}"

    [result] = provider.send(MESSAGE, [target(subscription)])

    assert result == PushResult(delivery_id=1, outcome=Outcome.INVALID_ENDPOINT, error="HTTP 404")


def test_413_from_push_service_is_permanent(server, provider):
    subscription = server.new_subscription()
    server.fail_subscription(subscription, 413)

    [result] = provider.send(MESSAGE, [target(subscription)])

    assert result == PushResult(delivery_id=1, outcome=Outcome.PERMANENT, error="HTTP 413")


def test_oversized_payload_is_permanent_without_any_http_call(server, provider):
    message = PushMessage(title="t", body="x" * 4000)

    [result] = provider.send(message, [target(server.new_subscription())])

    assert result.outcome is Outcome.PERMANENT
    assert result.error.startswith("payload too large")
    assert server.request_count == 0


def test_429_is_transient_with_retry_after(server, provider):
    subscription = server.new_subscription()
    server.fail_subscription(subscription, 429, retry_after=120)

    [result] = provider.send(MESSAGE, [target(subscription)])

    assert result == PushResult(delivery_id=1, outcome=Outcome.TRANSIENT, error="HTTP 429", retry_after=120.0)


def test_503_is_transient_with_retry_after(server, provider):
    subscription = server.new_subscription()
    server.fail_subscription(subscription, 503, retry_after=30)

    [result] = provider.send(MESSAGE, [target(subscription)])

    assert result == PushResult(delivery_id=1, outcome=Outcome.TRANSIENT, error="HTTP 503", retry_after=30.0)


def test_500_without_retry_after_is_transient_with_none(server, provider):
    subscription = server.new_subscription()
    server.fail_subscription(subscription, 500)

    [result] = provider.send(MESSAGE, [target(subscription)])

    assert result == PushResult(delivery_id=1, outcome=Outcome.TRANSIENT, error="HTTP 500")


@pytest.mark.parametrize("status", [301, 307, 400, 403])
def test_other_statuses_are_permanent(server, provider, status):
    subscription = server.new_subscription()
    server.fail_subscription(subscription, status)

    [result] = provider.send(MESSAGE, [target(subscription)])

    assert result == PushResult(delivery_id=1, outcome=Outcome.PERMANENT, error=f"HTTP {status}")
    assert server.request_count == 1


def test_injected_failure_stops_after_times(server, provider):
    subscription = server.new_subscription()
    server.fail_subscription(subscription, 503, times=1)

    first = provider.send(MESSAGE, [target(subscription)])[0]
    second = provider.send(MESSAGE, [target(subscription)])[0]

    assert (first.outcome, second.outcome) == (Outcome.TRANSIENT, Outcome.SENT)
    assert len(server.received) == 1


def test_clear_failures_restores_delivery(server, provider):
    expired, failing = server.new_subscription(), server.new_subscription()
    server.expire(expired)
    server.fail_subscription(failing, 500)

    server.clear_failures()
    results = provider.send(MESSAGE, [target(expired, 1), target(failing, 2)])

    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.SENT]


def test_retry_after_http_date_is_converted_to_seconds():
    in_90_seconds = email.utils.formatdate(time.time() + 90, usegmt=True)

    assert parse_retry_after(in_90_seconds) == pytest.approx(90, abs=2)
    assert parse_retry_after("soon") is None


def test_timeout_is_enforced_and_transient(server):
    adapter = WebPushProvider(vapid_private_key=VAPID_PRIVATE_KEY, timeout=0.3, allow_http=True)
    server.delay = 3.0
    started = time.monotonic()
    try:
        [result] = adapter.send(MESSAGE, [target(server.new_subscription())])
    finally:
        adapter.close()

    assert time.monotonic() - started < 1.5
    assert result == PushResult(delivery_id=1, outcome=Outcome.TRANSIENT, error="timeout")


def test_batch_deadline_reports_unanswered_pushes_as_timeout(server):
    transport = WebPushTransport(timeout=5.0)
    server.delay = 3.0
    requests_ = [
        PushRequest(1, server.url, server.new_subscription()["endpoint"], {"TTL": "60"}, b""),
        PushRequest(2, server.url, server.new_subscription()["endpoint"], {"TTL": "60"}, b""),
    ]
    started = time.monotonic()
    try:
        results = aioloop.run(transport.send_all(requests_, deadline=0.3), timeout=5)
    finally:
        transport.close()

    assert time.monotonic() - started < 1.5
    assert results == [PushResult(i, Outcome.TRANSIENT, error="timeout") for i in (1, 2)]


def test_connection_refused_is_transient(provider):
    with FakeWebPushServer() as gone:
        subscription = gone.new_subscription()

    [result] = provider.send(MESSAGE, [target(subscription)])

    assert result == PushResult(delivery_id=1, outcome=Outcome.TRANSIENT, error="connection error")


# -- invalid subscriptions -----------------------------------------------------------

_NOT_ON_CURVE = b64url(b"\x04" + b"\x00" * 64)


@pytest.mark.parametrize(
    "token",
    [
        "not json",
        "[]",
        "null",
        '{"endpoint": "ENDPOINT"}',
        '{"endpoint": "ENDPOINT", "keys": {"p256dh": "P256DH"}}',
        '{"endpoint": "ENDPOINT", "keys": {"p256dh": "AAAA", "auth": "AUTH"}}',
        '{"endpoint": "ENDPOINT", "keys": {"p256dh": "' + _NOT_ON_CURVE + '", "auth": "AUTH"}}',
        '{"endpoint": "ENDPOINT", "keys": {"p256dh": "P256DH", "auth": "AAAA"}}',
        '{"endpoint": "ftp://127.0.0.1/push/x", "keys": {"p256dh": "P256DH", "auth": "AUTH"}}',
        '{"endpoint": "http://127.0.0.1:99999/x", "keys": {"p256dh": "P256DH", "auth": "AUTH"}}',
        '{"endpoint": 42, "keys": {"p256dh": "P256DH", "auth": "AUTH"}}',
    ],
    ids=[
        "not-json",
        "not-object",
        "null",
        "no-keys",
        "no-auth",
        "short-p256dh",
        "p256dh-not-on-curve",
        "short-auth",
        "ftp-endpoint",
        "bad-port",
        "endpoint-not-string",
    ],
)
def test_garbage_subscription_is_invalid_token_without_any_http_call(server, provider, token):
    valid = server.new_subscription()
    token = (
        token.replace("ENDPOINT", valid["endpoint"])
        .replace("P256DH", valid["keys"]["p256dh"])
        .replace("AUTH", valid["keys"]["auth"])
    )

    [result] = provider.send(MESSAGE, [target(token, delivery_id=7)])

    assert result == PushResult(delivery_id=7, outcome=Outcome.INVALID_ENDPOINT, error="invalid subscription")
    assert server.request_count == 0


def test_http_endpoint_is_refused_unless_allowed(server):
    adapter = WebPushProvider(vapid_private_key=VAPID_PRIVATE_KEY)
    try:
        [result] = adapter.send(MESSAGE, [target(server.new_subscription())])
    finally:
        adapter.close()

    assert (result.outcome, result.error) == (
        Outcome.INVALID_ENDPOINT,
        "invalid subscription",
    )
    assert server.request_count == 0


# -- batches -------------------------------------------------------------------------


def test_batch_of_100_arrives_exactly_once(server, provider):
    subscriptions = [server.new_subscription() for _ in range(100)]
    targets = [target(sub, delivery_id=i) for i, sub in enumerate(subscriptions, start=1)]

    results = provider.send(MESSAGE, targets)

    assert [r.delivery_id for r in results] == list(range(1, 101))
    assert {r.outcome for r in results} == {Outcome.SENT}
    arrivals = collections.Counter(push.endpoint for push in server.received)
    assert arrivals == collections.Counter(sub["endpoint"] for sub in subscriptions)
    assert server.request_count == 100


def test_batch_reuses_keep_alive_connections(server, provider):
    subscriptions = [server.new_subscription() for _ in range(100)]

    provider.send(MESSAGE, [target(sub, i) for i, sub in enumerate(subscriptions)])
    opened = server.connection_count
    provider.send(MESSAGE, [target(sub, i) for i, sub in enumerate(subscriptions)])

    assert len(server.received) == 200
    assert 1 <= opened <= CONNECTIONS_PER_ORIGIN
    assert server.connection_count == opened  # the second chunk opened none


def test_a_chunk_is_sent_concurrently(server, provider):
    server.delay = 0.2
    subscriptions = [server.new_subscription() for _ in range(100)]

    started = time.monotonic()
    results = provider.send(MESSAGE, [target(sub, i) for i, sub in enumerate(subscriptions)])
    elapsed = time.monotonic() - started

    assert [r.outcome for r in results] == [Outcome.SENT] * 100
    assert elapsed < 3.0  # one after the other would take 20 s


def test_requests_in_flight_per_origin_are_bounded_by_its_connections(server):
    adapter = WebPushProvider(vapid_private_key=VAPID_PRIVATE_KEY, allow_http=True, connections_per_origin=4)
    server.delay = 0.2
    subscriptions = [server.new_subscription() for _ in range(20)]
    started = time.monotonic()
    try:
        results = adapter.send(MESSAGE, [target(sub, i) for i, sub in enumerate(subscriptions)])
    finally:
        adapter.close()
    elapsed = time.monotonic() - started

    assert [r.outcome for r in results] == [Outcome.SENT] * 20
    assert server.connection_count == 4
    assert elapsed >= 5 * 0.2  # 20 pushes, 4 at a time


def test_each_origin_has_its_own_connections_and_vapid_audience():
    adapter = WebPushProvider(vapid_private_key=VAPID_PRIVATE_KEY, allow_http=True, connections_per_origin=2)
    with FakeWebPushServer() as slow, FakeWebPushServer() as fast:
        slow.delay = 0.5
        targets = [target(slow.new_subscription(), i) for i in range(8)]
        targets += [target(fast.new_subscription(), i) for i in range(8, 16)]
        fast_done: list[float] = []

        def watch_fast() -> None:
            while len(fast.received) < 8 and time.monotonic() - started < 10:
                time.sleep(0.01)
            fast_done.append(time.monotonic() - started)

        started = time.monotonic()
        watcher = threading.Thread(target=watch_fast)
        watcher.start()
        try:
            results = adapter.send(MESSAGE, targets)
        finally:
            adapter.close()
        elapsed = time.monotonic() - started
        watcher.join()

        assert [r.outcome for r in results] == [Outcome.SENT] * 16
        # the slow service's 8 pushes on its 2 connections take 2 s; the fast one's don't wait
        assert elapsed >= 4 * 0.5
        assert fast_done[0] < 1.0
        assert (slow.connection_count, fast.connection_count) == (2, 2)
        assert {push.vapid_claims["aud"] for push in slow.received} == {slow.url}
        assert {push.vapid_claims["aud"] for push in fast.received} == {fast.url}


def test_least_recently_used_idle_origin_is_closed_past_the_pool_bound():
    adapter = WebPushProvider(vapid_private_key=VAPID_PRIVATE_KEY, allow_http=True, pooled_origins=2)
    with FakeWebPushServer() as first, FakeWebPushServer() as second, FakeWebPushServer() as third:
        try:
            for server in (first, second, first, third):
                [result] = adapter.send(MESSAGE, [target(server.new_subscription())])
                assert result.outcome is Outcome.SENT
            sessions = dict(adapter._transport._origins)
            # first was used after second, so second is the one closed for third
            assert list(sessions) == [first.url, third.url]
            [result] = adapter.send(MESSAGE, [target(second.new_subscription())])
        finally:
            adapter.close()

    assert result.outcome is Outcome.SENT
    assert second.connection_count == 2  # its first connection was closed with its session
    assert all(origin.session.closed for origin in sessions.values())


def test_close_closes_every_session_and_is_idempotent(server):
    adapter = WebPushProvider(vapid_private_key=VAPID_PRIVATE_KEY, allow_http=True)
    adapter.send(MESSAGE, [target(server.new_subscription())])
    [origin] = adapter._transport._origins.values()

    adapter.close()
    adapter.close()

    assert origin.session.closed


def test_provider_built_before_a_fork_sends_from_the_child_on_its_own_connections(server, provider):
    assert provider.send(MESSAGE, [target(server.new_subscription())])[0].outcome is Outcome.SENT
    [parent_origin] = provider._transport._origins.values()
    child_subscription = server.new_subscription()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report the outcome and whether its session is a new one
        try:
            [result] = provider.send(MESSAGE, [target(child_subscription)])
            [child_origin] = provider._transport._origins.values()
            answer = f"{result.outcome}|{result.provider_message_id}|{child_origin is not parent_origin}"
            provider.close()
        except BaseException as exc:
            answer = f"error|{exc!r}|"
        os.write(write_end, answer.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        answer = pipe.read()
    os.waitpid(pid, 0)

    outcome, message_id, new_session = answer.split("|")
    assert (outcome, new_session) == (str(Outcome.SENT), "True")
    [child_push] = [push for push in server.received if push.endpoint == child_subscription["endpoint"]]
    assert message_id == f"{server.url}/message/{child_push.message_id}"
    # the child's close left the parent's connections alone: the parent sends on them
    opened = server.connection_count
    assert provider.send(MESSAGE, [target(server.new_subscription())])[0].outcome is Outcome.SENT
    assert not parent_origin.session.closed
    assert server.connection_count == opened


def test_mixed_batch_returns_each_outcome_in_target_order(server, provider):
    ok, expired, throttled = (server.new_subscription() for _ in range(3))
    server.expire(expired)
    server.fail_subscription(throttled, 429, retry_after=5)

    results = provider.send(
        MESSAGE,
        [target(ok, 1), target("garbage", 2), target(expired, 3), target(throttled, 4)],
    )

    assert [(r.delivery_id, r.outcome) for r in results] == [
        (1, Outcome.SENT),
        (2, Outcome.INVALID_ENDPOINT),
        (3, Outcome.INVALID_ENDPOINT),
        (4, Outcome.TRANSIENT),
    ]
    assert [push.endpoint for push in server.received] == [ok["endpoint"]]


# -- keys ----------------------------------------------------------------------------


def test_generated_vapid_keypair_is_raw_base64url_that_pywebpush_loads():
    private_key, public_key = generate_vapid_keypair()

    vapid = Vapid.from_string(private_key)
    derived_public = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert len(private_key) == 43 and "=" not in private_key
    assert b64url(derived_public) == public_key
    assert len(derived_public) == 65 and derived_public[0] == 4


def test_pem_vapid_private_key_is_accepted():
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()

    adapter = WebPushProvider(vapid_private_key=pem)
    adapter.close()

    assert adapter.vapid_public_key == b64url(
        key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )


@pytest.mark.parametrize("bad_key", ["", "not-a-key!", b64url(b"\x00" * 32)])
def test_invalid_vapid_private_key_raises_permanent_provider_error(bad_key):
    with pytest.raises(PermanentProviderError, match="invalid VAPID private key"):
        WebPushProvider(vapid_private_key=bad_key)


def test_invalid_vapid_subject_raises_permanent_provider_error():
    with pytest.raises(PermanentProviderError, match="invalid VAPID subject"):
        WebPushProvider(vapid_private_key=VAPID_PRIVATE_KEY, vapid_subject="ops")
