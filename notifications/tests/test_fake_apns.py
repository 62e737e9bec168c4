"""The fake APNs' own contract: ``lean``, its stats, and h2's checks it keeps.

What it answers to the platform's client is covered through ``ApnsProvider`` in
test_provider_apns.py; here a bare h2 client pins what the push benchmark relies on,
down to header blocks a real client would refuse to send.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import h2.config
import h2.connection
import h2.errors
import h2.events
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from fakes import apns as fake_apns
from fakes.apns import STATS_PATH, FakeApnsServer, make_apns_key

ROOT = Path(__file__).resolve().parents[2]
KEY_ID = "ABC123DEFG"
TEAM_ID = "DEF123GHIJ"
TOPIC = "com.softafrik.demo"
BODY = b'{"aps":{"alert":{"title":"Order shipped","body":"On its way"}},"order_id":"42"}'


@pytest.fixture(scope="module")
def apns_key():
    return make_apns_key()


@pytest.fixture
def make_server(apns_key):
    started = []

    def make(**options) -> FakeApnsServer:
        server = FakeApnsServer(**options).start()
        server.add_key(KEY_ID, TEAM_ID, apns_key[1])
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def device_token(n: int) -> str:
    return f"{n:064x}"


def bearer(pem: str, iat: int | None = None) -> bytes:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    claims = {"iss": TEAM_ID, "iat": int(time.time()) if iat is None else iat}
    return b"bearer " + jwt.encode(claims, key, algorithm="ES256", headers={"kid": KEY_ID}).encode()


def request_headers(server: FakeApnsServer, path: str, authorization: bytes, method: bytes = b"POST", **apns: str):
    headers = [
        (b":method", method),
        (b":scheme", b"https"),
        (b":authority", server.url.removeprefix("https://").encode()),
        (b":path", path.encode()),
        (b"authorization", authorization),
    ]
    return headers + [(name.replace("_", "-").encode(), value.encode()) for name, value in apns.items()]


class _UnboundedH2Connection(h2.connection.H2Connection):
    @property
    def open_outbound_streams(self) -> int:
        return 0  # so that it opens streams over the server's limit


class RawH2:
    """One TLS connection to the fake driven by a bare h2 client that neither validates
    nor normalises its headers nor counts its streams, so it can send what a real client
    would refuse to."""

    def __init__(self, server: FakeApnsServer) -> None:
        config = h2.config.H2Configuration(
            client_side=True, header_encoding=None, validate_outbound_headers=False, normalize_outbound_headers=False
        )
        self.conn = _UnboundedH2Connection(config=config)
        context = ssl.create_default_context(cafile=server.ca_file)
        context.set_alpn_protocols(["h2"])
        host, port = server.url.removeprefix("https://").split(":")
        self.sock = context.wrap_socket(socket.create_connection((host, int(port)), timeout=5), server_hostname=host)
        self.conn.initiate_connection()
        self.terminated: int | None = None

    def round(self, requests: list[tuple[list, bytes]]) -> list:
        """Send every request at once and return, per request, ``(status, headers, body)``,
        or ``("goaway", error code)`` when the fake ended the connection before answering it."""
        stream_ids = []
        for headers, body in requests:
            stream_id = self.conn.get_next_available_stream_id()
            self.conn.send_headers(stream_id, headers, end_stream=not body)
            if body:
                self.conn.send_data(stream_id, body, end_stream=True)
            stream_ids.append(stream_id)
        self.sock.sendall(self.conn.data_to_send())
        answers: dict[int, list] = {}
        done: set[int] = set()
        while len(done) < len(stream_ids) and self.terminated is None:
            data = self.sock.recv(65536)
            if not data:
                break
            for event in self.conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    headers = dict(event.headers)
                    answers[event.stream_id] = [int(headers.pop(b":status")), headers, b""]
                elif isinstance(event, h2.events.DataReceived):
                    answers[event.stream_id][2] += event.data
                    self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    done.add(event.stream_id)
                elif isinstance(event, h2.events.ConnectionTerminated):
                    self.terminated = event.error_code
            self.sock.sendall(self.conn.data_to_send())
        return [tuple(answers[s]) if s in done else ("goaway", self.terminated) for s in stream_ids]

    def close(self) -> None:
        self.sock.close()


def exchange(server: FakeApnsServer, requests: list[tuple[list, bytes]]) -> list:
    """``RawH2.round`` on a connection of its own."""
    client = RawH2(server)
    try:
        return client.round(requests)
    finally:
        client.close()


def mixed_requests(server: FakeApnsServer, pem: str) -> list[tuple[list, bytes]]:
    """Valid notifications and the refusals the fake decides per request, with a client
    apns-id each so that two fakes' answers compare equal."""
    good = bearer(pem)
    expired = bearer(pem, iat=int(time.time()) - 2 * 60 * 60)
    cases = [
        (device_token(1), good, {"apns_topic": TOPIC, "apns_push_type": "alert"}, BODY),
        (device_token(2), good, {"apns_topic": TOPIC, "apns_collapse_id": "c-1", "apns_expiration": "0"}, BODY),
        (device_token(3), good, {"apns_push_type": "alert"}, BODY),  # MissingTopic
        ("not-hex", good, {"apns_topic": TOPIC}, BODY),  # BadDeviceToken
        (device_token(4), good, {"apns_topic": TOPIC}, b"{not json"),  # BadPayload, after a parsed body
        (device_token(5), good, {"apns_topic": TOPIC, "apns_push_type": "background"}, BODY),  # BadPriority
        (device_token(6), good, {"apns_topic": TOPIC}, BODY),  # Unregistered, injected
        (device_token(7), expired, {"apns_topic": TOPIC}, BODY),  # ExpiredProviderToken
        (device_token(8), b"bearer e30.e30.e30", {"apns_topic": TOPIC}, BODY),  # InvalidProviderToken
        (device_token(9), good, {"apns_topic": TOPIC}, b""),  # PayloadEmpty
        (device_token(10), good, {"apns_topic": TOPIC}, BODY),
    ]
    server.fail_token(device_token(6), "Unregistered")
    requests = []
    for n, (token, authorization, apns, body) in enumerate(cases):
        apns_id = f"00000000-0000-4000-8000-{n:012d}"
        requests.append((request_headers(server, f"/3/device/{token}", authorization, apns_id=apns_id, **apns), body))
    return requests


