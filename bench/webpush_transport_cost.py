"""Client CPU per Web Push message: the encryption alone against each transport, in one run.

    python bench/webpush_transport_cost.py [--messages 3000] [--baseline-rev 287ed08] [--variants ...]

The fake push service (``fakes.webpush.FakeWebPushServer``: VAPID JWTs verified with
PyJWT, every body decrypted) runs in a process of its own and makes the subscriptions
(it holds their private keys), so its CPU is not the client's; its CPU per request is
reported for every variant. Each variant runs in a process of its own, sends one
chunk of ``CHUNK`` as a warm-up (connections, the VAPID JWT), then ``--messages``
messages shaped as the platform's in chunks of ``CHUNK``, its CPU read with getrusage
around the timed part (every thread of the process: the thread pool's, the event loop's):

* ``crypto``: what no transport can avoid, per message: the subscription parsed and
  checked, then the aes128gcm encryption (a fresh ECDH key, HKDF, AES-GCM), as the
  adapter does it; and one VAPID ES256 signature, priced separately (the adapter
  signs once per push service origin and reuses the JWT for 11 hours);
* ``requests``: ``WebPushProvider.send`` as it was at ``--baseline-rev`` (requests and
  32 threads, pywebpush's ``WebPusher`` for the encryption), loaded from git;
* ``aiohttp``: ``WebPushProvider.send`` as it is now (aiohttp on the shared event
  loop, one keep-alive connector per origin, encryption in the calling thread);
* ``aiohttp-encrypt-on-loop``: the same transport with each message encrypted by its
  coroutine on the loop instead: the alternative, to show which costs less;
* ``requests-lean-service``, ``aiohttp-lean-service``: ``requests`` and ``aiohttp`` sending
  the same encrypted pushes to a lean service instead (``fakes.http1``'s asyncio server
  answering 201 and a Location to every POST, no VAPID check, no decryption, in a process
  of its own): what each transport costs when the service answers at once, so the figures
  above can be told apart from the fake's own slowness.

Prints one line per variant, the transport's share of each total (the CPU per message
above ``crypto``'s encryption), the CPU probe before and after, then one JSON line.
Compare figures within one run: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from bench.harness import cpu_probe_ms, module_at, own_cpu_seconds

VARIANTS = ("crypto", "requests", "aiohttp", "aiohttp-encrypt-on-loop", "requests-lean-service", "aiohttp-lean-service")
# Variants sending to the lean service instead of the fake.
LEAN = "-lean-service"
CHUNK = 500  # FANOUT_CHUNK: the targets the platform hands a provider at once
# The last commit whose adapter sent through requests and a thread pool.
BASELINE_REV = "287ed08"
BASELINE_PATH = "notifications/push/providers/webpush.py"


# --- the fake push service (a child process) -------------------------------------------


def serve(subscriptions_file: Path, count: int) -> None:
    """Serve the fake; write ``count`` subscriptions; answer ``stats`` lines until stdin ends."""
    from fakes.webpush import FakeWebPushServer

    with FakeWebPushServer() as server:
        subscriptions_file.write_text(json.dumps([server.new_subscription() for _ in range(count)]))
        print(json.dumps({"url": server.url}), flush=True)
        for line in sys.stdin:
            if line.strip() == "stats":
                stats = {
                    "requests": server.request_count,
                    "accepted": len(server.received),
                    "connections": server.connection_count,
                    "cpu_seconds": own_cpu_seconds(),
                }
                print(json.dumps(stats), flush=True)
            elif line.strip() == "quit":
                break


def serve_lean() -> None:
    """A service answering 201 to every POST at once; ``stats`` lines as ``serve``'s."""
    from fakes.http1 import Http1Server

    async def main() -> None:
        requests = 0

        def handler(request) -> tuple:
            nonlocal requests
            requests += 1
            return 201, "text/plain", {"Location": f"{url}/message/{requests}"}, b""

        server = Http1Server(handler)
        host, port = await server.start()
        url = f"http://{host}:{port}"
        print(json.dumps({"url": url}), flush=True)
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            if line.strip() == "stats":
                stats = {
                    "requests": requests,
                    "accepted": requests,
                    "connections": None,
                    "cpu_seconds": own_cpu_seconds(),
                }
                print(json.dumps(stats), flush=True)
            elif line.strip() == "quit":
                break
        await server.close()

    asyncio.run(main())


# --- one variant (a child process) -------------------------------------------------------


