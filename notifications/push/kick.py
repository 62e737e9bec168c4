"""Debounced wake-ups for the fan-out worker, so accepting a send does not cost a broker
publish per request.

Accepted messages wait in the database (state 'queued'). After each commit the request
calls ``fan_out_kick()``, which only sets a flag. One daemon thread per process publishes
``messages_fan_out_queued`` when the flag is up, then sleeps KICK_INTERVAL: at most one
publish per interval per process, and every kick is followed by a publish that starts
after it, so no committed message waits for beat. The thread is long-lived on purpose:
Celery keeps its producer and result backend per thread, and a short-lived thread per
publish (``threading.Timer``) built a new Redis client every time, costing a fifth of an
accepted request's CPU. Beat's sweep covers a kick lost with a dying process.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

KICK_INTERVAL = 0.05  # seconds: at most 20 publishes (~1 ms of CPU each) a second per web process


def _publish_fan_out() -> None:
    from notifications.tasks import messages_fan_out_queued

    messages_fan_out_queued.delay()


class Kicker:
    """Coalesces ``kick()`` calls into at most one ``publish()`` per ``interval``."""

    def __init__(self, publish: Callable[[], None], *, interval: float, name: str) -> None:
        self.publish = publish
        self.interval = interval
        self.name = name
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._owner_pid = 0  # the thread does not survive a fork: start a new one in the child

    def kick(self) -> None:
        if self._owner_pid != os.getpid():
            self._start()
        self._wanted.set()

    def _start(self) -> None:
        with self._lock:
            if self._owner_pid == os.getpid():
                return
            self._wanted = threading.Event()
            threading.Thread(target=self._run, name=self.name, daemon=True).start()
            self._owner_pid = os.getpid()

    def _run(self) -> None:
        wanted = self._wanted
        while True:
            wanted.wait()
            wanted.clear()  # a kick from here on is covered by this publish or the next
            try:
                self.publish()
            except Exception:  # broker down: beat's sweep picks the messages up
                logger.exception("%s: publish failed", self.name)
            time.sleep(self.interval)


_fan_out = Kicker(_publish_fan_out, interval=KICK_INTERVAL, name="fan-out-kicker")


def fan_out_kick() -> None:
    _fan_out.kick()
