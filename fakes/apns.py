"""A fake Apple Push Notification service that speaks the real protocol on loopback.

``FakeApnsServer`` is an HTTP/2 server over TLS (ALPN ``h2`` only, as Apple's) with
its own throwaway CA, running an asyncio loop and the ``h2`` state machine in a
background thread, so one connection carries many concurrent streams exactly like
``api.push.apple.com``. It implements ``POST /3/device/<hex token>`` with token
authentication:

* ``authorization: bearer <JWT>`` is verified as ES256 against the public key
  registered with ``add_key(key_id, team_id, public_key)`` (``kid`` picks the key,
  ``iss`` must be its team); a JWT whose ``iat`` is over an hour old is refused with
  403 ExpiredProviderToken, anything else wrong with 403 InvalidProviderToken;
* ``apns-topic`` is required and the other ``apns-*`` headers are checked as Apple
  documents them (a background push with priority 10 is BadPriority); the body must be
  JSON of at most 4096 bytes (413 PayloadTooLarge);
* 200 carries an ``apns-id`` header; errors carry Apple's ``{"reason": ...}`` JSON
  (410 adds ``timestamp``).

Any documented reason can be injected per device token with ``fail_token``; answers
can be held back (``delay``, ``delay_token``) and connections reset (``drop_connections``).
Accepted notifications are recorded in ``received``; ``connections`` counts TLS
connections accepted and ``jwts_seen`` the distinct provider tokens presented.
``stats()`` (and ``GET /_stats`` on any connection) reports the requests served and the
CPU spent, for the benchmarks.

The benchmark pushes 100,000 notifications through one instance, so the fake must cost
less per request than the platform's client (``bench/fake_apns_cost.py`` measures it).
Per request it does no more than it must: a provider token's ES256 signature is verified
once per distinct JWT (its age still checked per request), responses are HPACK-coded
without Huffman coding and ``apns-id`` is kept out of the dynamic table, and h2's count
of open streams, a walk over every stream per new stream, runs only when it could refuse
one. ``lean=True`` also skips h2's validation of each request's header block (RFC 9113
field syntax, pseudo-headers) and parses a body only when it differs from the last one:
a valid request gets the same answer, a malformed header block may be accepted. Tests
keep the full checks; benchmarks, which send what the platform's client built, use it.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import shutil
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import hpack
import hpack.hpack
import hyperframe.frame
import jwt
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

# Apple: "The maximum size of a regular remote notification payload is 4 KB (4096 bytes)".
MAX_PAYLOAD_BYTES = 4096
# Apple refuses a provider token whose ``iat`` is more than one hour old.
MAX_PROVIDER_TOKEN_AGE = 60 * 60
MAX_COLLAPSE_ID_BYTES = 64
# What api.push.apple.com advertises once a connection is authenticated.
MAX_CONCURRENT_STREAMS = 1000
# Device tokens are hex; Apple warns their length may change, so accept 32-100 bytes.
DEVICE_TOKEN_RE = re.compile(r"(?:[0-9a-fA-F]{2}){32,100}")
PUSH_TYPES = frozenset(
    {"alert", "background", "location", "voip", "complication", "fileprovider", "mdm", "liveactivity", "pushtotalk"}
)
PRIORITIES = frozenset({"1", "5", "10"})

# Apple's documented reasons and their HTTP status ("Handling notification responses from APNs").
STATUS_BY_REASON = {
    "BadCollapseId": 400,
    "BadDeviceToken": 400,
    "BadExpirationDate": 400,
    "BadMessageId": 400,
    "BadPriority": 400,
    "BadTopic": 400,
    "DeviceTokenNotForTopic": 400,
    "DuplicateHeaders": 400,
    "IdleTimeout": 400,
    "InvalidPushType": 400,
    "MissingDeviceToken": 400,
    "MissingTopic": 400,
    "PayloadEmpty": 400,
    "TopicDisallowed": 400,
    "BadCertificate": 403,
    "BadCertificateEnvironment": 403,
    "ExpiredProviderToken": 403,
    "Forbidden": 403,
    "InvalidProviderToken": 403,
    "MissingProviderToken": 403,
    "BadPath": 404,
    "MethodNotAllowed": 405,
    "ExpiredToken": 410,
    "Unregistered": 410,
    "PayloadTooLarge": 413,
    "TooManyProviderTokenUpdates": 429,
    "TooManyRequests": 429,
    "InternalServerError": 500,
    "ServiceUnavailable": 503,
    "Shutdown": 503,
}
# Not in Apple's list: Apple's answer to a body that is not JSON is undocumented.
BAD_PAYLOAD_REASON = "BadPayload"
DEVICE_PATH_PREFIX = "/3/device/"

STATS_PATH = "/_stats"  # GET: the fake's own counters and CPU, for the benchmarks

# Headers reach the fake as bytes and are decoded by it (h2's decoding wraps each
# field in a new tuple). Responses are built here from known-good values, so h2 neither
# normalises nor validates them.
_H2_CONFIG = h2.config.H2Configuration(
    client_side=False, header_encoding=None, validate_outbound_headers=False, normalize_outbound_headers=False
)
_H2_LEAN_CONFIG = h2.config.H2Configuration(
    client_side=False,
    header_encoding=None,
    validate_outbound_headers=False,
    normalize_outbound_headers=False,
    validate_inbound_headers=False,
    normalize_inbound_headers=False,
)
_STATUS_200 = (b":status", b"200")


@dataclass(frozen=True)
class ReceivedNotification:
    token: str
    headers: dict[str, str]  # every ``apns-*`` request header, as sent
    payload: Any  # the parsed JSON body
    apns_id: str  # the id we answered with
    key_id: str  # ``kid`` of the provider token that authorised it

    @property
    def topic(self) -> str | None:
        return self.headers.get("apns-topic")

    @property
    def collapse_id(self) -> str | None:
        return self.headers.get("apns-collapse-id")

    @property
    def expiration(self) -> str | None:
        return self.headers.get("apns-expiration")

    @property
    def push_type(self) -> str | None:
        return self.headers.get("apns-push-type")

    @property
    def priority(self) -> str | None:
        return self.headers.get("apns-priority")


def make_apns_key() -> tuple[str, ec.EllipticCurvePublicKey]:
    """A P-256 signing key as Apple issues it (the PKCS#8 PEM inside an AuthKey_<kid>.p8)."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return pem, private_key.public_key()


class FakeApnsServer:
    """Use as a context manager, or ``start()``/``stop()``. ``url`` and ``ca_file`` are set once started."""

    def __init__(self, *, delay: float = 0.0, clock: Callable[[], float] = time.time, lean: bool = False) -> None:
        self.delay = delay  # seconds before each answer; the stream stays open meanwhile
        self.clock = clock  # the server's idea of now, for provider token age
        self.lean = lean  # see the module's docstring: fewer per-request checks, same answers
        self.received: list[ReceivedNotification] = []
        self.connections = 0
        self.requests = 0  # every request answered but GET /_stats (counted on the loop)
        self.accepted = 0  # notifications answered 200, whether or not ``received`` was emptied since
        self._last_body: bytes | None = None  # lean: the last body parsed, and what it parsed to
        self._last_payload: Any = None
        self._loop_cpu_at_start = 0.0
        self._loop_ident = 0
        self.url = ""
        self.ca_file = ""
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[str, ec.EllipticCurvePublicKey]] = {}
        self._jwts: set[str] = set()
        # JWT string -> (kid, iat) once its signature verified, or the 403 reason.
        # ES256 verification costs more than the rest of a request, and clients reuse a JWT.
        self._verified: dict[str, tuple[str, int] | str] = {}
        self._failures: dict[str, list[Any]] = {}  # token -> [reason, remaining times or None]
        self._token_delays: dict[str, float] = {}
        self._protocols: set[_ApnsProtocol] = set()
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tmpdir = ""

    # Test API

    def add_key(self, key_id: str, team_id: str, public_key: ec.EllipticCurvePublicKey) -> None:
        with self._lock:
            self._keys[key_id] = (team_id, public_key)
            self._verified = {}

    def fail_token(self, token: str, reason: str, times: int | None = None) -> None:
        """Answer the next ``times`` requests for ``token`` (all, when None) with Apple's ``reason``."""
        if reason not in STATUS_BY_REASON:
            raise ValueError(f"unknown APNs reason {reason!r}")
        with self._lock:
            self._failures[token] = [reason, times]

    def delay_token(self, token: str, seconds: float) -> None:
        """Hold every answer for ``token`` this long (on top of ``delay``)."""
        with self._lock:
            self._token_delays[token] = seconds

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()
            self._token_delays.clear()

    def drop_connections(self) -> None:
        """Abort every open connection, as a network reset would."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._abort_all)

    @property
    def jwts_seen(self) -> int:
        with self._lock:
            return len(self._jwts)

    def stats(self) -> dict[str, Any]:
        """Counters and CPU, as ``GET /_stats`` answers them. ``cpu_seconds`` is the whole
        process's (the fake's own when it runs alone, as in the benchmarks);
        ``loop_cpu_seconds`` the serving loop thread's since it started listening (the
        fake's own even inside a test process)."""
        loop = self._loop
        if loop is not None and threading.get_ident() != self._loop_ident:

            async def on_the_loop() -> dict[str, Any]:
                return self.stats()

            return asyncio.run_coroutine_threadsafe(on_the_loop(), loop).result(timeout=10)
        with self._lock:
            accepted, jwts_seen = self.accepted, len(self._jwts)
        stats = {
            "requests": self.requests,
            "accepted": accepted,
            "connections": self.connections,
            "jwts_seen": jwts_seen,
            "cpu_seconds": round(time.process_time(), 4),
            "lean": self.lean,
            "server": "h2-asyncio-tls",
        }
        if loop is not None:
            stats["loop_cpu_seconds"] = round(time.thread_time() - self._loop_cpu_at_start, 4)
        return stats

    # Lifecycle

    def start(self) -> FakeApnsServer:
        ca = trustme.CA()
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(ssl_context)
        ssl_context.set_alpn_protocols(["h2"])
        self._tmpdir = tempfile.mkdtemp(prefix="fake-apns-")
        ca_path = Path(self._tmpdir) / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_path))
        self.ca_file = str(ca_path)

        loop = asyncio.new_event_loop()

        async def listen() -> int:
            self._server = await loop.create_server(
                lambda: _ApnsProtocol(self), "127.0.0.1", 0, ssl=ssl_context, backlog=256
            )
            self._loop_cpu_at_start = time.thread_time()
            self._loop_ident = threading.get_ident()
            return self._server.sockets[0].getsockname()[1]

        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="fake-apns", daemon=True)
        self._thread.start()
        port = asyncio.run_coroutine_threadsafe(listen(), loop).result(timeout=10)
        self.url = f"https://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            self._abort_all()
            await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None
        shutil.rmtree(self._tmpdir, ignore_errors=True)

    def __enter__(self) -> FakeApnsServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # Request handling (event loop thread)

    def _abort_all(self) -> None:
        for protocol in list(self._protocols):
            protocol.transport.abort()

    def _answer(self, headers: dict[str, str], body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        method = headers.get(":method")
        if method == "GET" and headers.get(":path") == STATS_PATH:
            document = json.dumps(self.stats()).encode()
            return 200, [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(document))], document
        self.requests += 1
        # Apple echoes a client's apns-id.
        apns_id = headers.get("apns-id") or _new_apns_id()
        if method != "POST":
            return _error("MethodNotAllowed", apns_id)
        path = headers.get(":path", "")
        if not path.startswith(DEVICE_PATH_PREFIX):
            return _error("BadPath", apns_id)
        token = path[len(DEVICE_PATH_PREFIX) :]
        if not token:
            return _error("MissingDeviceToken", apns_id)
        key_id, reason = self._authenticate(headers.get("authorization"))
        if reason is not None:
            return _error(reason, apns_id)
        reason = _header_error(headers)
        if reason is None and not DEVICE_TOKEN_RE.fullmatch(token):
            reason = "BadDeviceToken"
        if reason is None:
            reason = self._injected_failure(token)
        if reason is None and not body:
            reason = "PayloadEmpty"
        if reason is None and len(body) > MAX_PAYLOAD_BYTES:
            reason = "PayloadTooLarge"
        if reason is not None:
            return _error(reason, apns_id)
        if self.lean and body == self._last_body:
            payload = self._last_payload  # a broadcast sends one body to every device
        else:
            try:
                payload = json.loads(body)
            except ValueError:
                return _error(BAD_PAYLOAD_REASON, apns_id, status=400)
            if self.lean:
                self._last_body, self._last_payload = body, payload
        apns_headers = {name: value for name, value in headers.items() if name.startswith("apns-")}
        notification = ReceivedNotification(token, apns_headers, payload, apns_id, key_id)
        with self._lock:
            self.received.append(notification)
            self.accepted += 1
        # Never indexed: a new id every answer would evict what the client's table holds.
        return 200, [hpack.NeverIndexedHeaderTuple(b"apns-id", apns_id.encode())], b""

    def _authenticate(self, authorization: str | None) -> tuple[str, str | None]:
        """``(kid, None)`` for an acceptable provider token, else ``("", 403 reason)``."""
        if not authorization:
            return "", "MissingProviderToken"
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return "", "MissingProviderToken"
        with self._lock:
            verified = self._verified.get(token)
            if verified is None:
                self._jwts.add(token)
        if verified is None:
            verified = self._verify(token)
            with self._lock:
                self._verified[token] = verified
        if isinstance(verified, str):
            return "", verified
        key_id, issued_at = verified
        if self.clock() - issued_at > MAX_PROVIDER_TOKEN_AGE:
            return "", "ExpiredProviderToken"
        return key_id, None

    def _verify(self, token: str) -> tuple[str, int] | str:
        """ES256 signature, ``kid`` and ``iss`` of a provider token: ``(kid, iat)``, or the 403 reason."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            return "InvalidProviderToken"
        with self._lock:
            registered = self._keys.get(header.get("kid", ""))
        if header.get("alg") != "ES256" or registered is None:
            return "InvalidProviderToken"
        team_id, public_key = registered
        try:
            claims = jwt.decode(
                token,
                public_key,
                algorithms=["ES256"],
                issuer=team_id,
                # Age is checked per request against ``clock``, not by PyJWT.
                options={"require": ["iss", "iat"], "verify_iat": False, "verify_exp": False},
            )
        except jwt.InvalidTokenError:
            return "InvalidProviderToken"
        if not isinstance(claims["iat"], int):
            return "InvalidProviderToken"
        return header["kid"], claims["iat"]

    def _injected_failure(self, token: str) -> str | None:
        with self._lock:
            failure = self._failures.get(token)
            if failure is None:
                return None
            reason, remaining = failure
            if remaining is not None:
                if remaining <= 1:
                    del self._failures[token]
                else:
                    failure[1] = remaining - 1
            return reason


def _header_error(headers: dict[str, str]) -> str | None:
    if not headers.get("apns-topic"):
        return "MissingTopic"
    push_type = headers.get("apns-push-type")
    if push_type is not None and push_type not in PUSH_TYPES:
        return "InvalidPushType"
    priority = headers.get("apns-priority")
    if priority is not None and priority not in PRIORITIES:
        return "BadPriority"
    # Apple on the background push type: "Always use priority 5. Using priority 10 is an
    # error." (10 is also the default when the header is absent.)
    if push_type == "background" and priority in (None, "10"):
        return "BadPriority"
    expiration = headers.get("apns-expiration")
    if expiration is not None and not expiration.isdigit():
        return "BadExpirationDate"
    collapse_id = headers.get("apns-collapse-id")
    if collapse_id is not None and len(collapse_id.encode()) > MAX_COLLAPSE_ID_BYTES:
        return "BadCollapseId"
    return None


def _new_apns_id() -> str:
    """A random UUID (version 4) in upper case, as Apple's. random, not uuid4: os.urandom per request is slow."""
    return str(uuid.UUID(int=random.getrandbits(128), version=4)).upper()


