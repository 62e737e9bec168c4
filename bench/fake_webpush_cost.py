"""CPU per request of the fake Web Push service, old and new, measured in one run with the same client.

    python bench/fake_webpush_cost.py [--requests 20000] [--subscriptions 1000] [--variants ...]

Each variant runs the fake in a process of its own: ``threads`` is the fake as it was
before the asyncio server (``fakes/webpush.py`` at ``--old-ref``: a thread per connection
on ``http.server``, every VAPID JWT verified, every body decrypted); ``asyncio`` and
``asyncio-lean`` are ``bench/fake_webpush_server.py`` without and with ``--lean`` (record=False
both). The fake subscribes ``--subscriptions`` browsers; the client is the platform's
own: ``WebPushProvider`` builds one encrypted, VAPID-signed request per subscription up
front (its ``_prepare``: the bytes it sends in production), and its ``WebPushTransport``
(aiohttp on the shared loop, 64 keep-alive connections) sends them round-robin in chunks
of 500 until ``--requests`` after a warm-up chunk. Re-sending a body costs the fake the
same as a fresh one (it decrypts every push; the lean fake decrypts none). The fake's
process CPU is read from ``/proc`` before and after. Prints one line per variant and the
ratio to the first, then one JSON line with everything.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import ROOT, module_at, process_cpu_seconds, python
from bench.push_common import cpu_probe_ms

VARIANTS = ("threads", "asyncio", "asyncio-lean")
OLD_REF = "0d1c5ad"  # the last commit of fakes/webpush.py on http.server's threads
CHUNK = 500  # FANOUT_CHUNK: what the platform hands the provider at once
WARMUP_REQUESTS = CHUNK


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, from {', '.join(VARIANTS)}")
    parser.add_argument("--old-ref", default=OLD_REF, help="git revision of fakes/webpush.py for the threads variant")
    parser.add_argument("--serve-threads", action="store_true", help=argparse.SUPPRESS)  # child mode
    parser.add_argument("--subscriptions-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}")
    return args


# --- The fakes being measured (child processes) -------------------------------------------


def serve_threads(args: argparse.Namespace) -> None:
    """The old fake: subscribe, write the file, print {"url"}, stop at end of input."""
    module = module_at(
        args.old_ref, "fakes/webpush.py", name="fake_webpush_threads", directory=args.subscriptions_file.parent
    )
    with module.FakeWebPushServer() as fake:
        subscriptions = [fake.new_subscription() for _ in range(args.subscriptions)]
        args.subscriptions_file.write_text(json.dumps(subscriptions))
        print(json.dumps({"url": fake.url}), flush=True)
        sys.stdin.read()


def start_fake(variant: str, args: argparse.Namespace, subscriptions_file: Path) -> subprocess.Popen:
    if variant == "threads":
        command = [python(), __file__, "--serve-threads", "--old-ref", args.old_ref]
    else:
        command = [python(), "bench/fake_webpush_server.py", "--subscriptions", str(args.subscriptions)]
        if variant.endswith("-lean"):
            command.append("--lean")
    command += ["--subscriptions-file", str(subscriptions_file)]
    return subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


# --- The client: the platform's provider and transport -------------------------------------


def prepared_requests(subscriptions: list[dict]) -> list:
    """One ``PushRequest`` per subscription, encrypted and signed as the platform sends them."""
    from notifications.push.providers.base import PushMessage, PushTarget
    from notifications.push.providers.webpush import (
        CONTENT_ENCODING,
        URGENCY,
        WebPushProvider,
        collapse_id_to_topic,
        generate_vapid_keypair,
        push_payload,
    )

    message = PushMessage(
        title="Flash sale",
        body="Everything half price until midnight",
        data={"campaign": "bench", "sa_message_id": "00000000-0000-4000-8000-000000000000"},
        ttl=4 * 7 * 86400,
        collapse_id="00000000-0000-4000-8000-000000000000",
    )
    # What WebPushProvider.send builds before it hands each target to _prepare.
    payload = json.dumps(push_payload(message), ensure_ascii=False, separators=(",", ":")).encode()
    headers = {"TTL": str(message.ttl), "Urgency": URGENCY, "Content-Encoding": CONTENT_ENCODING}
    headers["Topic"] = collapse_id_to_topic(message.collapse_id)
    provider = WebPushProvider(vapid_private_key=generate_vapid_keypair()[0], allow_http=True)
    try:
        return [
            provider._prepare(PushTarget(index, json.dumps(subscription)), payload, headers)
            for index, subscription in enumerate(subscriptions)
        ]
    finally:
        provider.close()


def send_round_robin(transport, requests: list, first: int, count: int) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    for start in range(first, first + count, CHUNK):
        chunk = [requests[index % len(requests)] for index in range(start, min(start + CHUNK, first + count))]
        for result in transport.send(chunk):
            outcomes[result.outcome.value] = outcomes.get(result.outcome.value, 0) + 1
    return outcomes


def fake_stats(url: str) -> dict:
    """``GET /_stats``, or {} from a fake without it (the old one answers 405)."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/_stats", timeout=5) as response:
            return json.loads(response.read())
    except OSError:
        return {}