def comparable(answers: list) -> list:
    """Answers without the 410's timestamp, which is the time of the answer."""
    result = []
    for status, headers, body in answers:
        document = json.loads(body) if body else None
        if document:
            document.pop("timestamp", None)
        result.append((status, headers, document))
    return result


def test_lean_answers_every_request_as_the_full_fake_does(make_server, apns_key):
    full, lean = make_server(), make_server(lean=True)

    full_answers = exchange(full, mixed_requests(full, apns_key[0]))
    lean_answers = exchange(lean, mixed_requests(lean, apns_key[0]))

    assert comparable(lean_answers) == comparable(full_answers)
    assert [answer[0] for answer in full_answers] == [200, 200, 400, 400, 400, 400, 410, 403, 403, 400, 200]
    assert [json.loads(answer[2])["reason"] for answer in full_answers if answer[0] != 200] == [
        "MissingTopic",
        "BadDeviceToken",
        "BadPayload",
        "BadPriority",
        "Unregistered",
        "ExpiredProviderToken",
        "InvalidProviderToken",
        "PayloadEmpty",
    ]
    assert [(n.token, n.headers, n.payload, n.apns_id) for n in lean.received] == [
        (n.token, n.headers, n.payload, n.apns_id) for n in full.received
    ]
    assert [n.token for n in full.received] == [device_token(1), device_token(2), device_token(10)]


def test_an_answer_without_a_client_apns_id_gets_a_new_upper_case_uuid(make_server, apns_key):
    server = make_server(lean=True)
    path = f"/3/device/{device_token(1)}"
    headers = request_headers(server, path, bearer(apns_key[0]), apns_topic=TOPIC)

    answers = exchange(server, [(headers, BODY), (headers, BODY)])

    ids = [answer[1][b"apns-id"].decode() for answer in answers]
    assert [answer[0] for answer in answers] == [200, 200]
    assert ids[0] != ids[1]
    assert all(len(i) == 36 and i == i.upper() and i[14] == "4" for i in ids)
    assert [n.apns_id for n in server.received] == ids


@pytest.mark.parametrize(
    "bad_header",
    [(b"Apns-Topic", TOPIC.encode()), (b"connection", b"keep-alive"), (b"apns-topic", b"a\r\nb")],
    ids=["uppercase-name", "connection-specific", "line-break"],
)
def test_full_fake_ends_the_connection_on_a_malformed_header_block_and_lean_answers_it(
    make_server, apns_key, bad_header
):
    full, lean = make_server(), make_server(lean=True)

    def request(server: FakeApnsServer) -> tuple[list, bytes]:
        headers = request_headers(server, f"/3/device/{device_token(1)}", bearer(apns_key[0]), apns_topic=TOPIC)
        return [*headers, bad_header], BODY

    assert exchange(full, [request(full)]) == [("goaway", h2.errors.ErrorCodes.PROTOCOL_ERROR)]
    assert full.received == []
    assert exchange(lean, [request(lean)])[0][0] == 200


