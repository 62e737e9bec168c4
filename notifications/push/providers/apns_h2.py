"""A lean HTTP/2 client for APNs: the ``h2`` state machine on an asyncio protocol.

``Http2Client`` holds one TLS connection (ALPN ``h2``) to one origin at a time and runs
many requests on it as concurrent streams, never more than the smaller of its own
``max_streams`` and the server's SETTINGS_MAX_CONCURRENT_STREAMS (waiters queue for a
slot, up to the pool timeout). The connection is opened on demand, once for all the
requests that want it at the same moment, and again after GOAWAY, after the
connection is lost or when it has been idle ``keepalive_expiry`` seconds.

It does only what APNs needs, which is what makes it cheaper than httpx over HTTP/2
(measured in ``bench/apns_transport_cost.py``): headers go in as bytes, validated by
the caller once per batch rather than by h2 per request; ``:path`` (a new device token
every request) is never added to the HPACK dynamic table, so the headers that repeat
(topic, push type, the provider token) stay indexed and cost a byte or two each;
literals are not Huffman-coded (a few bytes more on the wire, much less CPU); the
writes of one event-loop turn go out as one TLS write; each stream has one timer.

Errors say whether APNs can have seen the request: ``ConnectError`` and ``WriteError``
(no connection, request not fully written, refused stream, above a GOAWAY's last stream
id) mean it did not, so it is safe to send again; ``ReadError`` and
``RemoteProtocolError`` mean it may have; timeouts are ``ConnectTimeout``,
``WriteTimeout`` (flow control never let the body out), ``ReadTimeout`` (no complete
answer in time) and ``PoolTimeout`` (no stream slot in time).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import hpack

logger = logging.getLogger(__name__)

# h2 counts the open streams by walking every stream each time one is opened, a fifth of
# a request's CPU at 500 concurrent streams; that walk also forgets closed streams, so it
# still runs, once per this many new streams.
_STREAM_SWEEP_EVERY = 256
# What we let the server send before acknowledging it; APNs answers are a few bytes.
_INBOUND_WINDOW = 1 << 20


class TransportError(Exception):
    """No HTTP answer. ``str(exc)`` says why."""


class ConnectError(TransportError):
    """Could not open the connection (refused, TLS failed, no HTTP/2): nothing was sent."""


class WriteError(TransportError):
    """The request did not reach the server complete, or the server said it did not process it."""


class ReadError(TransportError):
    """The connection was lost after the request went out: it may have been processed."""


class RemoteProtocolError(TransportError):
    """The server reset the stream or broke the protocol after the request went out."""


class LocalProtocolError(TransportError):
    """The request cannot be sent as given (a header value with a line break...)."""


class TimeoutException(TransportError):
    pass


class ConnectTimeout(TimeoutException):
    pass


class WriteTimeout(TimeoutException):
    pass


class ReadTimeout(TimeoutException):
    pass


class PoolTimeout(TimeoutException):
    pass


class Timeouts(Protocol):
    """Seconds: ``connect`` (TCP and TLS), ``write`` (flow control holding the body back),
    ``read`` (from the request written to its whole answer), ``pool`` (waiting for a stream
    slot). ``Timeout`` below, or anything with these attributes."""

    connect: float | None
    read: float | None
    write: float | None
    pool: float | None


@dataclass(frozen=True)
class Timeout:
    connect: float | None
    read: float | None
    write: float | None
    pool: float | None


@dataclass(frozen=True)
class Response:
    status_code: int
    headers: dict[str, str]  # lower-case names, latin-1 values
    content: bytes


Headers = list[tuple[bytes, bytes]]


def check_header_values(headers: Headers) -> None:
    """Raise ``LocalProtocolError`` for a value HTTP/2 forbids (CR, LF, NUL, edge whitespace):
    h2's per-request validation is off, so callers check their fixed headers once."""
    for name, value in headers:
        if any(c in value for c in (b"\r", b"\n", b"\x00")) or value != value.strip(b" \t"):
            raise LocalProtocolError(f"illegal value for header {name.decode('latin-1')!r}")


