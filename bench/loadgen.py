"""A concurrent keep-alive HTTP/1.1 load generator: asyncio on raw sockets, in its own process.

    python bench/loadgen.py --url http://127.0.0.1:8000/api/push/to-user --method POST \\
        --header "X-API-KEY: sk_..." --bodies bodies.jsonl --concurrency 32 \\
        --warmup 2 --duration 10 --max-requests 200000

``--concurrency`` connections each send a request, wait for its answer and send the
next (a closed loop). Requests rotate through the lines of ``--bodies`` (one JSON body
a line), encoded once up front, so the client spends its CPU on sockets, not on
building requests. A response counts when it completes inside the measured window
(after ``--warmup`` seconds, for ``--duration`` seconds); the run also stops after
``--max-requests`` requests in all. A server answering ``Connection: close`` (gunicorn's
sync workers do) is followed by a reconnect, which then counts in that request's latency.

Prints one JSON object: completed, per-status counts, errors, requests per second
(2xx only, as ``ok_per_second``), latency percentiles in milliseconds, and the client's
own CPU use, so a reader can check the client was not the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from urllib.parse import urlsplit


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None if empty)."""
    if not sorted_values:
        return None
    rank = max(1, round(fraction * len(sorted_values) + 0.5))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_summary(seconds: list[float]) -> dict[str, float | None]:
    values = sorted(seconds)

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 3)

    return {
        "p50_ms": ms(percentile(values, 0.50)),
        "p90_ms": ms(percentile(values, 0.90)),
        "p99_ms": ms(percentile(values, 0.99)),
        "max_ms": ms(values[-1] if values else None),
        "mean_ms": ms(sum(values) / len(values) if values else None),
    }


def build_requests(
    *, method: str, host: str, port: int, path: str, headers: list[str], bodies: list[bytes]
) -> list[bytes]:
    head = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive", *headers]
    if not bodies:
        return [("\r\n".join(head) + "\r\n\r\n").encode("latin-1")]
    requests = []
    for body in bodies:
        lines = [*head, "Content-Type: application/json", f"Content-Length: {len(body)}"]
        requests.append(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    return requests


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; returns (status, server wants the connection closed)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = None
    chunked = False
    close = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif name == "connection" and value.strip().lower() == "close":
            close = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length is not None:
        await reader.readexactly(length)
    else:
        await reader.read()  # body until close
        close = True
    return status, close


class Run:
    def __init__(self, *, requests: list[bytes], warmup: float, duration: float, max_requests: int) -> None:
        self.requests = requests
        self.max_requests = max_requests
        self.issued = 0
        self.started = time.monotonic()
        self.window_start = self.started + warmup
        self.window_end = self.window_start + duration
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.errors: dict[str, int] = {}
        self.last_completion = self.window_start
        self.reconnects = 0

    def next_request(self) -> bytes | None:
        if self.issued >= self.max_requests or time.monotonic() >= self.window_end:
            return None
        request = self.requests[self.issued % len(self.requests)]
        self.issued += 1
        return request

    def record(self, sent_at: float, done_at: float, status: int | None, error: str | None = None) -> None:
        if not (self.window_start <= done_at < self.window_end):
            return
        self.last_completion = max(self.last_completion, done_at)
        if error is not None:
            self.errors[error] = self.errors.get(error, 0) + 1
            return
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.latencies.append(done_at - sent_at)


async def connection_loop(run: Run, host: str, port: int) -> None:
    reader = writer = None
    while True:
        request = run.next_request()
        if request is None:
            break
        sent_at = time.monotonic()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
                run.reconnects += 1
            writer.write(request)
            status, close = await read_response(reader)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            run.record(sent_at, time.monotonic(), None, error=type(exc).__name__)
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.01)
            continue
        run.record(sent_at, time.monotonic(), status)
        if close:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def main_async(args: argparse.Namespace) -> dict:
    url = urlsplit(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    path = url.path + (f"?{url.query}" if url.query else "")
    bodies: list[bytes] = []
    if args.bodies:
        with open(args.bodies, "rb") as handle:
            bodies = [line.strip() for line in handle if line.strip()]
    requests = build_requests(method=args.method, host=host, port=port, path=path, headers=args.header, bodies=bodies)
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    run = Run(requests=requests, warmup=args.warmup, duration=args.duration, max_requests=args.max_requests)
    await asyncio.gather(*(connection_loop(run, host, port) for _ in range(args.concurrency)))
    finished = time.monotonic()
    usage_after = resource.getrusage(resource.RUSAGE_SELF)
    # The window is cut short only when --max-requests ran out first.
    window = args.duration
    if run.issued >= args.max_requests:
        window = max(min(run.last_completion, run.window_end) - run.window_start, 1e-9)
    ok = sum(count for status, count in run.statuses.items() if 200 <= status < 300)
    cpu = (usage_after.ru_utime - usage_before.ru_utime) + (usage_after.ru_stime - usage_before.ru_stime)
    return {
        "concurrency": args.concurrency,
        "window_seconds": round(window, 3),
        "issued": run.issued,
        "completed_in_window": len(run.latencies),
        "ok_in_window": ok,
        "statuses": {str(status): count for status, count in sorted(run.statuses.items())},
        "errors": run.errors,
        "connections_opened": run.reconnects,
        "ok_per_second": round(ok / window, 1) if window > 0 else 0.0,
        "latency": latency_summary(run.latencies),
        "client_cpu_percent_of_one_core": round(100 * cpu / (finished - run.started), 1),
        "hit_max_requests": run.issued >= args.max_requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--header", action="append", default=[], help='"Name: value", repeatable')
    parser.add_argument("--bodies", help="file of JSON bodies, one a line, sent in rotation")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--max-requests", type=int, default=200_000)
    args = parser.parse_args()
    json.dump(asyncio.run(main_async(args)), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