def encrypting_on_the_loop(provider_class):
    """``provider_class`` with each target prepared (parsed, encrypted) in its coroutine."""
    from notifications.push.providers import aioloop
    from notifications.push.providers.base import PushResult

    class EncryptOnLoop(provider_class):
        def _send_targets(self, targets, payload, headers):
            async def one(target):
                request = self._prepare(target, payload, headers)
                if isinstance(request, PushResult):
                    return request
                [result] = await self._transport.send_all([request])
                return result

            async def every_target():
                return await asyncio.gather(*(one(target) for target in targets))

            return aioloop.run(every_target(), timeout=self._transport.batch_deadline(len(targets)))

    return EncryptOnLoop


def run_variant(variant: str, subscriptions: list[dict], messages: int, baseline_rev: str, lean_url: str) -> dict:
    from notifications.push.providers.base import Outcome, PushMessage, PushTarget
    from notifications.push.providers.webpush import (
        WebPushProvider,
        encrypt_payload,
        generate_vapid_keypair,
        parse_subscription,
        push_payload,
    )

    message = PushMessage(
        title="Flash sale",
        body="Everything half price until midnight",
        data={"campaign": "bench", "sa_message_id": "00000000-0000-4000-8000-000000000000"},
        ttl=4 * 7 * 86400,
        collapse_id="00000000-0000-4000-8000-000000000000",
    )
    private_key, _ = generate_vapid_keypair()
    if variant.endswith(LEAN):  # the same subscriptions, at the lean service's origin
        subscriptions = [{**sub, "endpoint": lean_url + urlsplit(sub["endpoint"]).path} for sub in subscriptions]
    tokens = [json.dumps(subscription) for subscription in subscriptions]
    warm_up, timed = tokens[:CHUNK], tokens[CHUNK : CHUNK + messages]

    if variant == "crypto":
        payload = json.dumps(push_payload(message), separators=(",", ":")).encode()
        provider = WebPushProvider(vapid_private_key=private_key, allow_http=True)
        started, cpu = time.perf_counter(), own_cpu_seconds()
        for token in timed:
            encrypt_payload(parse_subscription(token, schemes=("http",)), payload)
        encrypt_cpu = own_cpu_seconds() - cpu
        sign_cpu = own_cpu_seconds()
        for index in range(messages):
            provider._vapid.sign(
                {
                    "aud": f"https://push{index}.example",
                    "exp": int(time.time()) + 3600,
                    "sub": "mailto:ops@softafrik.local",
                }
            )
        sign_cpu = own_cpu_seconds() - sign_cpu
        wall = time.perf_counter() - started
        provider.close()
        return {"ok": messages, "failed": 0, "wall": wall, "cpu": encrypt_cpu, "vapid_sign_cpu": sign_cpu}

    if variant == "requests" or variant == "requests" + LEAN:
        provider_class = module_at(
            baseline_rev, BASELINE_PATH, name="webpush_baseline", directory=Path(tempfile.mkdtemp())
        ).WebPushProvider
    elif variant == "aiohttp" or variant == "aiohttp" + LEAN:
        provider_class = WebPushProvider
    else:
        provider_class = encrypting_on_the_loop(WebPushProvider)
    provider = provider_class(vapid_private_key=private_key, allow_http=True)
    counts: dict[str, int] = {}

    def send(chunk: list[str], first_id: int) -> None:
        targets = [PushTarget(first_id + index, token) for index, token in enumerate(chunk)]
        for result in provider.send(message, targets):
            counts[result.outcome] = counts.get(result.outcome, 0) + 1

    send(warm_up, 0)
    counts.clear()
    started, cpu = time.perf_counter(), own_cpu_seconds()
    for start in range(0, messages, CHUNK):
        send(timed[start : start + CHUNK], CHUNK + start)
    wall, cpu = time.perf_counter() - started, own_cpu_seconds() - cpu
    provider.close()
    ok = counts.get(Outcome.SENT, 0)
    return {"ok": ok, "failed": messages - ok, "wall": wall, "cpu": cpu}


# --- the run -------------------------------------------------------------------------------


