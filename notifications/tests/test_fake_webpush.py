"""The fake Web Push service's own contract: its asyncio HTTP/1.1 transport, ``lean`` and its stats.

What it answers to the platform's adapter is covered through the real client in
test_provider_webpush.py; here raw HTTP pins what the benchmarks rely on: a lean fake
answers every valid push as the full one does, and counts what it verified.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fakes.webpush import STATS_PATH, FakeWebPushServer, b64url_encode
from notifications.push.providers.base import Outcome, PushMessage, PushResult, PushTarget
from notifications.push.providers.webpush import WebPushProvider, generate_vapid_keypair

ROOT = Path(__file__).resolve().parents[2]
MESSAGE = PushMessage(title="Sale", body="Half price", data={"campaign": "bench"}, ttl=3600, collapse_id="c-1")
VAPID_PRIVATE_KEY, VAPID_PUBLIC_KEY = generate_vapid_keypair()
_MESSAGE_ID = re.compile(r"/message/[0-9a-f]{32}$")


@pytest.fixture
def full():
    with FakeWebPushServer() as server:
        yield server


@pytest.fixture
def lean():
    with FakeWebPushServer(lean=True) as server:
        yield server


@pytest.fixture
def provider():
    adapter = WebPushProvider(vapid_private_key=VAPID_PRIVATE_KEY, timeout=5.0, allow_http=True)
    yield adapter
    adapter.close()


def port(server: FakeWebPushServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def prepared(provider: WebPushProvider, subscription: dict) -> tuple[str, dict[str, str], bytes]:
    """(path, headers, body) of the push the platform sends to ``subscription``."""
    headers = {"TTL": "3600", "Urgency": "normal", "Content-Encoding": "aes128gcm", "Topic": "c-1"}
    request = provider._prepare(PushTarget(1, json.dumps(subscription)), b'{"title":"Sale"}', headers)
    return "/push/" + subscription["endpoint"].rsplit("/", 1)[1], request.headers, request.body


def answer(server: FakeWebPushServer, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
    """Status, headers (the message id in Location masked) and body of one raw POST."""
    connection = http.client.HTTPConnection("127.0.0.1", port(server), timeout=5)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        answer_headers = {name: value for name, value in response.getheaders()}
        if "Location" in answer_headers:
            answer_headers["Location"] = _MESSAGE_ID.sub("/message/ID", answer_headers["Location"])
            answer_headers["Location"] = answer_headers["Location"].replace(server.url, "URL")
        return response.status, answer_headers, response.read()
    finally:
        connection.close()


def get_stats(server: FakeWebPushServer) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port(server), timeout=5)
    try:
        connection.request("GET", STATS_PATH)
        response = connection.getresponse()
        assert response.status == 200
        return json.loads(response.read())
    finally:
        connection.close()


def signed_by_another_key(server: FakeWebPushServer, headers: dict[str, str]) -> dict[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode({"aud": server.url, "exp": int(time.time()) + 3600, "sub": "mailto:a@b.example"}, key, "ES256")
    return {**headers, "Authorization": f"vapid t={token}, k={VAPID_PUBLIC_KEY}"}


def test_lean_answers_valid_pushes_exactly_as_the_full_checks(full, lean, provider):
    def answers(server: FakeWebPushServer) -> list[tuple[int, dict, bytes]]:
        plain = server.new_subscription()
        bound = server.new_subscription(application_server_key=VAPID_PUBLIC_KEY)
        return [answer(server, *prepared(provider, sub)) for sub in (plain, bound, plain)]

    expected = (201, {"Content-Length": "0", "Location": "URL/message/ID"}, b"")
    assert answers(full) == answers(lean) == [expected] * 3
    assert [push.payload for push in full.received] == [{"title": "Sale"}] * 3
    assert [push.payload for push in lean.received] == [None] * 3  # lean does not decrypt
    assert len({push.message_id for push in lean.received}) == 3


def _refusals(server: FakeWebPushServer, provider: WebPushProvider) -> list[tuple[int, dict, bytes]]:
    subscription = server.new_subscription()
    path, headers, body = prepared(provider, subscription)
    expired, throttled = server.new_subscription(), server.new_subscription()
    server.expire(expired)
    server.fail_subscription(throttled, 429, retry_after=7)
    bound_elsewhere = server.new_subscription(application_server_key=generate_vapid_keypair()[1])
    no_auth = {name: value for name, value in headers.items() if name != "Authorization"}
    no_ttl = {name: value for name, value in headers.items() if name != "TTL"}
    cases = [
        ("/push/" + "0" * 32, headers, body),
        (prepared(provider, expired)[0], headers, body),
        (path, no_auth, body),
        (path, signed_by_another_key(server, headers), body),
        (prepared(provider, bound_elsewhere)[0], headers, body),
        (path, no_ttl, body),
        (path, {**headers, "Topic": "not a topic!"}, body),
        (path, {**headers, "Urgency": "urgent"}, body),
        (path, headers, b"x" * 4097),
        (path, {**headers, "Content-Encoding": "aesgcm"}, body),
        prepared(provider, throttled),
    ]
    return [answer(server, *case) for case in cases]


def test_lean_refuses_what_it_still_checks_as_the_full_checks(full, lean, provider):
    full_answers, lean_answers = _refusals(full, provider), _refusals(lean, provider)

    assert full_answers == lean_answers
    assert [status for status, _, _ in full_answers] == [404, 410, 401, 401, 403, 400, 400, 400, 413, 415, 429]
    assert full_answers[-1][1]["Retry-After"] == "7"
    assert full.received == lean.received == []


def test_lean_verifies_each_vapid_header_once_and_decrypts_nothing(full, lean, provider):
    for server in (full, lean):
        results = provider.send(MESSAGE, [PushTarget(i, json.dumps(server.new_subscription())) for i in range(20)])
        assert {result.outcome for result in results} == {Outcome.SENT}

    full_stats, lean_stats = full.stats(), lean.stats()
    assert (full_stats["vapid_verifications"], full_stats["decryptions"], full_stats["lean"]) == (20, 20, False)
    assert (lean_stats["vapid_verifications"], lean_stats["decryptions"], lean_stats["lean"]) == (1, 0, True)
    assert full.received[0].payload["title"] == "Sale"
    assert len({push.vapid_token for push in lean.received}) == 1  # one header, verified once
    assert {push.vapid_claims["aud"] for push in lean.received} == {lean.url}


def test_lean_verifies_a_cached_jwt_again_once_it_expired(full, lean, provider):
    key = ec.generate_private_key(ec.SECP256R1())
    public_key = b64url_encode(
        key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    expires = int(time.time()) + 1
    pushes = {}
    for server in (full, lean):
        path, headers, body = prepared(provider, server.new_subscription())
        token = jwt.encode({"aud": server.url, "exp": expires, "sub": "mailto:a@b.example"}, key, "ES256")
        pushes[server] = (path, {**headers, "Authorization": f"vapid t={token}, k={public_key}"}, body)
    before = {server: answer(server, *push)[0] for server, push in pushes.items()}
    while time.time() <= expires:
        time.sleep(0.05)
    after = {server: answer(server, *push) for server, push in pushes.items()}

    assert before == {full: 201, lean: 201}
    assert after[full] == after[lean]
    assert after[lean][::2] == (401, b"invalid VAPID token: Signature has expired")
    assert lean.stats()["vapid_verifications"] == 2


def test_lean_refuses_a_body_that_has_no_aes128gcm_header(full, lean, provider):
    for server in (full, lean):
        path, headers, body = prepared(provider, server.new_subscription())
        key_id_too_short = body[:20] + b"\x10" + body[21:]  # byte 20: the key id's length, 65
        status, _, text = answer(server, path, headers, key_id_too_short)
        assert (status, text[:23]) == (400, b"cannot decrypt payload:")
        assert server.received == []


def test_injected_204_has_no_body_and_leaves_the_connection_usable(full, provider):
    no_content, ok = full.new_subscription(), full.new_subscription()
    full.fail_subscription(no_content, 204)
    requests = b""
    for subscription in (no_content, ok):
        path, headers, body = prepared(provider, subscription)
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        requests += f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode() + body

    with socket.create_connection(("127.0.0.1", port(full)), timeout=5) as sock:
        sock.sendall(requests)  # pipelined: the 204's framing decides where the 201 starts
        received = b""
        while b"Content-Length: 0\r\n" not in received or not received.endswith(b"\r\n\r\n"):
            received += sock.recv(65536)

    first, second = received.split(b"\r\n\r\n", 1)
    assert first == b"HTTP/1.1 204 No Content"
    assert second.startswith(b"HTTP/1.1 201 Created\r\n")


def test_injected_204_is_read_by_the_platform_client_without_breaking_the_next_push(full):
    adapter = WebPushProvider(vapid_private_key=VAPID_PRIVATE_KEY, allow_http=True, connections_per_origin=1)
    no_content, ok = full.new_subscription(), full.new_subscription()
    full.fail_subscription(no_content, 204)
    try:
        results = adapter.send(MESSAGE, [PushTarget(1, json.dumps(no_content)), PushTarget(2, json.dumps(ok))])
    finally:
        adapter.close()

    assert results[0] == PushResult(delivery_id=1, outcome=Outcome.PERMANENT, error="HTTP 204")
    assert results[1].outcome is Outcome.SENT
    assert full.connection_count == 1


def test_stats_count_requests_and_report_the_fake_cpu(full, provider):
    before = get_stats(full)
    provider.send(MESSAGE, [PushTarget(i, json.dumps(full.new_subscription())) for i in range(5)])
    answer(full, "/push/" + "0" * 32, {"TTL": "60"}, b"")
    after = get_stats(full)

    assert {key: before[key] for key in ("requests", "push_requests", "accepted")} == dict.fromkeys(
        ("requests", "push_requests", "accepted"), 0
    )
    assert {key: after[key] for key in ("requests", "push_requests", "accepted", "server")} == {
        "requests": 6,  # GET /_stats is not counted
        "push_requests": 6,
        "accepted": 5,
        "server": "asyncio-http1",
    }
    assert full.request_count == 6
    assert after["connections"] == full.connection_count >= 3
    assert after["cpu_seconds"] > 0 and after["loop_cpu_seconds"] > 0
    assert full.stats()["accepted"] == 5  # the same figures from the test's thread


def test_record_false_keeps_only_the_counters(provider):
    with FakeWebPushServer(record=False) as server:
        results = provider.send(MESSAGE, [PushTarget(i, json.dumps(server.new_subscription())) for i in range(3)])
        stats = server.stats()

    assert [result.outcome for result in results] == [Outcome.SENT] * 3
    assert server.received == []
    assert (stats["accepted"], stats["decryptions"]) == (3, 3)


def test_a_push_held_by_delay_gets_503_when_the_server_stops(provider):
    server = FakeWebPushServer().start()
    server.delay = 30.0
    path, headers, body = prepared(provider, server.new_subscription())
    answers = []
    sender = threading.Thread(target=lambda: answers.append(answer(server, path, headers, body)))
    sender.start()
    while server.request_count == 0:
        time.sleep(0.01)

    started = time.monotonic()
    server.stop()
    sender.join(timeout=5)

    assert time.monotonic() - started < 3
    assert [(status, text) for status, _, text in answers] == [(503, b"shutting down")]
    assert server.received == []


def test_other_methods_answer_as_the_threaded_fake_did(full):
    connection = http.client.HTTPConnection("127.0.0.1", port(full), timeout=5)
    try:
        connection.request("GET", "/push/x")
        response = connection.getresponse()
        assert (response.status, response.read(), response.getheader("Connection")) == (
            405,
            b"method not allowed",
            None,
        )
        connection.request("HEAD", "/push/x")
        response = connection.getresponse()
        assert (response.status, response.getheader("Connection"), response.read()) == (501, "close", b"")
        assert int(response.getheader("Content-Length")) > 0  # the length of the page HEAD does not get
    finally:
        connection.close()
    assert full.request_count == 0  # only pushes are counted there, as before


def test_bench_server_process_serves_lean_and_reports_stats(tmp_path, provider):
    subscriptions_file = tmp_path / "subscriptions.json"
    command = [sys.executable, "bench/fake_webpush_server.py", "--subscriptions-file", str(subscriptions_file)]
    proc = subprocess.Popen(
        [*command, "--subscriptions", "3", "--lean"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        hello = json.loads(proc.stdout.readline())
        subscriptions = json.loads(subscriptions_file.read_text())
        results = provider.send(MESSAGE, [PushTarget(i, json.dumps(sub)) for i, sub in enumerate(subscriptions)])
        proc.stdin.write("stats\n")
        proc.stdin.flush()
        stats = json.loads(proc.stdout.readline())
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)

    assert proc.returncode == 0
    assert [sub["endpoint"].rsplit("/", 2)[0] for sub in subscriptions] == [hello["url"]] * 3
    assert [result.outcome for result in results] == [Outcome.SENT] * 3
    assert {key: stats[key] for key in ("push_requests", "accepted", "vapid_verifications", "decryptions", "lean")} == {
        "push_requests": 3,
        "accepted": 3,
        "vapid_verifications": 1,
        "decryptions": 0,
        "lean": True,
    }
    assert stats["cpu_seconds"] > 0
