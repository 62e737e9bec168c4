"""A minimal HTTP/1.1 server on asyncio for the fakes that play HTTP/1.1 APIs.

It parses just what clients of those APIs send: a request line, headers, a body sized by
``Content-Length`` or sent ``Transfer-Encoding: chunked``, ``Expect: 100-continue``;
connections are kept alive (HTTP/1.1 by default, HTTP/1.0 with ``Connection: keep-alive``)
and pipelined requests are answered in order. The handler is called on the event loop
with a ``Request`` and returns ``(status, content_type, extra_headers, body)``, or an
awaitable of it when the answer must wait (it then holds the connection's later requests).
An empty ``content_type`` sends no Content-Type; a ``Connection: close`` among the extra
headers closes the connection after the answer. Answers that carry no body by definition
(1xx, 204, 205, 304, and any answer to HEAD) are sent without one whatever the handler
returned, as RFC 9110 requires (aiohttp refuses a 204 with a body).

Why not aiohttp's server: ``bench/fake_fcm_cost.py`` measured both behind the same fake
FCM handler (2026-12-01, 100,000 requests on 64 keep-alive connections): aiohttp's
request and response objects cost 82 us of CPU per request against 46 us here (68 against
40 with ``lean``), and the CPU the push benchmark's fake spends is what it must keep low.
"""

from __future__ import annotations

import asyncio
import http
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, Self

# Bigger heads are refused: no client of the fakes sends one, a runaway would grow the buffer.
MAX_HEAD_BYTES = 64 * 1024
# send_each opens up to 500 connections at once; a short backlog would make the kernel
# drop SYNs and the client stall for a 1 s retransmit.
LISTEN_BACKLOG = 1024

Answer = tuple[int, str, dict[str, str], bytes]
Handler = Callable[["Request"], "Answer | Awaitable[Answer]"]

_REASONS = {status.value: status.phrase for status in http.HTTPStatus}
_BODILESS_STATUSES = frozenset({204, 304})


