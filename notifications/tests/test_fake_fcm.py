"""The fake FCM's own contract: its asyncio HTTP/1.1 transport, ``lean`` and its stats.

What it answers to firebase-admin is covered through the real client in
test_provider_fcm.py; here raw HTTP pins what the push benchmark relies on.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import google.auth.transport.requests
import pytest
from google.oauth2 import service_account

from fakes.fcm import ERROR_TOKEN_PREFIX, FCM_SCOPE, STATS_PATH, FakeFcmServer, make_service_account

ROOT = Path(__file__).resolve().parents[2]
SEND_PATH = "/v1/projects/demo-project/messages:send"
VALID_MESSAGES = [
    {"token": "device-1", "notification": {"title": "Order shipped", "body": "On its way"}},
    {
        "token": "device-2",
        "notification": {"title": "Sale", "body": "Half price"},
        "data": {"campaign": "bench", "sa_message_id": "42"},
        "android": {"ttl": "2419200s", "collapse_key": "c-1", "notification": {"tag": "c-1"}},
        "apns": {"headers": {"apns-expiration": "1893456000", "apns-collapse-id": "c-1"}},
    },
    {"fid": "install-3", "data": {"silent": "1"}},
    {"token": f"{ERROR_TOKEN_PREFIX}UNREGISTERED:4", "notification": {"title": "t", "body": "b"}},
    {"token": "quota-token", "data": {"k": "v"}},
]


def bearer_token(server: FakeFcmServer) -> str:
    """A token from the fake's /token, fetched as firebase-admin does (google-auth, JWT bearer)."""
    credential = service_account.Credentials.from_service_account_info(make_service_account(server), scopes=[FCM_SCOPE])
    credential.refresh(google.auth.transport.requests.Request())
    return credential.token


def post(connection: http.client.HTTPConnection, body: bytes, token: str, **headers: str) -> tuple[int, dict, bytes]:
    connection.request("POST", SEND_PATH, body=body, headers={"Authorization": f"Bearer {token}", **headers})
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def answers(server: FakeFcmServer, bodies: list[bytes], **headers: str) -> list[tuple[int, dict, bytes]]:
    token = bearer_token(server)
    connection = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=5)
    try:
        return [post(connection, body, token, **headers) for body in bodies]
    finally:
        connection.close()


def get_stats(server: FakeFcmServer) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=5)
    try:
        connection.request("GET", STATS_PATH)
        response = connection.getresponse()
        assert response.status == 200
        return json.loads(response.read())
    finally:
        connection.close()


def raw_exchange(server: FakeFcmServer, data: bytes, answers_expected: int) -> list[bytes]:
    """Send ``data`` as is on one socket; return the heads of the answers read back."""
    with socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), timeout=5) as sock:
        sock.sendall(data)
        received = b""
        while received.count(b"HTTP/1.1 ") < answers_expected or not received.endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return [b"HTTP/1.1 " + part for part in received.split(b"HTTP/1.1 ")[1:]]


@pytest.fixture
def full():
    with FakeFcmServer() as server:
        yield server


@pytest.fixture
def lean():
    with FakeFcmServer(lean=True) as server:
        yield server


def test_lean_answers_valid_requests_exactly_as_the_full_checks(full, lean):
    bodies = [json.dumps({"message": message}).encode() for message in VALID_MESSAGES]
    bodies.append(json.dumps({"message": VALID_MESSAGES[0], "validate_only": True}).encode())
    for server in (full, lean):
        server.fail_token("quota-token", "QUOTA_EXCEEDED")

    full_answers, lean_answers = answers(full, bodies), answers(lean, bodies)

    assert lean_answers == full_answers
    assert [status for status, _, _ in full_answers] == [200, 200, 200, 404, 429, 200]
    assert json.loads(full_answers[1][2]) == {"name": "projects/demo-project/messages/2"}
    assert full_answers[4][1]["Retry-After"] == "10"
    assert lean.received == full.received
    assert (lean.accepted, lean.send_requests) == (full.accepted, full.send_requests) == (3, 6)


def test_lean_refuses_a_bad_bearer_token_as_the_full_checks(full, lean):
    body = json.dumps({"message": VALID_MESSAGES[0]}).encode()
    refused = []
    for server in (full, lean):
        bearer_token(server)  # a token exists, just not this one
        connection = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=5)
        refused.append(post(connection, body, "ya29.not-issued"))
        connection.close()

    assert refused[0] == refused[1]
    assert refused[0][0] == 401
    assert json.loads(refused[0][2])["error"]["status"] == "UNAUTHENTICATED"
    assert full.accepted == lean.accepted == 0


def test_lean_skips_only_the_body_validation(full, lean):
    body = json.dumps({"message": {"token": "device-1", "data": {"count": 3}}}).encode()

    [(full_status, _, full_body)] = answers(full, [body])
    [(lean_status, _, _)] = answers(lean, [body])

    assert (full_status, json.loads(full_body)["error"]["message"]) == (
        400,
        "Invalid value at 'message.data[0].value' (TYPE_STRING), 3",
    )
    assert lean_status == 200  # documented: lean trusts the body's shape
    assert (full.accepted, lean.accepted) == (0, 1)


