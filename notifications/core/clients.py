"""The per-process cache of provider clients, for every channel.

Clients hold long-lived connections (HTTP/2 to APNs, keep-alive pools, SMPP binds) and
cached auth tokens: each is built once per key and process and reused by every chunk.
A key's ``version`` (its row's ``updated_at``) changing means new credentials: the
next lookup builds a fresh client and closes the stale one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

C = TypeVar("C")


class ClientCache(Generic[C]):
    def __init__(self, name: str, *, close: Callable[[C], None] | None = None) -> None:
        self._name = name
        self._close_client = close or (lambda client: client.close())
        self._clients: dict[Hashable, tuple[float, C]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, version: float, build: Callable[[], C]) -> C:
        """The live client for ``key`` at ``version``, built by ``build`` if there is none
        (``build``'s exceptions propagate and nothing is cached)."""
        with self._lock:
            current = self._clients.get(key)
            if current is not None and current[0] == version:
                return current[1]
            client = build()
            self._clients[key] = (version, client)
        if current is not None and current[1] is not client:
            self._close(current[1])
        return client

    def close_all(self) -> None:
        with self._lock:
            clients = [client for _, client in self._clients.values()]
            self._clients.clear()
        for client in clients:
            self._close(client)

    def _close(self, client: C) -> None:
        try:
            self._close_client(client)
        except Exception:  # closing a stale client must never break a send
            logger.exception("closing a %s client failed", self._name)
