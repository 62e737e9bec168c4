"""The one retry policy: exponential backoff (or a published schedule) with jitter, a
cap, and the provider's Retry-After honoured when it asks for longer."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone


@dataclass(frozen=True)
class RetryPolicy:
    """Delay before attempt ``attempts + 1``, after ``attempts`` attempts failed.

    Exponential: ``base * 2**(attempts-1)`` seconds, at most ``cap``. With a
    ``schedule`` of retry delays (webhooks: 5 s, 5 min, 30 min, ...), its
    ``attempts``-th entry instead, the last one repeated. The delay is drawn from the upper ``jitter`` share below it
    (0.5: between half and all of it), so retries of one failure spread out instead of
    arriving together; a longer Retry-After wins.
    """

    base: float = 5.0
    cap: float = 600.0
    schedule: tuple[float, ...] = ()
    jitter: float = 0.5
    # False: drawn below the delay (between (1 - jitter) and 1 of it); True: around it
    # (between 1 - jitter and 1 + jitter), for a published schedule receivers expect.
    symmetric: bool = False
    throttle_wait: float = 2.0  # a throttled recipient waits this long (to twice it), attempt not counted

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        if self.schedule:
            ceiling = self.schedule[min(max(attempts, 1), len(self.schedule)) - 1]
        else:
            ceiling = self.base * 2 ** max(0, attempts - 1)
        ceiling = min(self.cap, ceiling)
        delay = random.uniform(ceiling * (1 - self.jitter), ceiling * (1 + self.jitter if self.symmetric else 1))
        return max(delay, retry_after or 0.0)

    def next_at(self, attempts: int, retry_after: float | None = None, *, now: datetime | None = None) -> datetime:
        return (now or timezone.now()) + timedelta(seconds=self.delay(attempts, retry_after))

    def throttled_at(self, *, now: datetime | None = None) -> datetime:
        return (now or timezone.now()) + timedelta(seconds=self.throttle_wait * random.uniform(1, 2))