class Request:
    """One parsed request; ``headers`` maps lower-case names to their first value."""

    __slots__ = ("body", "headers", "method", "target", "version")

    def __init__(self, method: str, target: str, version: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body


class _BadRequest(Exception):
    pass


def render(answer: Answer, *, close: bool = False, head_only: bool = False) -> bytes:
    """The bytes of one response, head and body in one write (two small writes meet
    delayed ACKs on the client). ``head_only`` (an answer to HEAD) keeps Content-Length
    but sends no body."""
    status, content_type, extra_headers, body = answer
    head = f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    if status in _BODILESS_STATUSES or status < 200:
        body = b""  # RFC 9110 §8.6: no Content-Length and no body in a 1xx or 204 (nor 304 here)
    else:
        if status == 205:
            body = b""  # RFC 9110 §15.3.6: no content, but a length (0) so the client need not read to EOF
        head += f"Content-Length: {len(body)}\r\n"
        if head_only:
            body = b""
    for name, value in extra_headers.items():
        head += f"{name}: {value}\r\n"
    if close and "Connection" not in extra_headers:
        head += "Connection: close\r\n"
    return (head + "\r\n").encode("latin-1") + body


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(f"Bad request line {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            raise _BadRequest(f"Bad header line {line!r}")
        name = name.lower()  # no strip: RFC 9112 forbids whitespace before the colon
        if name not in headers:
            headers[name] = value.strip()
    return parts[0], parts[1], parts[2], headers


def _parse_chunked(buffer: bytes, start: int) -> tuple[bytes, int] | None:
    """The body of a chunked message starting at ``start`` and the offset after it, or
    None if it has not all arrived yet."""
    chunks = []
    position = start
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        try:
            size = int(buffer[position:line_end].split(b";", 1)[0], 16)
        except ValueError:
            raise _BadRequest("Bad chunk size") from None
        if size == 0:  # the last chunk, then trailers (usually none) and an empty line
            trailer_end = buffer.find(b"\r\n\r\n", line_end)
            return None if trailer_end < 0 else (b"".join(chunks), trailer_end + 4)
        data_end = line_end + 2 + size
        if len(buffer) < data_end + 2:
            return None
        chunks.append(buffer[line_end + 2 : data_end])
        position = data_end + 2


class _Http1Protocol(asyncio.Protocol):
    __slots__ = ("_buffer", "_busy", "_continued", "_server", "transport")

    def __init__(self, server: Http1Server) -> None:
        self._server = server
        self.transport: asyncio.Transport | None = None
        self._buffer = b""
        self._busy = False  # an awaited answer holds later requests on this connection
        self._continued = False  # "100 Continue" sent for the request being read

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._server.protocols.add(self)
        self._server.connections_made += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.protocols.discard(self)

    def data_received(self, data: bytes) -> None:
        self._buffer = self._buffer + data if self._buffer else data
        if not self._busy:
            self._serve()

    def _serve(self) -> None:
        transport = self.transport
        while self._buffer and not transport.is_closing():
            try:
                parsed = self._next_request()
            except _BadRequest as exc:
                body = f"Bad request: {exc}".encode()
                transport.write(render((400, "text/plain; charset=utf-8", {}, body), close=True))
                transport.close()
                return
            if parsed is None:
                return
            request, keep_alive = parsed
            try:
                answer = self._server.handler(request)
            except Exception:
                traceback.print_exc()
                self._fail()
                return
            if type(answer) is not tuple:
                self._busy = True
                task = asyncio.ensure_future(answer)
                self._server.tasks.add(task)
                head_only = request.method == "HEAD"
                task.add_done_callback(
                    lambda done, keep=keep_alive, head=head_only: self._answered_later(done, keep, head)
                )
                return
            keep_alive = keep_alive and answer[2].get("Connection") != "close"
            transport.write(render(answer, close=not keep_alive, head_only=request.method == "HEAD"))
            if not keep_alive:
                transport.close()
                return

    def _answered_later(self, task: asyncio.Future, keep_alive: bool, head_only: bool) -> None:
        self._server.tasks.discard(task)
        self._busy = False
        if task.cancelled() or self.transport.is_closing():
            return
        if task.exception() is not None:
            traceback.print_exception(task.exception())
            self._fail()
            return
        answer = task.result()
        keep_alive = keep_alive and answer[2].get("Connection") != "close"
        self.transport.write(render(answer, close=not keep_alive, head_only=head_only))
        if not keep_alive:
            self.transport.close()
            return
        self._serve()

    def _fail(self) -> None:
        """A handler raised: answer 500 and close, as a crashed front end would."""
        body = b"Internal error in the fake"
        self.transport.write(render((500, "text/plain; charset=utf-8", {}, body), close=True))
        self.transport.close()

    def _next_request(self) -> tuple[Request, bool] | None:
        """The next whole request in the buffer (removed from it) and whether the
        connection stays open after it, or None until more bytes arrive."""
        buffer = self._buffer
        head_end = buffer.find(b"\r\n\r\n")
        if head_end < 0:
            if len(buffer) > MAX_HEAD_BYTES:
                raise _BadRequest("Request head too large")
            return None
        method, target, version, headers = _parse_head(buffer[:head_end])
        body_start = head_end + 4
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunked = _parse_chunked(buffer, body_start)
            if chunked is None:
                self._continue_if_expected(headers)
                return None
            body, end = chunked
        else:
            try:
                length = int(headers.get("content-length") or 0)
            except ValueError:
                raise _BadRequest("Bad Content-Length") from None
            end = body_start + length
            if len(buffer) < end:
                self._continue_if_expected(headers)
                return None
            body = buffer[body_start:end]
        self._buffer = buffer[end:]
        self._continued = False
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        return Request(method, target, version, headers, body), keep_alive

    def _continue_if_expected(self, headers: dict[str, str]) -> None:
        if not self._continued and headers.get("expect", "").lower() == "100-continue":
            self._continued = True
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")


class Http1Server:
    """Serve ``handler`` on ``host:port`` in the running event loop (``await start()``)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.protocols: set[_Http1Protocol] = set()
        self.tasks: set[asyncio.Future] = set()
        self.connections_made = 0  # TCP connections accepted since start()
        self._server: asyncio.base_events.Server | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Http1Protocol(self), host, port, backlog=LISTEN_BACKLOG)
        return self._server.sockets[0].getsockname()[:2]

    async def close(self) -> None:
        """Stop listening, drop open connections (their clients see the connection end)
        and cancel answers still awaited."""
        if self._server is not None:
            self._server.close()
        for protocol in list(self.protocols):
            protocol.transport.abort()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.sleep(0)  # let the aborted transports close their sockets
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None


class Http1Fake:
    """A fake served by ``Http1Server``: from a loop of its own in a background thread
    (``start()``/``stop()``, or ``with``), or from the caller's running loop (``await
    start_serving()``/``stop_serving()``, as the bench processes do).

    A subclass sets ``thread_name`` and ``lean``, answers requests in ``_handle``, names its
    counters in ``_counters()``, and may extend ``_serving`` (on the loop, before listening)
    and ``_closing`` (on the loop, before the server closes)."""

    thread_name = "fake-http1"
    lean = False

    def __init__(self) -> None:
        self._http: Http1Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._loop_cpu_at_start = 0.0
        self._loop_ident = 0
        self._base_url = ""  # kept after stop(): tests read endpoints of a stopped server

    def _handle(self, request: Request) -> Answer | Awaitable[Answer]:
        raise NotImplementedError

    def _counters(self) -> dict[str, Any]:
        raise NotImplementedError

    async def _serving(self) -> None:
        """On the loop, before it listens."""

    async def _closing(self, http_server: Http1Server) -> None:
        """On the loop, before ``http_server`` closes."""

    def start(self) -> Self:
        """Serve from a loop of its own in a background thread."""
        loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name=self.thread_name, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.start_serving(), loop).result(timeout=10)
        return self

    def stop(self) -> None:
        """Stop listening and drop open keep-alive connections (their clients see the
        connection end)."""
        loop, thread = self._loop, self._thread
        if loop is None:
            return
        if thread is None:
            raise RuntimeError("served on a loop of the caller's: await stop_serving() there")
        asyncio.run_coroutine_threadsafe(self.stop_serving(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._thread = None

    async def start_serving(self) -> Self:
        """Listen on 127.0.0.1 from the running loop."""
        self._loop = asyncio.get_running_loop()
        await self._serving()
        self._http = Http1Server(self._handle)
        host, port = await self._http.start()
        self._base_url = f"http://{host}:{port}"
        self._loop_cpu_at_start = time.thread_time()
        self._loop_ident = threading.get_ident()
        return self

    async def stop_serving(self) -> None:
        http_server, self._http = self._http, None
        if http_server is not None:
            await self._closing(http_server)
            await http_server.close()
        self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

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
        stats = {
            **self._counters(),
            "cpu_seconds": round(time.process_time(), 4),
            "lean": self.lean,
            "server": "asyncio-http1",
        }
        if loop is not None:
            stats["loop_cpu_seconds"] = round(time.thread_time() - self._loop_cpu_at_start, 4)
        return stats
