"""CPU per request of the fake FCM's transports, measured in one run with the same client.

    python bench/fake_fcm_cost.py [--requests 100000] [--connections 64] [--variants ...]

Each variant runs the fake in a process of its own, with ``record=False`` as the push
benchmark does: ``threads`` is the fake as it was before the asyncio server (``fakes/fcm.py``
at ``--old-ref``, a thread per connection on ``http.server``); ``asyncio`` and
``asyncio-lean`` are ``bench/fake_fcm_server.py`` without and with ``--lean``;
``aiohttp`` and ``aiohttp-lean`` put the same request handling behind aiohttp's server,
the alternative to ``fakes/http1.py``'s parser. A lean client (aiohttp, ``--connections``
keep-alive connections, one OAuth token fetched up front) sends ``--requests`` valid FCM
v1 messages shaped as firebase-admin encodes the platform's (a token of its own each) after
a warm-up; the fake's process CPU is read from ``/proc`` before and after. Prints one line
per variant and the ratios to the first, then one JSON line with everything.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fcm_ceiling import fake_fcm_token, message_template
from bench.harness import ROOT, module_at, process_cpu_seconds, python
from bench.push_parts import cpu_probe_ms

VARIANTS = ("threads", "asyncio", "asyncio-lean", "aiohttp", "aiohttp-lean")
OLD_REF = "4ebb43e"  # the last commit of fakes/fcm.py on http.server's threads
WARMUP_REQUESTS = 2000
COLLAPSE_ID = "00000000-0000-4000-8000-000000000000"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, from {', '.join(VARIANTS)}")
    parser.add_argument("--old-ref", default=OLD_REF, help="git revision of fakes/fcm.py for the threads variant")
    parser.add_argument("--serve", choices=("threads", "aiohttp"), help=argparse.SUPPRESS)  # child mode
    parser.add_argument("--lean", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--account-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}")
    return args


# --- The fakes being measured (child processes) -------------------------------------------


async def aiohttp_fake(lean: bool):
    """The fake's request handling behind aiohttp's low-level server; returns the fake."""
    from aiohttp import web

    from fakes.fcm import FakeFcmServer
    from fakes.http1 import Request

    fake = FakeFcmServer(record=False, lean=lean)

    async def handle(request: web.BaseRequest) -> web.Response:
        body = await request.read()
        answer = fake._handle(Request(request.method, request.path_qs, "HTTP/1.1", request.headers, body))
        if type(answer) is not tuple:
            answer = await answer
        status, content_type, extra_headers, content = answer
        return web.Response(status=status, body=content, headers={"Content-Type": content_type, **extra_headers})

    server = await asyncio.get_running_loop().create_server(web.Server(handle), "127.0.0.1", 0, backlog=1024)
    host, port = server.sockets[0].getsockname()[:2]
    fake.url = f"http://{host}:{port}"
    return fake


def serve_child(args: argparse.Namespace) -> None:
    """Run one fake; print {"url"} once listening and the account file is written; stop at end of input."""

    def hello(fake) -> None:
        from_module = sys.modules[type(fake).__module__]
        account = from_module.make_service_account(fake, project_id="bench-project")
        args.account_file.write_text(json.dumps(account))
        print(json.dumps({"url": fake.url}), flush=True)

    if args.serve == "threads":
        module = module_at(args.old_ref, "fakes/fcm.py", name="fake_fcm_threads", directory=args.account_file.parent)
        fake = module.FakeFcmServer(record=False).start()
        hello(fake)
        sys.stdin.read()
        fake.stop()
        return

    async def main() -> None:
        fake = await aiohttp_fake(args.lean)
        hello(fake)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(main())


def start_fake(variant: str, args: argparse.Namespace, account_file: Path) -> subprocess.Popen:
    if variant.startswith("asyncio"):
        command = [python(), "bench/fake_fcm_server.py", "--account-file", str(account_file)]
    else:
        command = [python(), __file__, "--serve", variant.split("-")[0], "--old-ref", args.old_ref]
        command += ["--account-file", str(account_file)]
    if variant.endswith("-lean"):
        command.append("--lean")
    return subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


# --- The lean client ---------------------------------------------------------------------


def access_token(account: dict) -> str:
    """A Bearer token from the fake's /token, fetched as firebase-admin does (google-auth)."""
    import google.auth.transport.requests
    from firebase_admin import credentials

    credential = credentials.Certificate(account).get_credential()
    if hasattr(credential, "_is_regional_access_boundary_lookup_required"):
        credential._is_regional_access_boundary_lookup_required = lambda: False  # no Google calls
    credential.refresh(google.auth.transport.requests.Request())
    return credential.token