def _error(reason: str, apns_id: str, status: int | None = None) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    status = status or STATUS_BY_REASON[reason]
    document: dict[str, Any] = {"reason": reason}
    if status == 410:
        document["timestamp"] = int(time.time() * 1000)  # when APNs learnt the token was dead
    body = json.dumps(document).encode()
    headers = [
        hpack.NeverIndexedHeaderTuple(b"apns-id", apns_id.encode()),
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
    ]
    return status, headers, body


class _PlainEncoder(hpack.Encoder):
    """HPACK without Huffman coding: Huffman-coding an apns-id in pure Python costs more
    CPU than the bytes it saves on loopback."""

    def encode(self, headers, huffman: bool = False) -> bytes:  # type: ignore[override]
        return super().encode(headers, huffman=False)


class _Decoder(hpack.Decoder):
    """hpack's decoder with a short path for a field sent as a one-byte index (all but
    ``:path`` of a client's request once its table is warm): the same table lookup, size
    limits and errors, without hpack's per-field integer parsing, debug logging and
    tuple copies."""

    def decode(self, data: bytes, raw: bool = False) -> list[hpack.HeaderTuple]:  # type: ignore[override]
        if not raw:
            return super().decode(data, raw=False)
        data_mem = memoryview(data)
        headers: list[hpack.HeaderTuple] = []
        get_by_index = self.header_table.get_by_index
        inflated_size = 0
        index, length = 0, len(data)
        while index < length:
            current = data[index]
            if current & 0x80 and current != 0xFF:  # indexed, the index in this byte
                name, value = get_by_index(current & 0x7F)
                header = hpack.HeaderTuple(name, value)
                consumed = 1
            elif current & 0x80:
                header, consumed = self._decode_indexed(data_mem[index:])
            elif current & 0x40:
                header, consumed = self._decode_literal_index(data_mem[index:])
                header = header.__class__(bytes(header[0]), bytes(header[1]))
            elif current & 0x20:
                if headers:
                    raise hpack.HPACKDecodingError("Table size update not at the start of the block")
                index += self._update_encoding_context(data_mem[index:])
                continue
            else:
                header, consumed = self._decode_literal_no_index(data_mem[index:])
                header = header.__class__(bytes(header[0]), bytes(header[1]))
            headers.append(header)
            inflated_size += 32 + len(header[0]) + len(header[1])  # hpack's table_entry_size
            if inflated_size > self.max_header_list_size:
                raise hpack.OversizedHeaderListError(
                    f"A header list larger than {self.max_header_list_size} has been received"
                )
            index += consumed
        self._assert_valid_table_size()
        return headers