class Http2Client:
    """Requests to one ``https://host[:port]`` origin over one HTTP/2 connection at a time.

    Bound to the running loop it is created on; use it from that loop only.
    """

    def __init__(
        self,
        url: str,
        *,
        timeouts: Timeouts,
        max_streams: int,
        keepalive_expiry: float,
        ca_file: str | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"not an https URL: {url!r}")
        self.host = parts.hostname
        self.port = parts.port or 443
        self.authority = parts.netloc.encode()
        self.timeouts = timeouts
        self.max_streams = max_streams
        self.keepalive_expiry = keepalive_expiry
        self.loop = asyncio.get_running_loop()
        self._ssl_context = ssl.create_default_context(cafile=ca_file)
        self._ssl_context.set_alpn_protocols(["h2"])
        self._connection: _Connection | None = None
        self._connecting: asyncio.Future[_Connection] | None = None
        self._waiters: collections.deque[asyncio.Future[_Connection | None]] = collections.deque()
        self._closed = False

    async def post(self, path: bytes, headers: Headers, body: bytes) -> Response:
        """POST ``body`` to ``path`` with ``headers`` (no pseudo-headers; already checked)."""
        connection = await self._acquire_slot()
        try:
            return await connection.request(path, headers, body)
        finally:
            connection.reserved -= 1
            self._wake()

    async def aclose(self) -> None:
        self._closed = True
        connection, self._connection = self._connection, None
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(WriteError("client closed"))
        if connection is not None:
            connection.close()

    # Stream slots

    async def _acquire_slot(self) -> _Connection:
        deadline = None if self.timeouts.pool is None else self.loop.time() + self.timeouts.pool
        while True:
            connection = await self._usable_connection()
            if not self._waiters and connection.reserved < connection.stream_limit(self.max_streams):
                connection.reserved += 1
                return connection
            waiter: asyncio.Future[_Connection | None] = self.loop.create_future()
            self._waiters.append(waiter)
            timer = None
            if deadline is not None:
                timer = self.loop.call_at(deadline, _fail_waiter, waiter)
            try:
                granted = await waiter
            finally:
                if timer is not None:
                    timer.cancel()
            if granted is not None:
                return granted  # its slot was reserved by _wake
            # None: the connection went away while we queued; get (or open) the next one.

    def _wake(self) -> None:
        """Hand free slots on the current connection to the queued requests, oldest first."""
        connection = self._connection
        usable = connection is not None and connection.usable
        while self._waiters:
            waiter = self._waiters[0]
            if waiter.done():  # timed out
                self._waiters.popleft()
                continue
            if not usable:
                self._waiters.popleft()
                waiter.set_result(None)
                continue
            assert connection is not None
            if connection.reserved >= connection.stream_limit(self.max_streams):
                return
            self._waiters.popleft()
            connection.reserved += 1
            waiter.set_result(connection)

    # The connection

    async def _usable_connection(self) -> _Connection:
        if self._closed:
            raise WriteError("client closed")
        connection = self._connection
        if connection is not None and connection.usable:
            if connection.reserved or time.monotonic() - connection.last_active < self.keepalive_expiry:
                return connection
            connection.close()  # idle too long: peers and NATs drop such connections silently
        self._connection = None
        if self._connecting is None:
            # One handshake for every request that wants the connection now.
            self._connecting = self.loop.create_future()
            task = self.loop.create_task(self._connect())
            task.add_done_callback(self._connected)
        return await asyncio.shield(self._connecting)

    async def _connect(self) -> _Connection:
        connection: _Connection | None = None
        try:
            async with asyncio.timeout(self.timeouts.connect):
                _, connection = await self.loop.create_connection(
                    lambda: _Connection(self),
                    self.host,
                    self.port,
                    ssl=self._ssl_context,
                    server_hostname=self.host,
                )
                if connection.alpn != "h2":
                    raise ConnectError(f"{self.host}:{self.port} did not negotiate HTTP/2 (ALPN {connection.alpn!r})")
                # The stream limit is known before the first request: a server's SETTINGS
                # is the first thing it sends.
                await connection.settings_received
                return connection
        except TimeoutError:
            error: TransportError = ConnectTimeout(
                f"no connection to {self.host}:{self.port} within {self.timeouts.connect} s"
            )
        except OSError as exc:  # refused, reset, TLS failures (ssl.SSLError is an OSError)
            error = ConnectError(f"{self.host}:{self.port}: {exc}")
        except ConnectError as exc:
            error = exc
        if connection is not None:
            connection.close()
        raise error

    def _connected(self, task: asyncio.Task[_Connection]) -> None:
        future, self._connecting = self._connecting, None
        assert future is not None
        if task.cancelled():
            future.set_exception(ConnectError("connect cancelled"))
        elif task.exception() is not None:
            future.set_exception(task.exception())  # type: ignore[arg-type]
        elif self._closed:
            task.result().close()
            future.set_exception(WriteError("client closed"))
        else:
            self._connection = task.result()
            future.set_result(self._connection)
        future.exception()  # marks it retrieved: no warning when every requester gave up
        self._wake()

    def _connection_changed(self, connection: _Connection) -> None:
        """The connection's stream limit rose, it got GOAWAY, or it was lost."""
        if connection is self._connection and not connection.usable:
            self._connection = None
        self._wake()