def fake_stats(fake: subprocess.Popen) -> dict:
    fake.stdin.write("stats\n")
    fake.stdin.flush()
    return json.loads(fake.stdout.readline())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--baseline-rev", default=BASELINE_REV, help="git revision of the requests adapter")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-lean", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--subscriptions-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--lean-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.subscriptions_file, CHUNK + args.messages)
        return
    if args.serve_lean:
        serve_lean()
        return
    if args.child:
        subscriptions = json.loads(args.subscriptions_file.read_text())
        result = run_variant(args.child, subscriptions, args.messages, args.baseline_rev, args.lean_url)
        print(json.dumps(result), flush=True)
        return

    root = Path(__file__).resolve().parent.parent
    script = str(Path(__file__).resolve())
    with tempfile.TemporaryDirectory() as run_dir:
        subscriptions_file = Path(run_dir) / "subscriptions.json"
        fake = subprocess.Popen(
            [sys.executable, script, "--serve", "--subscriptions-file", str(subscriptions_file),
             "--messages", str(args.messages)],
            cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        lean = subprocess.Popen(
            [sys.executable, script, "--serve-lean"], cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        try:
            json.loads(fake.stdout.readline())
            lean_url = json.loads(lean.stdout.readline())["url"]
            results: dict[str, dict] = {"cpu_probe_ms_before": cpu_probe_ms()}
            for variant in args.variants:
                server = lean if variant.endswith(LEAN) else fake
                before = fake_stats(server)
                child = subprocess.run(
                    [sys.executable, script, "--child", variant, "--subscriptions-file", str(subscriptions_file),
                     "--messages", str(args.messages), "--baseline-rev", args.baseline_rev, "--lean-url", lean_url],
                    cwd=root, capture_output=True, text=True,
                )  # fmt: skip
                if child.returncode:
                    raise SystemExit(f"{variant} failed:\n{child.stderr}")
                result = json.loads(child.stdout.strip().splitlines()[-1])
                after = fake_stats(server)
                requests = after["requests"] - before["requests"]
                result.update(
                    messages=args.messages,
                    cpu_ms_per_message=round(result["cpu"] * 1000 / args.messages, 3),
                    messages_per_second=round(args.messages / result["wall"]),
                    fake_requests=requests,
                    fake_connections=after["connections"] - before["connections"] if after["connections"] else None,
                    # over the warm-up and the timed part alike
                    fake_cpu_ms_per_request=(
                        round((after["cpu_seconds"] - before["cpu_seconds"]) * 1000 / requests, 3) if requests else None
                    ),
                )
                results[variant] = result
                if variant == "crypto":
                    sign_ms = result["vapid_sign_cpu"] * 1000 / args.messages
                    result["vapid_sign_ms"] = round(sign_ms, 3)
                    print(
                        f"{'crypto':24} {result['cpu_ms_per_message']:7.3f} ms CPU/message to parse and encrypt; "
                        f"one VAPID signature {sign_ms:.3f} ms (signed once per origin, not per message)"
                    )
                    continue
                print(
                    f"{variant:24} {result['cpu_ms_per_message']:7.3f} ms CPU/message  "
                    f"{result['messages_per_second']:6d} messages/s  ok {result['ok']}  failed {result['failed']}  "
                    f"{'lean service' if server is lean else 'fake'} {result['fake_cpu_ms_per_request']} ms CPU/request"
                    + (f", {result['fake_connections']} connections" if server is fake else "")
                )
            results["cpu_probe_ms_after"] = cpu_probe_ms()
        finally:
            for server in (fake, lean):
                server.stdin.write("quit\n")
                server.stdin.flush()
                server.wait(timeout=30)

    crypto = results.get("crypto", {}).get("cpu_ms_per_message")
    if crypto:
        for variant in VARIANTS[1:]:
            if variant in results:
                total = results[variant]["cpu_ms_per_message"]
                share = (total - crypto) / total
                results[variant]["transport_share"] = round(share, 3)
                print(
                    f"{variant:24} transport {total - crypto:.3f} ms of {total:.3f} ms per message "
                    f"({share:.0%}; encryption {crypto:.3f} ms)"
                )
    for suffix in ("", LEAN):
        if "requests" + suffix in results and "aiohttp" + suffix in results:
            ratio = (
                results["requests" + suffix]["cpu_ms_per_message"] / results["aiohttp" + suffix]["cpu_ms_per_message"]
            )
            print(f"requests{suffix} / aiohttp{suffix} CPU per message: {ratio:.2f}x")
    print(f"CPU probe: {results['cpu_probe_ms_before']} ms before, {results['cpu_probe_ms_after']} ms after")
    print(json.dumps(results))


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "softafrik.settings")
    main()