class _H2Connection(h2.connection.H2Connection):
    """h2's server connection without its per-stream walk.

    h2 counts the open streams by walking every stream it holds each time a client opens
    one (a fifth of the fake's CPU at 500 concurrent streams), and forgets the closed
    ones in that walk. The count can only refuse a stream once h2 holds as many streams
    as the limit; below that the number held (never fewer than the open ones) is
    answered, so the walk, with its forgetting, runs only at the limit.
    """

    def __init__(self, config: h2.config.H2Configuration) -> None:
        super().__init__(config=config)
        self.encoder = _PlainEncoder()
        self.decoder = _Decoder()
        self.decoder.max_header_list_size = self.DEFAULT_MAX_HEADER_LIST_SIZE

    @property
    def open_inbound_streams(self) -> int:
        held = len(self.streams)
        if held < self.local_settings.max_concurrent_streams:
            return held
        return super().open_inbound_streams

    def _receive_frame(self, frame: hyperframe.frame.Frame) -> list[h2.events.Event]:
        """h2 4.4.1's ``_receive_frame`` (requirements.txt pins it) without its first line,
        ``logger.trace("Received frame: %s", repr(frame))``: the repr is built for every
        frame even though nothing logs it, 3 us a frame, two frames a notification."""
        try:
            frames, events = self._frame_dispatch_table[frame.__class__](frame)
        except h2.exceptions.StreamClosedError as e:
            if self._stream_is_closed_by_reset(e.stream_id):
                f = hyperframe.frame.RstStreamFrame(e.stream_id)
                f.error_code = e.error_code
                self._prepare_for_sending([f])
                events = e._events
            else:
                raise
        except h2.exceptions.StreamIDTooLowError as e:
            if self._stream_is_closed_by_reset(e.stream_id):
                f = hyperframe.frame.RstStreamFrame(e.stream_id)
                f.error_code = h2.errors.ErrorCodes.STREAM_CLOSED
                self._prepare_for_sending([f])
                events = []
            elif self._stream_is_closed_by_end(e.stream_id):
                raise h2.exceptions.StreamClosedError(e.stream_id) from e
            else:
                raise
        else:
            self._prepare_for_sending(frames)
        return events