def test_stats_count_requests_and_report_the_fake_cpu(full):
    bodies = [json.dumps({"message": {"token": f"device-{n}"}}).encode() for n in range(20)]
    answers(full, bodies)

    stats = get_stats(full)
    again = get_stats(full)  # GET /_stats is not counted in requests

    assert {key: stats[key] for key in ("requests", "token_requests", "send_requests", "accepted")} == {
        "requests": 21,
        "token_requests": 1,
        "send_requests": 20,
        "accepted": 20,
    }
    assert again["requests"] == 21
    assert stats["lean"] is False
    assert 0 < stats["loop_cpu_seconds"] <= stats["cpu_seconds"]
    assert {key: full.stats()[key] for key in ("requests", "accepted")} == {"requests": 21, "accepted": 20}


def test_one_keep_alive_connection_carries_every_request(full):
    bodies = [json.dumps({"message": {"token": f"device-{n}"}}).encode() for n in range(50)]

    statuses = [status for status, _, _ in answers(full, bodies)]

    assert statuses == [200] * 50
    assert len(full._http.protocols) <= 1  # the /token connection may be the one left open


def test_pipelined_requests_are_answered_in_order(full):
    token = bearer_token(full)
    requests = b""
    for n in (1, 2, 3):
        body = json.dumps({"message": {"token": f"device-{n}"}}).encode()
        requests += (
            f"POST {SEND_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    heads = raw_exchange(full, requests, 3)

    assert [json.loads(head.split(b"\r\n\r\n", 1)[1]) for head in heads] == [
        {"name": f"projects/demo-project/messages/{n}"} for n in (1, 2, 3)
    ]
    assert [item["token"] for item in full.received] == ["device-1", "device-2", "device-3"]


def test_a_chunked_body_with_expect_100_continue_is_read_whole(full):
    token = bearer_token(full)
    body = json.dumps({"message": {"token": "device-1", "data": {"k": "v"}}}).encode()
    head = (
        f"POST {SEND_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    chunks = f"{10:x}\r\n".encode() + body[:10] + f"\r\n{len(body) - 10:x}\r\n".encode() + body[10:] + b"\r\n0\r\n\r\n"

    with socket.create_connection(("127.0.0.1", int(full.url.rsplit(":", 1)[1])), timeout=5) as sock:
        sock.sendall(head)
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(chunks)
        answer = sock.recv(65536)

    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert full.received_by_token()["device-1"]["data"] == {"k": "v"}


def test_connection_close_is_honoured(full):
    token = bearer_token(full)
    body = json.dumps({"message": {"token": "device-1"}}).encode()
    request = (
        f"POST {SEND_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body

    with socket.create_connection(("127.0.0.1", int(full.url.rsplit(":", 1)[1])), timeout=5) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):  # ends: the fake closed the connection
            received += chunk

    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nConnection: close\r\n" in received


def test_a_held_send_does_not_hold_other_connections(full):
    token = bearer_token(full)
    full.delay = 0.5
    body = json.dumps({"message": {"token": "device-1"}}).encode()
    statuses = []

    def send() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", int(full.url.rsplit(":", 1)[1]), timeout=5)
        statuses.append(post(connection, body, token)[0])
        connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started

    assert statuses == [200] * 8
    assert 0.5 <= elapsed < 2.0  # 8 sends held 0.5 s each, at the same time
    assert full.accepted == 8


def test_bench_server_process_serves_lean_and_reports_stats(tmp_path):
    account_file = tmp_path / "account.json"
    proc = subprocess.Popen(
        [sys.executable, "bench/fake_fcm_server.py", "--account-file", str(account_file), "--lean"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = json.loads(proc.stdout.readline())["url"]
        credential = service_account.Credentials.from_service_account_info(
            json.loads(account_file.read_text()), scopes=[FCM_SCOPE]
        )
        credential.refresh(google.auth.transport.requests.Request())
        connection = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=5)
        body = json.dumps({"message": {"token": "device-1"}}).encode()
        connection.request(
            "POST",
            "/v1/projects/bench-project/messages:send",
            body=body,
            headers={"Authorization": f"Bearer {credential.token}"},
        )
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())) == (200, {"name": "projects/bench-project/messages/1"})
        connection.close()
        proc.stdin.write("stats\n")
        proc.stdin.flush()
        stats = json.loads(proc.stdout.readline())
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)

    assert proc.returncode == 0
    assert {key: stats[key] for key in ("requests", "token_requests", "accepted", "lean")} == {
        "requests": 2,
        "token_requests": 1,
        "accepted": 1,
        "lean": True,
    }
    assert stats["cpu_seconds"] > 0