def _fail_waiter(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_exception(PoolTimeout("no free stream within the pool timeout"))


class _PlainEncoder(hpack.Encoder):
    """HPACK without Huffman coding: Huffman-coding a device token in pure Python costs
    more than the 20 bytes it saves."""

    def encode(self, headers, huffman: bool = False) -> bytes:  # type: ignore[override]
        return super().encode(headers, huffman=False)


class _H2Connection(h2.connection.H2Connection):
    """h2's connection with the open stream count kept by ``_Connection`` (see _STREAM_SWEEP_EVERY)."""

    def __init__(self, config: h2.config.H2Configuration) -> None:
        super().__init__(config=config)
        self.encoder = _PlainEncoder()
        self.open_requests = 0
        self._opened = 0

    @property
    def open_outbound_streams(self) -> int:
        self._opened += 1
        if self._opened % _STREAM_SWEEP_EVERY == 0:
            return super().open_outbound_streams
        return self.open_requests


_H2_CONFIG = h2.config.H2Configuration(
    client_side=True,
    header_encoding=None,
    validate_outbound_headers=False,  # see check_header_values
    normalize_outbound_headers=False,
)


class _Stream:
    __slots__ = ("body", "future", "headers", "status", "timer", "unsent")

    def __init__(self, future: asyncio.Future[Response]) -> None:
        self.future = future
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""
        self.unsent = b""  # body bytes flow control has not let out yet
        self.timer: asyncio.TimerHandle | None = None


class _Connection(asyncio.Protocol):
    """One TLS connection and its h2 state machine."""

    def __init__(self, client: Http2Client) -> None:
        self.client = client
        self.loop = client.loop
        self.h2 = _H2Connection(_H2_CONFIG)
        self.transport: asyncio.Transport | None = None
        self.alpn: str | None = None
        self.streams: dict[int, _Stream] = {}
        self.blocked: collections.deque[int] = collections.deque()  # streams waiting for window
        self.reserved = 0  # slots handed out by the client, in flight or about to be
        self.usable = False  # new streams may be opened
        self.settings_received: asyncio.Future[None] = self.loop.create_future()
        self.last_active = time.monotonic()
        self._flush_scheduled = False
        self._static = [(b":method", b"POST"), (b":scheme", b"https"), (b":authority", client.authority)]

    def stream_limit(self, ours: int) -> int:
        return min(ours, self.h2.remote_settings.max_concurrent_streams)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        ssl_object = transport.get_extra_info("ssl_object")
        self.alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        if self.alpn != "h2":
            return  # Http2Client._connect closes it
        self.h2.initiate_connection()
        self.h2.increment_flow_control_window(_INBOUND_WINDOW)
        self.usable = True
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        if not self.settings_received.done():
            self.settings_received.set_exception(ConnectError(f"connection closed before HTTP/2 settings: {exc}"))
            self.settings_received.exception()  # retrieved: no warning when nobody waits for it
        reason = f"connection lost: {exc}" if exc else "connection closed by APNs"
        for stream_id in list(self.streams):
            stream = self.streams[stream_id]
            # A request not fully written cannot have been processed (APNs answers whole requests).
            error = WriteError(reason) if stream.unsent else ReadError(reason)
            self._fail(stream_id, error)
        self.blocked.clear()
        self.client._connection_changed(self)

    def data_received(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            logger.warning("APNs broke the HTTP/2 protocol: %s", exc)
            self._flush()
            self._abandon(RemoteProtocolError(f"HTTP/2 protocol error: {exc}"))
            return
        for event in events:
            if isinstance(event, h2.events.ResponseReceived):
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    for name, value in event.headers:
                        if name == b":status":
                            stream.status = int(value)
                        else:
                            stream.headers[name.decode("latin-1")] = value.decode("latin-1")
            elif isinstance(event, h2.events.DataReceived):
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    stream.body += event.data
                if event.flow_controlled_length:
                    self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self._finish(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                if event.error_code == h2.errors.ErrorCodes.REFUSED_STREAM:
                    error: TransportError = WriteError("APNs refused the stream (not processed)")
                else:
                    error = RemoteProtocolError(f"APNs reset the stream ({_error_name(event.error_code)})")
                self._fail(event.stream_id, error, reset=False)
            elif isinstance(event, h2.events.WindowUpdated):
                self._unblock()
            elif isinstance(event, h2.events.RemoteSettingsChanged):
                if not self.settings_received.done():
                    self.settings_received.set_result(None)
                self._unblock()
                self.client._connection_changed(self)
            elif isinstance(event, h2.events.ConnectionTerminated):
                self._goaway(event)
        self._flush()

    # Requests

    async def request(self, path: bytes, headers: Headers, body: bytes) -> Response:
        if not self.usable:
            raise WriteError("connection closed before the request was sent")
        stream_id = self.h2.get_next_available_stream_id()
        stream = _Stream(self.loop.create_future())
        try:
            self.h2.send_headers(stream_id, [*self._static, hpack.NeverIndexedHeaderTuple(b":path", path), *headers])
        except h2.exceptions.ProtocolError as exc:  # e.g. stream ids exhausted: start a new connection
            self.usable = False
            self.client._connection_changed(self)
            raise WriteError(f"could not open a stream: {exc}") from None
        self.streams[stream_id] = stream
        self.h2.open_requests += 1
        self.last_active = time.monotonic()
        if body:
            stream.unsent = body
            if self.blocked or not self._send_body(stream_id, stream):
                self.blocked.append(stream_id)
        else:
            self.h2.end_stream(stream_id)
        timeouts = self.client.timeouts
        if stream.unsent:
            stream.timer = _timer(self.loop, timeouts.write, self._timeout, stream_id, WriteTimeout)
        else:
            stream.timer = _timer(self.loop, timeouts.read, self._timeout, stream_id, ReadTimeout)
        self._schedule_flush()
        try:
            return await stream.future
        except asyncio.CancelledError:
            if stream_id in self.streams:
                self._fail(stream_id, None)
            raise

    def _send_body(self, stream_id: int, stream: _Stream) -> bool:
        """Send what flow control allows of the stream's body; True once all of it is out."""
        while stream.unsent:
            size = min(self.h2.local_flow_control_window(stream_id), self.h2.max_outbound_frame_size)
            if size <= 0:
                return False
            chunk, stream.unsent = stream.unsent[:size], stream.unsent[size:]
            self.h2.send_data(stream_id, chunk, end_stream=not stream.unsent)
        return True

    def _unblock(self) -> None:
        while self.blocked:
            stream_id = self.blocked[0]
            stream = self.streams.get(stream_id)
            if stream is not None:
                if not self._send_body(stream_id, stream):
                    return
                if stream.timer is not None:  # written: from now on it waits for the answer
                    stream.timer.cancel()
                    stream.timer = _timer(self.loop, self.client.timeouts.read, self._timeout, stream_id, ReadTimeout)
            self.blocked.popleft()
        self._schedule_flush()

    def _finish(self, stream_id: int) -> None:
        stream = self.streams.pop(stream_id, None)
        if stream is None:
            return
        self.h2.open_requests -= 1
        if stream.timer is not None:
            stream.timer.cancel()
        if stream.unsent:  # answered before we finished the body (RFC 9113 8.1): stop sending it
            stream.unsent = b""
            self._reset(stream_id, h2.errors.ErrorCodes.NO_ERROR)
        if not stream.future.done():
            stream.future.set_result(Response(stream.status, stream.headers, stream.body))
        self._close_if_drained()

    def _fail(self, stream_id: int, error: TransportError | None, *, reset: bool = True) -> None:
        stream = self.streams.pop(stream_id, None)
        if stream is None:
            return
        self.h2.open_requests -= 1
        if stream.timer is not None:
            stream.timer.cancel()
        if reset and self.usable:
            self._reset(stream_id, h2.errors.ErrorCodes.CANCEL)
        if error is not None and not stream.future.done():
            stream.future.set_exception(error)
        self._close_if_drained()

    def _timeout(self, stream_id: int, error_class: type[TimeoutException]) -> None:
        seconds = self.client.timeouts.write if error_class is WriteTimeout else self.client.timeouts.read
        self._fail(stream_id, error_class(f"no {'window' if error_class is WriteTimeout else 'answer'} in {seconds} s"))

    def _reset(self, stream_id: int, code: h2.errors.ErrorCodes) -> None:
        with contextlib.suppress(h2.exceptions.ProtocolError):  # already closed on the wire
            self.h2.reset_stream(stream_id, code)
        self._schedule_flush()

    def _goaway(self, event: h2.events.ConnectionTerminated) -> None:
        """Streams above ``last_stream_id`` were not processed: they fail as unsent, to be
        sent again on a new connection. h2 accepts no frame after a GOAWAY, so the answers
        still owed on the others are lost: they fail as possibly delivered."""
        self.usable = False
        last = event.last_stream_id if event.last_stream_id is not None else 0
        detail = (event.additional_data or b"").decode("utf-8", "replace") or _error_name(event.error_code)
        logger.info("APNs sent GOAWAY (%s, last stream %s): %s", _error_name(event.error_code), last, detail)
        for stream_id in list(self.streams):
            if stream_id > last:
                self._fail(stream_id, WriteError(f"GOAWAY {detail}: not processed"), reset=False)
            else:
                self._fail(stream_id, RemoteProtocolError(f"GOAWAY {detail} before the answer"), reset=False)
        self.client._connection_changed(self)
        self._close_if_drained()

    def _close_if_drained(self) -> None:
        if not self.usable and not self.streams and self.transport is not None:
            self.transport.close()

    def _abandon(self, error: TransportError) -> None:
        self.usable = False
        for stream_id in list(self.streams):
            self._fail(stream_id, error, reset=False)
        self.client._connection_changed(self)
        if self.transport is not None:
            self.transport.close()

    def close(self) -> None:
        """Say GOAWAY and close; streams still open fail as the connection is lost."""
        if self.transport is None or self.transport.is_closing():
            return
        if self.usable:
            self.usable = False
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self.h2.close_connection()
            self._flush()
        self.transport.close()

    # Writing

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


def _timer(loop: asyncio.AbstractEventLoop, seconds: float | None, callback, *args) -> asyncio.TimerHandle | None:
    return None if seconds is None else loop.call_later(seconds, callback, *args)


def _error_name(code: int) -> str:
    try:
        return h2.errors.ErrorCodes(code).name
    except ValueError:
        return f"error code {code}"
