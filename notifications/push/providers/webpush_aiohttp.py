"""Web Push's HTTP transport: aiohttp on the process's shared event loop (``aioloop``).

``WebPushProvider`` hands this module requests already encrypted and signed; this
module only moves them. One ``aiohttp.ClientSession`` per push service origin (a
subscriber's browser picks the service: FCM for Chrome, Mozilla's autopush, Apple's,
WNS...), each with its own keep-alive connector, so a slow or failing service holds
its own connections and never the others'. Every request of a chunk is in flight at
once, bounded by each origin's ``CONNECTIONS_PER_ORIGIN``.

requests and a thread per request spent most of the adapter's CPU, several times the
encryption's: ``bench/webpush_transport_cost.py`` measures both in one run.

Outcomes are the requests transport's, from the same answers: 200/201/202 SENT with
the Location header as ``provider_message_id``; 404/410 INVALID_ENDPOINT; 429 and 5xx
TRANSIENT with Retry-After; any other status (redirects included: a push service
never redirects, and one is not followed) PERMANENT "HTTP <status>"; a connect or
read timeout TRANSIENT "timeout"; a refused, reset or dropped connection TRANSIENT
"connection error"; another client error TRANSIENT "request error: <class>".
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import aiohttp

from notifications.push.providers import aioloop
from notifications.push.providers.base import Outcome, PushResult, TransientProviderError

logger = logging.getLogger(__name__)

# Keep-alive connections per push service origin, and so the requests of a chunk in
# flight to it at once. A 500-target chunk to one service goes in 8 round trips; past
# ~64 the loopback bench gains nothing (the client's CPU is the limit, not the wait).
CONNECTIONS_PER_ORIGIN = 64
# Origins whose connections are kept. Real subscriptions use a handful of services;
# the bound stops endpoints on many hosts from holding sockets open forever (the
# least recently used idle origin is closed first).
POOLED_ORIGINS = 16
# Close a connection idle this long: below the push services' own idle timeouts (and
# the fake's 30 s), so a reused connection is not one the server is closing right now.
KEEPALIVE_TIMEOUT = 15.0


@dataclass(frozen=True, slots=True)
class PushRequest:
    """One encrypted push, ready to POST: ``origin`` is the endpoint's ``scheme://host[:port]``."""

    delivery_id: int
    origin: str
    endpoint: str
    headers: dict[str, str]
    body: bytes


class _Origin:
    __slots__ = ("in_flight", "session")

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.in_flight = 0


