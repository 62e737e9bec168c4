"""ApnsProvider against FakeApnsServer: real TLS, real HTTP/2, real ES256 provider tokens."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import ssl
import threading
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from fakes.apns import FakeApnsServer, make_apns_key
from notifications.push.providers import apns
from notifications.push.providers.apns import (
    TOKEN_REFRESH_AGE,
    ApnsProvider,
    close_apns_providers,
    get_apns_provider,
)
from notifications.push.providers.base import (
    Outcome,
    PermanentProviderError,
    PushMessage,
    PushResult,
    PushTarget,
    TransientProviderError,
)

KEY_ID = "ABC123DEFG"
TEAM_ID = "DEF123GHIJ"
TOPIC = "com.softafrik.demo"
MESSAGE = PushMessage(title="Order shipped", body="Your parcel is on its way", data={"order_id": "42"})


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def device_token(n: int) -> str:
    return f"{n:064x}"


def targets(count: int, start: int = 1) -> list[PushTarget]:
    return [PushTarget(delivery_id=n, token=device_token(n)) for n in range(start, start + count)]


@pytest.fixture(scope="module")
def apns_key():
    return make_apns_key()


@pytest.fixture
def clock():
    return FakeClock(float(int(time.time())))


@pytest.fixture
def server(apns_key, clock):
    with FakeApnsServer(clock=clock) as fake:
        fake.add_key(KEY_ID, TEAM_ID, apns_key[1])
        yield fake


@pytest.fixture
def make_provider(server, apns_key, clock):
    made = []

    def make(**overrides) -> ApnsProvider:
        options = dict(
            key_pem=apns_key[0],
            key_id=KEY_ID,
            team_id=TEAM_ID,
            topic=TOPIC,
            sandbox=True,
            url=server.url,
            ca_file=server.ca_file,
            clock=clock,
        )
        options.update(overrides)
        provider = ApnsProvider(**options)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


@pytest.fixture
def provider(make_provider):
    return make_provider()


def by_delivery(results: list[PushResult]) -> dict[int, PushResult]:
    return {r.delivery_id: r for r in results}


# Connection and provider token reuse


def test_batch_of_200_goes_over_one_connection_with_one_jwt(server, provider):
    results = provider.send(MESSAGE, targets(200))

    assert [r.outcome for r in results] == [Outcome.SENT] * 200
    assert sorted(n.token for n in server.received) == sorted(device_token(n) for n in range(1, 201))
    assert server.connections == 1
    assert server.jwts_seen == 1


def test_consecutive_batches_reuse_the_connection_and_jwt(server, provider):
    provider.send(MESSAGE, targets(50))
    provider.send(MESSAGE, targets(50, start=51))

    assert len(server.received) == 100
    assert server.connections == 1
    assert server.jwts_seen == 1


def test_jwt_is_reused_just_before_the_refresh_age(server, provider, clock):
    provider.send(MESSAGE, targets(1))
    clock.advance(TOKEN_REFRESH_AGE - 1)
    provider.send(MESSAGE, targets(1))

    assert server.jwts_seen == 1


def test_jwt_is_refreshed_at_the_refresh_age(server, provider, clock):
    provider.send(MESSAGE, targets(1))
    clock.advance(TOKEN_REFRESH_AGE)
    results = provider.send(MESSAGE, targets(1))

    assert results[0].outcome is Outcome.SENT
    assert server.jwts_seen == 2
    assert server.connections == 1


def test_provider_token_carries_kid_team_and_clock_iat(server, provider, clock, apns_key):
    seen = []
    original = apns.jwt.encode

    def spy(*args, **kwargs):
        token = original(*args, **kwargs)
        seen.append(token)
        return token

    apns.jwt.encode = spy
    try:
        provider.send(MESSAGE, targets(1))
    finally:
        apns.jwt.encode = original

    assert len(seen) == 1
    assert jwt.get_unverified_header(seen[0]) == {"alg": "ES256", "kid": KEY_ID, "typ": "JWT"}
    claims = jwt.decode(seen[0], apns_key[1], algorithms=["ES256"], options={"verify_iat": False})
    assert claims == {"iss": TEAM_ID, "iat": int(clock.now)}


def test_expired_provider_token_is_refreshed_and_the_request_retried_once(server, provider):
    server.fail_token(device_token(1), "ExpiredProviderToken", times=1)

    results = provider.send(MESSAGE, targets(1))

    assert results[0].outcome is Outcome.SENT
    assert len(server.received) == 1
    assert server.jwts_seen == 2


def test_expired_provider_token_on_many_concurrent_streams_mints_one_new_token(server, provider):
    provider.send(MESSAGE, targets(1, start=1000))  # connected, so the batch fans out at once
    for n in range(1, 51):
        server.fail_token(device_token(n), "ExpiredProviderToken", times=1)

    results = provider.send(MESSAGE, targets(50))

    assert [r.outcome for r in results] == [Outcome.SENT] * 50
    assert server.jwts_seen == 2


def test_provider_token_still_expired_after_refresh_raises_permanent_error(server, make_provider, clock):
    # The worker's clock is 61 minutes behind APNs: every token it mints is already stale.
    provider = make_provider(clock=FakeClock(clock.now - 61 * 60))

    with pytest.raises(PermanentProviderError, match="ExpiredProviderToken"):
        provider.send(MESSAGE, targets(3))

    assert server.received == []
    assert server.jwts_seen == 2


def test_stale_clock_does_not_mint_a_new_token_on_every_batch(server, make_provider, clock):
    provider = make_provider(clock=FakeClock(clock.now - 61 * 60))
    with pytest.raises(PermanentProviderError):
        provider.send(MESSAGE, targets(1))

    with pytest.raises(PermanentProviderError, match="ExpiredProviderToken"):
        provider.send(MESSAGE, targets(1))

    assert server.jwts_seen == 2


def test_reconnects_after_the_connection_is_dropped(server, provider):
    provider.send(MESSAGE, targets(1))
    server.drop_connections()
    time.sleep(0.1)

    results = provider.send(MESSAGE, targets(5, start=2))

    assert [r.outcome for r in results] == [Outcome.SENT] * 5
    assert server.connections == 2
    assert server.jwts_seen == 1


# Request as Apple expects it


def test_payload_is_a_mutable_alert_with_data_keys_at_top_level(server, provider):
    provider.send(MESSAGE, targets(1))

    assert server.received[0].payload == {
        "aps": {
            "alert": {"title": "Order shipped", "body": "Your parcel is on its way"},
            "sound": "default",
            "mutable-content": 1,
        },
        "order_id": "42",
    }


def test_data_key_named_aps_cannot_replace_the_alert(server, provider):
    message = PushMessage(title="T", body="B", data={"aps": "evil"})

    provider.send(message, targets(1))

    assert server.received[0].payload == {
        "aps": {"alert": {"title": "T", "body": "B"}, "sound": "default", "mutable-content": 1}
    }


def test_headers_name_topic_push_type_priority_expiration_and_collapse_id(server, provider, clock):
    message = PushMessage(title="T", body="B", ttl=3600, collapse_id="delivery-77")

    provider.send(message, targets(1))

    assert server.received[0].token == device_token(1)
    assert server.received[0].headers == {
        "apns-topic": TOPIC,
        "apns-push-type": "alert",
        "apns-priority": "10",
        "apns-expiration": str(int(clock.now) + 3600),
        "apns-collapse-id": "delivery-77",
    }
    assert server.received[0].key_id == KEY_ID


def test_no_collapse_id_header_without_a_collapse_id(server, provider):
    provider.send(MESSAGE, targets(1))

    assert "apns-collapse-id" not in server.received[0].headers


def test_collapse_id_over_64_bytes_is_sent_as_its_sha256(server, provider):
    long_id = "x" * 65

    provider.send(PushMessage(title="T", body="B", collapse_id=long_id), targets(1))

    assert server.received[0].collapse_id == hashlib.sha256(long_id.encode()).hexdigest()


def test_sent_result_carries_the_apns_id(server, provider):
    results = provider.send(MESSAGE, targets(1))

    assert results == [PushResult(1, Outcome.SENT, provider_message_id=server.received[0].apns_id)]


def test_empty_batch_returns_nothing_and_connects_nowhere(server, provider):
    assert provider.send(MESSAGE, []) == []
    assert server.connections == 0


# Per-target outcomes


@pytest.mark.parametrize("reason", ["Unregistered", "BadDeviceToken", "DeviceTokenNotForTopic"])
def test_dead_token_reason_is_invalid_token(server, provider, reason):
    server.fail_token(device_token(2), reason)

    results = by_delivery(provider.send(MESSAGE, targets(3)))

    assert results[2] == PushResult(2, Outcome.INVALID_ENDPOINT, error=reason)
    assert results[1].outcome is Outcome.SENT
    assert results[3].outcome is Outcome.SENT
    assert sorted(n.token for n in server.received) == [device_token(1), device_token(3)]


def test_malformed_device_token_is_invalid_without_a_request(server, provider):
    results = provider.send(MESSAGE, [PushTarget(delivery_id=9, token="../../3/device/x y")])

    assert results == [PushResult(9, Outcome.INVALID_ENDPOINT, error="BadDeviceToken")]
    assert server.connections == 0


def test_payload_too_large_from_apns_is_permanent(server, provider):
    server.fail_token(device_token(1), "PayloadTooLarge")

    results = provider.send(MESSAGE, targets(1))

    assert results == [PushResult(1, Outcome.PERMANENT, error="PayloadTooLarge")]


def test_payload_over_4096_bytes_is_permanent_without_a_request(server, provider):
    message = PushMessage(title="T", body="é" * 2100)  # 4200 bytes of UTF-8

    results = provider.send(message, targets(2))

    assert results == [
        PushResult(1, Outcome.PERMANENT, error="PayloadTooLarge"),
        PushResult(2, Outcome.PERMANENT, error="PayloadTooLarge"),
    ]
    assert server.connections == 0


def test_other_400_reason_is_permanent(server, provider):
    server.fail_token(device_token(1), "TopicDisallowed")

    results = provider.send(MESSAGE, targets(1))

    assert results == [PushResult(1, Outcome.PERMANENT, error="TopicDisallowed")]


@pytest.mark.parametrize("reason", ["TooManyRequests", "InternalServerError", "ServiceUnavailable"])
def test_throttling_and_server_errors_are_transient(server, provider, reason):
    server.fail_token(device_token(1), reason)

    results = by_delivery(provider.send(MESSAGE, targets(2)))

    assert results[1] == PushResult(1, Outcome.TRANSIENT, error=reason)
    assert results[2].outcome is Outcome.SENT


def test_read_timeout_on_one_stream_is_transient(server, make_provider, monkeypatch):
    monkeypatch.setattr(apns, "REQUEST_TIMEOUT", httpx.Timeout(0.5))
    provider = make_provider()
    provider.send(MESSAGE, targets(1, start=1000))
    server.delay_token(device_token(1), 2.0)

    results = by_delivery(provider.send(MESSAGE, targets(2)))

    assert results[1] == PushResult(1, Outcome.TRANSIENT, error="timeout (ReadTimeout)")
    assert results[2].outcome is Outcome.SENT


# Whole-batch failures


def test_wrong_key_raises_permanent_provider_error(server, make_provider):
    other_pem, _ = make_apns_key()
    provider = make_provider(key_pem=other_pem)

    with pytest.raises(PermanentProviderError, match="InvalidProviderToken"):
        provider.send(MESSAGE, targets(3))

    assert server.received == []


def test_provider_token_refused_for_some_targets_only_is_transient_for_them(server, provider):
    server.fail_token(device_token(1), "InvalidProviderToken")

    results = by_delivery(provider.send(MESSAGE, targets(2)))

    assert results[1] == PushResult(1, Outcome.TRANSIENT, error="InvalidProviderToken")
    assert results[2].outcome is Outcome.SENT


def test_unknown_team_raises_permanent_provider_error(server, make_provider):
    provider = make_provider(team_id="NOTMYTEAM1")

    with pytest.raises(PermanentProviderError, match="InvalidProviderToken"):
        provider.send(MESSAGE, targets(1))

    assert server.received == []


def test_nothing_listening_raises_transient_provider_error(make_provider):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = make_provider(url=f"https://127.0.0.1:{port}")

    with pytest.raises(TransientProviderError, match="ConnectError"):
        provider.send(MESSAGE, targets(200))


def test_unreachable_apns_costs_one_connection_attempt_and_one_retry_per_batch(make_provider):
    # Accepts TCP and hangs up at once, so every TLS handshake fails.
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def hang_up() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    provider = make_provider(url=f"https://127.0.0.1:{listener.getsockname()[1]}")
    try:
        with pytest.raises(TransientProviderError):
            provider.send(MESSAGE, targets(200))
    finally:
        listener.close()

    assert len(accepted) == 2


def test_key_that_is_not_p256_pem_is_refused_at_construction(server, make_provider):
    with pytest.raises(PermanentProviderError):
        make_provider(key_pem="-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")


# Lifecycle


def test_get_apns_provider_shares_one_instance_per_credentials(server, apns_key):
    options = dict(
        key_pem=apns_key[0], key_id=KEY_ID, team_id=TEAM_ID, sandbox=True, url=server.url, ca_file=server.ca_file
    )
    try:
        first = get_apns_provider(topic=TOPIC, **options)
        again = get_apns_provider(topic=TOPIC, **options)
        other_topic = get_apns_provider(topic="com.softafrik.other", **options)

        assert again is first
        assert other_topic is not first
    finally:
        close_apns_providers()


def test_the_httpx_transport_is_kept_to_measure_against_with_the_same_outcomes(server, apns_key):
    from notifications.push.providers.apns_httpx import HttpxApnsProvider

    options = dict(
        key_pem=apns_key[0], key_id=KEY_ID, team_id=TEAM_ID, sandbox=True, url=server.url, ca_file=server.ca_file
    )
    server.fail_token(device_token(2), "BadDeviceToken")
    try:
        provider = get_apns_provider(topic=TOPIC, transport="httpx", **options)
        assert isinstance(provider, HttpxApnsProvider)
        assert get_apns_provider(topic=TOPIC, **options) is not provider  # h2 by default: another one
        results = {result.delivery_id: result for result in provider.send(MESSAGE, targets(2))}
        assert results[1].outcome is Outcome.SENT and results[1].provider_message_id
        assert (results[2].outcome, results[2].error) == (Outcome.INVALID_ENDPOINT, "BadDeviceToken")
    finally:
        close_apns_providers()


def test_an_unknown_apns_transport_is_refused(apns_key):
    with pytest.raises(ValueError, match="unknown APNs transport"):
        get_apns_provider(key_pem=apns_key[0], key_id=KEY_ID, team_id=TEAM_ID, topic=TOPIC, sandbox=True, transport="x")


def test_sandbox_flag_picks_apple_url(apns_key):
    sandbox = ApnsProvider(key_pem=apns_key[0], key_id=KEY_ID, team_id=TEAM_ID, topic=TOPIC, sandbox=True)
    production = ApnsProvider(key_pem=apns_key[0], key_id=KEY_ID, team_id=TEAM_ID, topic=TOPIC, sandbox=False)

    assert sandbox.url == "https://api.sandbox.push.apple.com"
    assert production.url == "https://api.push.apple.com"


# The fake itself: checks the provider never trips, exercised directly


def fake_client(server: FakeApnsServer) -> httpx.Client:
    return httpx.Client(http1=False, http2=True, verify=ssl.create_default_context(cafile=server.ca_file))


def bearer(pem: str, iat: int) -> str:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    return "bearer " + jwt.encode({"iss": TEAM_ID, "iat": iat}, key, algorithm="ES256", headers={"kid": KEY_ID})


def test_fake_refuses_a_body_over_4096_bytes(server, apns_key, clock):
    body = json.dumps({"aps": {"alert": "x" * 4100}}).encode()
    with fake_client(server) as client:
        response = client.post(
            f"{server.url}/3/device/{device_token(1)}",
            content=body,
            headers={"authorization": bearer(apns_key[0], int(clock.now)), "apns-topic": TOPIC},
        )

    assert (response.status_code, response.json()) == (413, {"reason": "PayloadTooLarge"})
    assert server.received == []


def test_fake_refuses_a_provider_token_over_an_hour_old(server, apns_key, clock):
    with fake_client(server) as client:
        response = client.post(
            f"{server.url}/3/device/{device_token(1)}",
            content=b"{}",
            headers={"authorization": bearer(apns_key[0], int(clock.now) - 3601), "apns-topic": TOPIC},
        )

    assert (response.status_code, response.json()) == (403, {"reason": "ExpiredProviderToken"})


def test_fake_requires_a_topic(server, apns_key, clock):
    with fake_client(server) as client:
        response = client.post(
            f"{server.url}/3/device/{device_token(1)}",
            content=b"{}",
            headers={"authorization": bearer(apns_key[0], int(clock.now))},
        )

    assert (response.status_code, response.json()) == (400, {"reason": "MissingTopic"})


def test_fake_unregistered_answer_carries_a_timestamp(server, apns_key, clock):
    server.fail_token(device_token(1), "Unregistered")
    with fake_client(server) as client:
        response = client.post(
            f"{server.url}/3/device/{device_token(1)}",
            content=b"{}",
            headers={"authorization": bearer(apns_key[0], int(clock.now)), "apns-topic": TOPIC},
        )

    assert response.status_code == 410
    assert response.json()["reason"] == "Unregistered"
    assert isinstance(response.json()["timestamp"], int)


@pytest.mark.parametrize("priority", ["10", None])
def test_fake_refuses_a_background_push_at_priority_10(server, apns_key, clock, priority):
    headers = {"authorization": bearer(apns_key[0], int(clock.now)), "apns-topic": TOPIC}
    headers["apns-push-type"] = "background"
    if priority is not None:
        headers["apns-priority"] = priority
    with fake_client(server) as client:
        response = client.post(
            f"{server.url}/3/device/{device_token(1)}", content=b'{"aps":{"content-available":1}}', headers=headers
        )

    assert (response.status_code, response.json()) == (400, {"reason": "BadPriority"})
    assert server.received == []


# GOAWAY, stream limits, connection loss (the apns_h2 transport)


def send_goaway(server: FakeApnsServer, last_stream_id: int | None = None, error_code: int = 0) -> None:
    """Make the fake say GOAWAY on every open connection, with Apple's JSON reason.
    (The fake has no hook for it: this drives its h2 connections on its own loop.)"""

    def goaway() -> None:
        for protocol in list(server._protocols):
            protocol.conn.close_connection(
                error_code=error_code, additional_data=b'{"reason":"Shutdown"}', last_stream_id=last_stream_id
            )
            protocol.transport.write(protocol.conn.data_to_send())

    server._loop.call_soon_threadsafe(goaway)


def send_in_thread(provider: ApnsProvider, batch: list[PushTarget]) -> tuple[threading.Thread, list]:
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(provider.send(MESSAGE, batch))
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@pytest.fixture
def concurrency(monkeypatch):
    """The most streams the fake was working on at once (answers held back by ``delay``)."""
    from fakes import apns as fake_apns

    state = {"now": 0, "max": 0}
    handle, respond = fake_apns._ApnsProtocol._handle, fake_apns._ApnsProtocol._respond

    def counting_handle(self, *args):
        state["now"] += 1
        state["max"] = max(state["max"], state["now"])
        return handle(self, *args)

    def counting_respond(self, *args):
        state["now"] -= 1
        return respond(self, *args)

    monkeypatch.setattr(fake_apns._ApnsProtocol, "_handle", counting_handle)
    monkeypatch.setattr(fake_apns._ApnsProtocol, "_respond", counting_respond)
    return state


def test_goaway_on_an_idle_connection_sends_the_next_batch_on_a_new_one(server, provider):
    provider.send(MESSAGE, targets(1))
    send_goaway(server)
    time.sleep(0.1)

    results = provider.send(MESSAGE, targets(5, start=2))

    assert [r.outcome for r in results] == [Outcome.SENT] * 5
    assert server.connections == 2
    assert server.jwts_seen == 1


def test_streams_above_goaway_last_stream_id_are_sent_again_on_a_new_connection(server, provider):
    provider.send(MESSAGE, targets(1, start=1000))  # stream 1
    server.delay = 0.5
    thread, outcome = send_in_thread(provider, targets(10))
    time.sleep(0.2)
    send_goaway(server, last_stream_id=1)  # none of the batch's streams was processed
    time.sleep(0.1)
    server.delay = 0.0
    thread.join(timeout=10)

    (results,) = outcome
    assert [r.outcome for r in results] == [Outcome.SENT] * 10
    assert server.connections == 2


def test_goaway_below_a_stream_leaves_it_transient_and_not_sent_again(server, provider):
    provider.send(MESSAGE, targets(1, start=1000))
    for n in (1, 2):
        server.delay_token(device_token(n), 0.5)
    thread, outcome = send_in_thread(provider, targets(4))
    time.sleep(0.2)
    send_goaway(server)  # last stream id: the highest the fake saw, so all were processed
    thread.join(timeout=10)

    results = by_delivery(outcome[0])
    assert results[1] == PushResult(
        1, Outcome.TRANSIENT, error='RemoteProtocolError: GOAWAY {"reason":"Shutdown"} before the answer'
    )
    assert results[2].outcome is Outcome.TRANSIENT
    assert results[3].outcome is Outcome.SENT
    assert results[4].outcome is Outcome.SENT
    assert server.connections == 1
    assert len(server.received) == 5  # nothing was sent twice


def test_connection_lost_with_answers_owed_is_transient_for_those(server, provider):
    provider.send(MESSAGE, targets(1, start=1000))
    server.delay_token(device_token(1), 1.0)
    thread, outcome = send_in_thread(provider, targets(3))
    time.sleep(0.3)
    server.drop_connections()
    thread.join(timeout=10)

    results = by_delivery(outcome[0])
    assert results[1].outcome is Outcome.TRANSIENT
    assert results[1].error.startswith("ReadError: connection")
    assert [results[2].outcome, results[3].outcome] == [Outcome.SENT, Outcome.SENT]


def test_server_max_concurrent_streams_is_respected(server, make_provider, monkeypatch, concurrency):
    from fakes import apns as fake_apns

    monkeypatch.setattr(fake_apns, "MAX_CONCURRENT_STREAMS", 4)  # what the fake's SETTINGS advertise
    server.delay = 0.05
    provider = make_provider()

    results = provider.send(MESSAGE, targets(40))

    assert [r.outcome for r in results] == [Outcome.SENT] * 40
    assert concurrency["max"] == 4
    assert server.connections == 1


def test_streams_in_flight_are_capped_at_max_in_flight(server, make_provider, monkeypatch, concurrency):
    monkeypatch.setattr(apns, "MAX_IN_FLIGHT", 7)
    server.delay = 0.05
    provider = make_provider()

    results = provider.send(MESSAGE, targets(50))

    assert [r.outcome for r in results] == [Outcome.SENT] * 50
    assert concurrency["max"] == 7


def test_a_whole_batch_runs_as_concurrent_streams_on_one_connection(server, provider, concurrency):
    provider.send(MESSAGE, targets(1, start=1000))
    server.delay = 0.2

    results = provider.send(MESSAGE, targets(500))

    assert [r.outcome for r in results] == [Outcome.SENT] * 500
    assert concurrency["max"] == 500
    assert server.connections == 1


def test_close_closes_the_connection_and_the_next_send_opens_one(server, provider):
    provider.send(MESSAGE, targets(1))
    provider.close()
    time.sleep(0.1)

    assert server._protocols == set()
    assert provider.send(MESSAGE, targets(1, start=2))[0].outcome is Outcome.SENT
    assert server.connections == 2


def test_a_connection_idle_past_keepalive_expiry_is_replaced(server, provider):
    provider.send(MESSAGE, targets(1))
    provider._client.keepalive_expiry = 0.2
    time.sleep(0.3)

    results = provider.send(MESSAGE, targets(2, start=2))

    assert [r.outcome for r in results] == [Outcome.SENT] * 2
    assert server.connections == 2


def test_forked_child_sends_on_its_own_connection(server, provider):
    provider.send(MESSAGE, targets(1))
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a Celery prefork worker
        code = 1
        try:
            results = provider.send(MESSAGE, targets(3, start=2))
            os.write(write_end, json.dumps([r.outcome.value for r in results]).encode())
            code = 0
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read_end) as pipe:
        child_outcomes = json.loads(pipe.read() or "null")

    assert status == 0
    assert child_outcomes == ["sent"] * 3
    assert server.connections == 2
    assert provider.send(MESSAGE, targets(1, start=9))[0].outcome is Outcome.SENT  # the parent's still works
    assert server.connections == 2
