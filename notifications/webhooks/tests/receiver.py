"""A webhook receiver on loopback, as a tenant would write one: it verifies every request
with the ``standardwebhooks`` package and answers what the test scripts."""

from __future__ import annotations

import http.server
import json
import threading
import time
from dataclasses import dataclass
from typing import Self

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    verified: bool | None  # None: no key to verify with
    answered: int
    at: float  # time.time() when it arrived

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


class WebhookReceiver:
    """Records every POST. ``answers`` are the status codes of the next requests, in order
    (then ``status``); ``redirect_to`` makes it answer 302 to that URL; ``delay`` sleeps
    before answering; ``body`` is what it answers with. ``keys`` maps a path to the
    ``standardwebhooks.Webhook`` key of the endpoint posting there."""

    def __init__(self, *, status: int = 200) -> None:
        self.status = status
        self.answers: list[int] = []
        self.redirect_to = ""
        self.delay = 0.0
        self.body = b"ok"
        self.keys: dict[str, str | bytes] = {}
        self._received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver._handle(self, body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def _verify(self, path: str, headers: dict[str, str], body: bytes) -> bool | None:
        key = self.keys.get(path)
        if key is None:
            return None
        try:
            Webhook(key).verify(body, headers)
        except (WebhookVerificationError, ValueError):  # ValueError: a malformed header
            return False
        return True

    def _handle(self, handler: http.server.BaseHTTPRequestHandler, body: bytes) -> None:
        headers = {name.lower(): value for name, value in handler.headers.items()}
        with self._lock:
            status = self.answers.pop(0) if self.answers else self.status
            redirect, delay, answer = self.redirect_to, self.delay, self.body
        verified = self._verify(handler.path, headers, body)
        with self._lock:
            self._received.append(Received(handler.path, headers, body, verified, status, time.time()))
        if delay:
            time.sleep(delay)
        if redirect:
            status = 302
        handler.send_response(status)
        if redirect:
            handler.send_header("Location", redirect)
        handler.send_header("Content-Length", str(len(answer)))
        handler.end_headers()
        try:
            handler.wfile.write(answer)
        except (BrokenPipeError, ConnectionResetError):  # the client read what it wanted and left
            handler.close_connection = True

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