def measure(variant: str, args: argparse.Namespace) -> dict:
    from notifications.push.providers.webpush_aiohttp import WebPushTransport

    with tempfile.TemporaryDirectory(prefix="fake-webpush-cost-") as tmp:
        subscriptions_file = Path(tmp) / "subscriptions.json"
        proc = start_fake(variant, args, subscriptions_file)
        transport = WebPushTransport(timeout=10.0)
        try:
            url = json.loads(proc.stdout.readline())["url"]
            requests = prepared_requests(json.loads(subscriptions_file.read_text()))
            send_round_robin(transport, requests, 0, WARMUP_REQUESTS)
            stats_before = fake_stats(url)
            cpu_before = process_cpu_seconds(proc.pid)
            client_before = time.process_time()
            started = time.perf_counter()
            outcomes = send_round_robin(transport, requests, WARMUP_REQUESTS, args.requests)
            seconds = time.perf_counter() - started
            cpu = process_cpu_seconds(proc.pid) - cpu_before
            client_cpu = time.process_time() - client_before
            stats_after = fake_stats(url)
        finally:
            transport.close()
            with contextlib.suppress(OSError):
                proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    result = {
        "variant": variant,
        "requests": args.requests,
        "outcomes": outcomes,
        "seconds": round(seconds, 2),
        "per_second": round(args.requests / seconds),
        "fake_cpu_seconds": round(cpu, 2),
        "fake_cpu_us_per_request": round(cpu / args.requests * 1e6, 1),
        "client_cpu_us_per_request": round(client_cpu / args.requests * 1e6, 1),
    }
    if stats_before and stats_after:  # the fake's own figures, read from GET /_stats
        served = stats_after["push_requests"] - stats_before["push_requests"]
        own_cpu = stats_after["cpu_seconds"] - stats_before["cpu_seconds"]
        result["fake_reported"] = {
            "push_requests": served,
            "cpu_us_per_request": round(own_cpu / served * 1e6, 1),
            "vapid_verifications": stats_after["vapid_verifications"] - stats_before["vapid_verifications"],
            "decryptions": stats_after["decryptions"] - stats_before["decryptions"],
            "connections": stats_after["connections"],
        }
    return result


def main() -> None:
    args = arguments()
    if args.serve_threads:
        serve_threads(args)
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "softafrik.settings")
    probe_before = cpu_probe_ms()
    results = []
    for variant in args.variants:
        result = measure(variant, args)
        results.append(result)
        reference = results[0]["fake_cpu_us_per_request"]
        print(
            f"{variant:>12}: {result['requests']:,} pushes in {result['seconds']:.1f} s ({result['per_second']:,}/s),"
            f" fake CPU {result['fake_cpu_us_per_request']:.1f} us/request"
            f" ({result['fake_cpu_us_per_request'] / reference:.2f}x {results[0]['variant']}),"
            f" client {result['client_cpu_us_per_request']:.1f} us/request, outcomes {result['outcomes']}",
            flush=True,
        )
    print(json.dumps({"cpu_probe_ms": [probe_before, cpu_probe_ms()], "load": os.getloadavg(), "results": results}))


if __name__ == "__main__":
    main()
