"""The one HTTP client webhooks go out through: one per process, keep-alive, pinned.

Every new connection resolves the host itself, checks every answer with the SSRF guard
and connects to an address it checked (``PinnedBackend``): nothing resolves the name
again between the check and the connect, so a DNS answer that changes in between
(rebinding) cannot point the connection elsewhere. TLS still verifies the certificate
against the URL's host name. Redirects are not followed (a 3xx is a failed attempt),
environment proxies are ignored, every phase has a timeout, and at most
``RESPONSE_MAX_BYTES`` of an answer are read (undecoded: ``Accept-Encoding: identity``).
"""

from __future__ import annotations

import os
import ssl
import threading
import time
from dataclasses import dataclass

import certifi
import httpcore
import httpx
from django.conf import settings

from notifications.webhooks.ssrf import BlockedAddress, addresses_checked

RESPONSE_MAX_BYTES = 1024  # of an answer's body read: enough for an excerpt, bounds a hostile one
EXCERPT_CHARS = 200  # of it kept on the attempt row
ADDRESSES_TRIED = 2  # of a name's answers, before the connection counts as failed
USER_AGENT = "SoftAfrik-Webhooks/1.0"


class PinnedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to addresses the SSRF guard allowed."""

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        try:
            addresses = addresses_checked(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"{host} does not resolve: {exc}") from exc
        failure: Exception | None = None
        for address in addresses[:ADDRESSES_TRIED]:
            try:
                return super().connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure  # type: ignore[misc]


class PinnedTransport(httpx.HTTPTransport):
    """httpx's transport over a pool that connects through ``PinnedBackend``."""

    def __init__(self, *, limits: httpx.Limits) -> None:
        super().__init__(trust_env=False, limits=limits)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl.create_default_context(cafile=certifi.where()),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinnedBackend(),
        )


def client_build() -> httpx.Client:
    concurrency = settings.WEBHOOK_CONCURRENCY
    limits = httpx.Limits(
        max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2, keepalive_expiry=30.0
    )
    timeout = httpx.Timeout(
        connect=settings.WEBHOOK_CONNECT_TIMEOUT,
        read=settings.WEBHOOK_TIMEOUT,
        write=settings.WEBHOOK_TIMEOUT,
        pool=settings.WEBHOOK_TIMEOUT,
    )
    return httpx.Client(
        transport=PinnedTransport(limits=limits),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
    )


_lock = threading.Lock()
_client: httpx.Client | None = None
_client_pid = 0


def client() -> httpx.Client:
    """This process's client (a forked worker builds its own: sockets do not survive a fork)."""
    global _client, _client_pid
    with _lock:
        if _client is None or _client_pid != os.getpid():
            _client = client_build()
            _client_pid = os.getpid()
        return _client


def client_close() -> None:
    global _client
    with _lock:
        if _client is not None and _client_pid == os.getpid():
            _client.close()
        _client = None


@dataclass(frozen=True)
class Answer:
    """What one POST came to: a status code and the body's start, or an error."""

    status_code: int | None
    excerpt: str
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(url: str, *, body: bytes, headers: dict[str, str]) -> Answer:
    """POST ``body``; never raises for what the receiver or the network did."""
    started = time.monotonic()
    status_code: int | None = None
    excerpt = error = ""
    try:
        with client().stream(
            "POST", url, content=body, headers={"Content-Type": "application/json", **headers}
        ) as response:
            status_code = response.status_code
            read = b""
            for chunk in response.iter_raw(chunk_size=RESPONSE_MAX_BYTES):
                read += chunk
                if len(read) >= RESPONSE_MAX_BYTES:
                    break
            excerpt = read[:RESPONSE_MAX_BYTES].decode("utf-8", errors="replace")[:EXCERPT_CHARS]
    except BlockedAddress as exc:
        error = f"refused: {exc}"
    except httpx.TimeoutException as exc:
        error = f"timeout ({type(exc).__name__}): {exc}" if str(exc) else f"timeout ({type(exc).__name__})"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    if status_code is not None and not 200 <= status_code < 300:
        error = f"HTTP {status_code}"
        if 300 <= status_code < 400:
            error += " (redirects are not followed)"
    return Answer(status_code, excerpt, error[:300], int((time.monotonic() - started) * 1000))
