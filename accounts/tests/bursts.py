"""The client side of the burst tests (accounts/tests/test_ratelimit.py), each run in an
OS process of its own ("spawn": a fresh interpreter). Kept apart from the test module,
which imports models: these import nothing that needs Django set up."""

from __future__ import annotations

import http.client
import json

from accounts.ratelimit import Limits, LocalLimiter, RedisLimiter


def limiter_burst(url: str, name: str, limits: Limits, calls: int, barrier, results) -> None:
    """Wait for the other processes, then ask Redis ``calls`` times at once; put how many
    were admitted."""
    limiter = RedisLimiter(url, fallback=LocalLimiter())
    barrier.wait()
    results.put(sum(limiter.admit(name, limits) is None for _ in range(calls)))


def http_burst(port: int, key: str, first_ref: int, calls: int, barrier, results) -> None:
    """Wait for the other processes, then register ``calls`` new users, one request each
    on one keep-alive connection; put each answer's (status, Retry-After, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    answers = []
    barrier.wait()
    for ref in range(first_ref, first_ref + calls):
        body = json.dumps({"external_user_ref": f"cust-{ref}"})
        conn.request("POST", "/api/users/register", body, {"X-API-KEY": key, "Content-Type": "application/json"})
        response = conn.getresponse()
        answers.append((response.status, response.getheader("Retry-After"), json.loads(response.read())))
    results.put(answers)