class WebPushTransport:
    """POSTs ``PushRequest``s, each origin over its own keep-alive connections.

    ``timeout`` bounds the connect and each read, as requests' ``timeout=`` did; a
    request waiting for one of its origin's connections is not timed out, but a whole
    batch is cut at ``batch_deadline`` (its unanswered requests TRANSIENT "timeout").
    Sessions are created on the shared loop at first use and again when that loop is
    another (a forked child): an instance built before Celery forks works in each child.
    """

    def __init__(
        self,
        *,
        timeout: float,
        connections_per_origin: int = CONNECTIONS_PER_ORIGIN,
        pooled_origins: int = POOLED_ORIGINS,
    ) -> None:
        self._timeout_seconds = timeout
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
        self._connections_per_origin = connections_per_origin
        self._pooled_origins = pooled_origins
        # Touched only on the loop's thread, except ``_closed`` (under the lock).
        self._origins: OrderedDict[str, _Origin] = OrderedDict()
        self._origins_loop: asyncio.AbstractEventLoop | None = None
        self._closing: set[asyncio.Task] = set()
        self._lock = threading.Lock()
        self._closed = False

    def batch_deadline(self, count: int) -> float:
        """Seconds a batch of ``count`` may take: waves of one origin's connections,
        each at worst a connect and a read timeout, plus slack."""
        return 2 * self._timeout_seconds * math.ceil(max(count, 1) / self._connections_per_origin) + 10

    def send(self, requests: list[PushRequest]) -> list[PushResult]:
        """One result per request, in order. Raises TransientProviderError only if the
        loop itself does not answer in time."""
        if not requests:
            return []
        deadline = self.batch_deadline(len(requests))
        try:
            return aioloop.run(self.send_all(requests, deadline=deadline), timeout=deadline + 5)
        except TimeoutError:
            raise TransientProviderError(f"web push batch not answered within {deadline:.0f} s") from None

    async def send_all(self, requests: list[PushRequest], *, deadline: float | None = None) -> list[PushResult]:
        """On the loop: every request in flight at once; after ``deadline`` seconds the
        unanswered ones are cancelled and reported TRANSIENT "timeout"."""
        if not requests:
            return []
        tasks = [asyncio.create_task(self._post(request)) for request in requests]
        try:
            _, pending = await asyncio.wait(tasks, timeout=deadline or self.batch_deadline(len(requests)))
        finally:  # past the deadline, or this coroutine cancelled: no request outlives the batch
            pending = [task for task in tasks if not task.done()]
            for task in pending:
                task.cancel()
        if pending:
            await asyncio.wait(pending)
        return [
            task.result()
            if not task.cancelled()
            else PushResult(request.delivery_id, Outcome.TRANSIENT, error="timeout")
            for request, task in zip(requests, tasks, strict=True)
        ]

    def close(self) -> None:
        """Close every origin's connections; idempotent. After a fork the parent's are left alone."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        loop = self._origins_loop
        if loop is not None and loop is aioloop.current_loop() and not aioloop.in_loop_thread():
            try:
                aioloop.run(self._close_all(), timeout=5)
            except Exception:  # closing a broken connection must not fail close()
                logger.warning("web push sessions did not close cleanly", exc_info=True)

    # Event loop side

    async def _post(self, request: PushRequest) -> PushResult:
        delivery_id = request.delivery_id
        try:
            origin = self._origin(request.origin)
        except RuntimeError as exc:  # closed
            return PushResult(delivery_id, Outcome.TRANSIENT, error=f"request error: {type(exc).__name__}")
        origin.in_flight += 1
        try:
            async with origin.session.post(
                request.endpoint, data=request.body, headers=request.headers, allow_redirects=False
            ) as response:
                await response.read()  # the connection goes back to the pool only once read
                return result_for_status(
                    delivery_id,
                    response.status,
                    location=response.headers.get("Location", ""),
                    retry_after=response.headers.get("Retry-After"),
                )
        except TimeoutError:  # aiohttp's connect and read timeouts are TimeoutErrors
            return PushResult(delivery_id, Outcome.TRANSIENT, error="timeout")
        # Reasons name the error class only: aiohttp's messages quote the endpoint URL,
        # a bearer capability for the subscriber, which must not land in delivery rows.
        except aiohttp.ClientConnectionError:
            return PushResult(delivery_id, Outcome.TRANSIENT, error="connection error")
        except aiohttp.ClientError as exc:
            return PushResult(delivery_id, Outcome.TRANSIENT, error=f"request error: {type(exc).__name__}")
        except Exception as exc:
            logger.exception("web push to delivery %s failed", delivery_id)
            return PushResult(delivery_id, Outcome.PERMANENT, error=f"error: {type(exc).__name__}")
        finally:
            origin.in_flight -= 1

    def _origin(self, origin: str) -> _Origin:
        loop = asyncio.get_running_loop()
        if self._origins_loop is not loop:
            # Sessions of another loop are the parent's, seen from a forked child: leave them.
            self._origins, self._origins_loop, self._closing = OrderedDict(), loop, set()
        pooled = self._origins.get(origin)
        if pooled is not None:
            self._origins.move_to_end(origin)
            return pooled
        if self._closed:
            raise RuntimeError("web push transport is closed")
        self._evict_idle_origins()
        connector = aiohttp.TCPConnector(
            limit=self._connections_per_origin, limit_per_host=0, keepalive_timeout=KEEPALIVE_TIMEOUT, ttl_dns_cache=300
        )
        pooled = self._origins[origin] = _Origin(aiohttp.ClientSession(connector=connector, timeout=self._timeout))
        return pooled

    def _evict_idle_origins(self) -> None:
        """Close least recently used idle origins until there is room for one more."""
        for name in list(self._origins):
            if len(self._origins) < self._pooled_origins:
                return
            if self._origins[name].in_flight == 0:
                task = asyncio.create_task(self._origins.pop(name).session.close())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

    async def _close_all(self) -> None:
        origins, self._origins = self._origins, OrderedDict()
        await asyncio.gather(*(origin.session.close() for origin in origins.values()), *self._closing)


def result_for_status(delivery_id: int, status: int, *, location: str, retry_after: str | None) -> PushResult:
    """The outcome of a push service's answer (RFC 8030 §5, and what FCM, autopush and
    Apple return)."""
    if status in (200, 201, 202):
        return PushResult(delivery_id, Outcome.SENT, provider_message_id=location)
    error = f"HTTP {status}"
    if status in (404, 410):
        return PushResult(delivery_id, Outcome.INVALID_ENDPOINT, error=error)
    if status == 429 or status >= 500:
        return PushResult(delivery_id, Outcome.TRANSIENT, error=error, retry_after=parse_retry_after(retry_after))
    return PushResult(delivery_id, Outcome.PERMANENT, error=error)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
