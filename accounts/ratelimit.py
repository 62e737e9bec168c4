"""Per-key request rate limits: requests a second and a minute, counted across every web
process.

Each key has two limits, its own (``ApiKey.rate_per_second``, ``rate_per_minute``) or the
platform's (``API_RATE_PER_SECOND``, ``API_RATE_PER_MINUTE``); 0 is no limit in that
window. Counting is a sliding-window log: the instants of the requests admitted in the
last minute, kept in one Redis sorted set per key. One Lua script prunes it, counts both
windows, and admits (records the request) only when both are under their limit, all
atomically on the Redis server with the server's clock: however many processes ask at
once, no window of one second (or one minute) ever holds more admitted requests than its
limit. A refused request is not recorded, and ``retry_after`` is when the oldest request
that fills the window leaves it.

Without ``REDIS_URL`` (``make run``'s embedded defaults: one web process) the same log is
kept in this process under a lock. When Redis is unreachable the limiter fails open to
that in-process count, with a logged warning: the API keeps working and each process
still holds each key to its limits (so the platform to at most the limit times its web
processes) until Redis answers again. The rate limit protects the platform; money is
guarded by the balance, which does not depend on it.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
REDIS_RETRY_SECONDS = 5.0  # after a Redis error, count in-process this long before trying again
WARNING_EVERY_SECONDS = 60.0  # one "Redis unreachable" warning per process at most this often

# KEYS[1]: the key's log, a sorted set of admitted requests (score: the server's time in
# microseconds). ARGV: per-second limit, per-minute limit (0: none), a unique member.
# Returns {0, 0} (admitted) or {microseconds to wait, the full window in seconds}.
# Numbers are formatted with %d: Lua's default conversion would round them to 14 digits.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local per_second, per_minute = tonumber(ARGV[1]), tonumber(ARGV[2])
local keep = 1000000
if per_minute > 0 then keep = 60000000 end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now - keep))
local wait, window = 0, 0
if per_minute > 0 then
  local n = redis.call('ZCARD', KEYS[1])
  if n >= per_minute then
    local oldest = redis.call('ZRANGE', KEYS[1], n - per_minute, n - per_minute, 'WITHSCORES')
    wait, window = tonumber(oldest[2]) + 60000000 - now, 60
  end
end
if per_second > 0 then
  local since = string.format('(%d', now - 1000000)
  local n = redis.call('ZCOUNT', KEYS[1], since, '+inf')
  if n >= per_second then
    local oldest = redis.call('ZRANGEBYSCORE', KEYS[1], since, '+inf', 'WITHSCORES', 'LIMIT', n - per_second, 1)
    local second_wait = tonumber(oldest[2]) + 1000000 - now
    if second_wait > wait then wait, window = second_wait, 1 end
  end
end
if wait > 0 then return {string.format('%d', wait), window} end
redis.call('ZADD', KEYS[1], string.format('%d', now), ARGV[3])
redis.call('PEXPIRE', KEYS[1], keep / 1000)
return {0, 0}
"""


@dataclass(frozen=True)
class Limits:
    per_second: int  # 0: no limit
    per_minute: int

    @property
    def unlimited(self) -> bool:
        return not (self.per_second or self.per_minute)


@dataclass(frozen=True)
class Refusal:
    retry_after: int  # whole seconds, at least 1 (the Retry-After header)
    limit: int
    window: str  # "second" or "minute"


def key_limits(api_key) -> Limits:
    """``api_key``'s limits: its own where set, the platform's otherwise."""
    per_second = api_key.rate_per_second
    per_minute = api_key.rate_per_minute
    return Limits(
        per_second=settings.API_RATE_PER_SECOND if per_second is None else per_second,
        per_minute=settings.API_RATE_PER_MINUTE if per_minute is None else per_minute,
    )


def _refusal(limits: Limits, wait_us: int, window: int) -> Refusal:
    return Refusal(
        retry_after=max(1, math.ceil(wait_us / SECOND_US)),
        limit=limits.per_second if window == 1 else limits.per_minute,
        window="second" if window == 1 else "minute",
    )


class LocalLimiter:
    """The sliding-window log in this process (no Redis, or Redis unreachable)."""

    def __init__(self) -> None:
        self._logs: dict[str, deque[int]] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._logs.clear()

    def admit(self, name: str, limits: Limits) -> Refusal | None:
        now = time.monotonic_ns() // 1000
        keep = MINUTE_US if limits.per_minute else SECOND_US
        with self._lock:
            log = self._logs.setdefault(name, deque())
            while log and log[0] <= now - keep:
                log.popleft()
            wait, window = 0, 0
            if limits.per_minute and len(log) >= limits.per_minute:
                wait, window = log[len(log) - limits.per_minute] + MINUTE_US - now, 60
            if limits.per_second:
                recent = 0  # requests in the last second: the log's newest, counted from the right
                for at in reversed(log):
                    if at <= now - SECOND_US or recent >= limits.per_second:
                        break
                    recent += 1
                if recent >= limits.per_second:
                    second_wait = log[len(log) - limits.per_second] + SECOND_US - now
                    if second_wait > wait:
                        wait, window = second_wait, 1
            if wait > 0:
                return _refusal(limits, wait, window)
            log.append(now)
            return None


class RedisLimiter:
    """The sliding-window log in Redis, shared by every process (``_ADMIT``)."""

    def __init__(self, url: str, *, fallback: LocalLimiter) -> None:
        # Short timeouts: a request never waits long on a stalled Redis (it then fails open).
        self._client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._script = self._client.register_script(_ADMIT)
        self._fallback = fallback
        self._down_until = 0.0
        self._warned_at = -math.inf

    def admit(self, name: str, limits: Limits) -> Refusal | None:
        if time.monotonic() < self._down_until:
            return self._fallback.admit(name, limits)
        try:
            wait, window = self._script(
                keys=[f"softafrik:ratelimit:{name}"],
                args=[limits.per_second, limits.per_minute, secrets.token_hex(8)],
            )
        except redis.RedisError as exc:
            now = time.monotonic()
            self._down_until = now + REDIS_RETRY_SECONDS
            if now - self._warned_at >= WARNING_EVERY_SECONDS:
                self._warned_at = now
                logger.warning("rate limits: Redis unreachable (%s); counting in this process meanwhile", exc)
            return self._fallback.admit(name, limits)
        return _refusal(limits, int(wait), int(window)) if int(wait) > 0 else None


_local = LocalLimiter()
_redis: RedisLimiter | None = None
_redis_lock = threading.Lock()


def _limiter() -> LocalLimiter | RedisLimiter:
    global _redis
    if not settings.REDIS_URL:
        return _local
    if _redis is None:
        with _redis_lock:
            if _redis is None:
                _redis = RedisLimiter(settings.REDIS_URL, fallback=_local)
    return _redis


def rate_admit(*, api_key) -> Refusal | None:
    """Count one request of ``api_key``: None when it is within the key's limits (it is
    then counted), a Refusal (nothing counted) when a window is full."""
    limits = key_limits(api_key)
    if limits.unlimited:
        return None
    # By prefix, not id: unique for ever (a regenerated key starts afresh; SQLite reuses ids).
    return _limiter().admit(api_key.prefix, limits)


def rate_limits_clear() -> None:
    """Forget the in-process counts (tests)."""
    _local.clear()