class _NoLog:
    def debug(self, *args: object) -> None:
        pass


def silence_hpack_logging() -> None:
    """Stop hpack's debug logging calls (about 28 a request, 9 us of CPU, though nothing
    listens). Process-wide, the client's hpack included: for a process that only runs
    the fake (bench/fake_apns_server.py)."""
    hpack.hpack.log = _NoLog()


class _ApnsProtocol(asyncio.Protocol):
    """One TLS connection: feeds bytes to an h2 state machine and answers each finished stream."""

    def __init__(self, server: FakeApnsServer) -> None:
        self.server = server
        self.transport: asyncio.Transport
        self.conn = _H2Connection(_H2_LEAN_CONFIG if server.lean else _H2_CONFIG)
        self.conn.local_settings = h2.settings.Settings(
            client=False,
            initial_values={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: MAX_CONCURRENT_STREAMS},
        )
        self.streams: dict[int, tuple[dict[str, str], bytearray]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        ssl_object = transport.get_extra_info("ssl_object")
        self.server.connections += 1
        if ssl_object is None or ssl_object.selected_alpn_protocol() != "h2":
            transport.close()  # Apple speaks HTTP/2 only
            return
        self.server._protocols.add(self)
        self.conn.initiate_connection()
        self.transport.write(self.conn.data_to_send())

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._protocols.discard(self)
        self.streams.clear()

    def data_received(self, data: bytes) -> None:
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.transport.write(self.conn.data_to_send())
            self.transport.close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                try:
                    headers = {name.decode(): value.decode() for name, value in event.headers}
                except UnicodeDecodeError:
                    self.conn.close_connection(error_code=h2.errors.ErrorCodes.PROTOCOL_ERROR)
                    self.transport.write(self.conn.data_to_send())
                    self.transport.close()
                    return
                self.streams[event.stream_id] = (headers, bytearray())
            elif isinstance(event, h2.events.DataReceived):
                stream = self.streams.get(event.stream_id)
                if stream is not None and len(stream[1]) <= MAX_PAYLOAD_BYTES:
                    stream[1].extend(event.data)
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                stream = self.streams.pop(event.stream_id, None)
                if stream is not None:
                    self._handle(event.stream_id, *stream)
            elif isinstance(event, h2.events.StreamReset):
                self.streams.pop(event.stream_id, None)
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.transport.close()
        outgoing = self.conn.data_to_send()
        if outgoing:
            self.transport.write(outgoing)

    def _handle(self, stream_id: int, headers: dict[str, str], body: bytearray) -> None:
        status, response_headers, response_body = self.server._answer(headers, bytes(body))
        delay = self.server.delay
        if self.server._token_delays:
            path = headers.get(":path", "")
            delay += self.server._token_delays.get(path[len(DEVICE_PATH_PREFIX) :], 0.0)
        if delay > 0:
            asyncio.get_running_loop().call_later(
                delay, self._respond, stream_id, status, response_headers, response_body, True
            )
        else:
            self._respond(stream_id, status, response_headers, response_body, False)

    def _respond(
        self, stream_id: int, status: int, headers: list[tuple[bytes, bytes]], body: bytes, flush: bool
    ) -> None:
        if self.transport.is_closing():
            return
        status_header = _STATUS_200 if status == 200 else (b":status", b"%d" % status)
        try:
            self.conn.send_headers(stream_id, [status_header, *headers], end_stream=not body)
            if body:
                self.conn.send_data(stream_id, body, end_stream=True)
        except h2.exceptions.ProtocolError:
            return  # the client gave up on this stream (timeout) and reset it
        if flush:
            self.transport.write(self.conn.data_to_send())