def test_a_stream_over_the_advertised_limit_still_ends_the_connection(make_server, apns_key, monkeypatch):
    monkeypatch.setattr(fake_apns, "MAX_CONCURRENT_STREAMS", 2)
    server = make_server()
    headers = request_headers(server, f"/3/device/{device_token(1)}", bearer(apns_key[0]), apns_topic=TOPIC)
    client = RawH2(server)
    try:
        # The limit applies once the client has acknowledged the fake's SETTINGS.
        assert client.round([(headers, BODY)])[0][0] == 200
        server.delay = 0.3  # the next streams stay open
        answers = client.round([(headers, BODY)] * 3)
    finally:
        client.close()

    assert answers == [("goaway", h2.errors.ErrorCodes.PROTOCOL_ERROR)] * 3


def test_one_connection_carries_many_times_the_stream_limit(make_server, apns_key, monkeypatch):
    """Closed streams are forgotten once h2 holds as many as the limit, not at every new
    stream: a connection that has carried many times the limit keeps answering."""
    monkeypatch.setattr(fake_apns, "MAX_CONCURRENT_STREAMS", 8)
    server = make_server(lean=True)
    client = RawH2(server)
    try:
        rounds = []
        for start in range(0, 40, 8):
            requests = [
                (request_headers(server, f"/3/device/{device_token(n)}", bearer(apns_key[0]), apns_topic=TOPIC), BODY)
                for n in range(start, start + 8)
            ]
            rounds.append([answer[0] for answer in client.round(requests)])
    finally:
        client.close()

    assert rounds == [[200] * 8] * 5
    assert server.accepted == 40
    assert server.connections == 1


def test_stats_count_requests_accepted_and_cpu_and_answer_get_stats(make_server, apns_key):
    server = make_server(lean=True)
    token = bearer(apns_key[0])
    good = request_headers(server, f"/3/device/{device_token(1)}", token, apns_topic=TOPIC)
    refused = request_headers(server, f"/3/device/{device_token(2)}", token)  # MissingTopic
    stats_request = request_headers(server, STATS_PATH, b"", method=b"GET")

    answers = exchange(server, [(good, BODY), (good, BODY), (refused, BODY), (stats_request, b"")])
    server.received.clear()  # what bench/fake_apns_server.py does with it: the counters stay
    stats = server.stats()

    status, headers, body = answers[3]
    served = json.loads(body)
    assert (status, headers[b"content-type"]) == (200, b"application/json")
    assert {key: served[key] for key in ("requests", "accepted", "connections", "jwts_seen", "lean", "server")} == {
        "requests": 3,
        "accepted": 2,
        "connections": 1,
        "jwts_seen": 1,
        "lean": True,
        "server": "h2-asyncio-tls",
    }
    assert (stats["requests"], stats["accepted"], stats["lean"]) == (3, 2, True)
    assert stats["cpu_seconds"] >= served["cpu_seconds"] > 0
    assert stats["loop_cpu_seconds"] >= served["loop_cpu_seconds"] > 0


def test_full_fake_reports_lean_false(make_server):
    stats = make_server().stats()

    assert (stats["requests"], stats["accepted"], stats["lean"]) == (0, 0, False)


def test_bench_fake_apns_server_lean_serves_and_reports_its_counters(tmp_path, apns_key):
    credentials_file = tmp_path / "apns.json"
    process = subprocess.Popen(
        [sys.executable, "bench/fake_apns_server.py", "--lean", "--credentials-file", str(credentials_file)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        hello = json.loads(process.stdout.readline())
        credentials = json.loads(credentials_file.read_text())
        server = FakeApnsServer()  # only its url and ca_file, for ``exchange``
        server.url, server.ca_file = hello["url"], hello["ca_file"]
        key = serialization.load_pem_private_key(credentials["key_pem"].encode(), password=None)
        token = jwt.encode(
            {"iss": credentials["team_id"], "iat": int(time.time())},
            key,
            algorithm="ES256",
            headers={"kid": credentials["key_id"]},
        )
        headers = request_headers(
            server, f"/3/device/{device_token(1)}", f"bearer {token}".encode(), apns_topic=credentials["topic"]
        )
        answers = exchange(server, [(headers, BODY), (headers, BODY)])
        process.stdin.write("stats\n")
        process.stdin.flush()
        stats = json.loads(process.stdout.readline())
    finally:
        process.stdin.close()
        process.wait(timeout=10)

    assert [answer[0] for answer in answers] == [200, 200]
    assert {key: stats[key] for key in ("accepted", "distinct_tokens", "repeated_tokens", "requests", "lean")} == {
        "accepted": 2,
        "distinct_tokens": 1,
        "repeated_tokens": 1,
        "requests": 2,
        "lean": True,
    }
    assert stats["loop_cpu_seconds"] > 0