def body_parts() -> tuple[bytes, bytes]:
    """The request body firebase-admin sends for the platform's push, split around the token."""
    from firebase_admin import messaging

    warnings.filterwarnings("ignore", "Message.token is deprecated", DeprecationWarning)  # FcmProvider sets it too
    message = messaging.Message(
        token="@TOKEN@",
        **message_template(
            title="Flash sale",
            body="Everything half price until midnight",
            data={"campaign": "bench", "sa_message_id": COLLAPSE_ID},
            collapse_id=COLLAPSE_ID,
        ),
    )
    encoded = json.dumps({"message": messaging._MessagingService.encode_message(message)}).encode()
    before, after = encoded.split(b"@TOKEN@")
    return before, after


async def send_all(url: str, token: str, first: int, count: int, connections: int) -> dict[str, int]:
    import aiohttp

    before, after = body_parts()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json; charset=UTF-8"}
    send_url = f"{url}/v1/projects/bench-project/messages:send"
    statuses: dict[str, int] = {}
    indexes = iter(range(first, first + count))
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def sender() -> None:
            for index in indexes:
                data = before + fake_fcm_token("cost", index).encode() + after
                async with session.post(send_url, data=data, headers=headers) as response:
                    await response.read()
                    key = str(response.status)
                    statuses[key] = statuses.get(key, 0) + 1

        await asyncio.gather(*(sender() for _ in range(connections)))
    return statuses


async def fake_stats(url: str) -> dict:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(f"{url}/_stats") as response:
        return await response.json() if response.status == 200 else {}


def measure(variant: str, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="fake-fcm-cost-") as tmp:
        account_file = Path(tmp) / "account.json"
        proc = start_fake(variant, args, account_file)
        try:
            url = json.loads(proc.stdout.readline())["url"]
            token = access_token(json.loads(account_file.read_text()))
            asyncio.run(send_all(url, token, 0, WARMUP_REQUESTS, args.connections))
            stats_before = asyncio.run(fake_stats(url))
            cpu_before = process_cpu_seconds(proc.pid)
            client_before = time.process_time()
            started = time.perf_counter()
            statuses = asyncio.run(send_all(url, token, WARMUP_REQUESTS, args.requests, args.connections))
            seconds = time.perf_counter() - started
            cpu = process_cpu_seconds(proc.pid) - cpu_before
            client_cpu = time.process_time() - client_before
            stats_after = asyncio.run(fake_stats(url))
        finally:
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
        "statuses": statuses,
        "seconds": round(seconds, 2),
        "per_second": round(args.requests / seconds),
        "fake_cpu_seconds": round(cpu, 2),
        "fake_cpu_us_per_request": round(cpu / args.requests * 1e6, 1),
        "client_cpu_us_per_request": round(client_cpu / args.requests * 1e6, 1),
    }
    if stats_before and stats_after:  # the fake's own figures, read from GET /_stats
        served = stats_after["requests"] - stats_before["requests"]
        own_cpu = stats_after["cpu_seconds"] - stats_before["cpu_seconds"]
        result["fake_reported"] = {"requests": served, "cpu_us_per_request": round(own_cpu / served * 1e6, 1)}
    return result


def main() -> None:
    args = arguments()
    if args.serve:
        serve_child(args)
        return
    probe_before = cpu_probe_ms()
    results = []
    for variant in args.variants:
        result = measure(variant, args)
        results.append(result)
        reference = results[0]["fake_cpu_us_per_request"]
        print(
            f"{variant:>13}: {result['requests']:,} requests in {result['seconds']:.1f} s ({result['per_second']:,}/s),"
            f" fake CPU {result['fake_cpu_us_per_request']:.1f} us/request"
            f" ({result['fake_cpu_us_per_request'] / reference:.2f}x {results[0]['variant']}),"
            f" client {result['client_cpu_us_per_request']:.1f} us/request, answers {result['statuses']}",
            flush=True,
        )
    print(json.dumps({"cpu_probe_ms": [probe_before, cpu_probe_ms()], "load": os.getloadavg(), "results": results}))


if __name__ == "__main__":
    main()
