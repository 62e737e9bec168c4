"""CPU per request of the fake APNs, before and after its lean request path, measured in one run.

    python bench/fake_apns_cost.py [--messages 20000] [--variants before,full,lean] [--profile]

Each variant runs the fake in a process of its own: ``before`` is ``fakes/apns.py`` as it
was at ``--old-ref`` (every check, h2's defaults); ``full`` and ``lean`` are
``bench/fake_apns_server.py`` (what the push benchmark runs) without and with ``--lean``.
The client is the platform's own ``ApnsProvider`` in another process (one TLS connection,
up to ``MAX_IN_FLIGHT`` concurrent streams), sending one batch of ``BATCH`` as a warm-up
(TLS handshake, provider token, HPACK tables), then ``--messages`` notifications shaped as
the platform's, a device token of their own each, in batches of ``BATCH``. The fake's
process CPU is read from ``/proc`` around the timed part; its requests from its ``stats``.

Prints one line per variant (fake CPU per request, the client's, notifications/s), the
ratios to the first variant, the CPU probe before and after, then one JSON line.
``--profile`` serves every variant from this script under cProfile (on the fake's event
loop thread) and prints its top functions instead of trusting the timings.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import threading
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import ROOT, cpu_probe_ms, module_at, process_cpu_seconds, python

VARIANTS = ("before", "full", "lean")
OLD_REF = "003850e"  # the last commit of fakes/apns.py before the lean request path
BATCH = 500  # FANOUT_CHUNK: what the platform hands a provider at once
KEY_ID, TEAM_ID, TOPIC = "BENCHKEY01", "BENCHTEAM1", "com.softafrik.bench"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, from {', '.join(VARIANTS)}")
    parser.add_argument("--old-ref", default=OLD_REF, help="git revision of fakes/apns.py for the before variant")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the fake's loop thread; print its top functions"
    )
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)  # child modes
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--credentials-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}")
    return args


def token_for(index: int) -> str:
    return f"{index:064x}"


# --- the fake (a child process) ----------------------------------------------------------


def fake_module(variant: str, ref: str, directory: Path) -> types.ModuleType:
    """``fakes.apns``, or for ``before`` the file as it was at ``ref``, imported from ``directory``."""
    if variant != "before":
        import fakes.apns

        return fakes.apns
    return module_at(ref, "fakes/apns.py", name="fake_apns_before", directory=directory)


def serve(args: argparse.Namespace) -> None:
    """One fake, as bench/fake_apns_server.py runs it: writes the credentials file, prints
    {url, ca_file}, answers ``stats`` on stdin with {accepted, cpu_seconds} (and the
    profile on stderr at the end of input)."""
    module = fake_module(args.serve, args.old_ref, args.credentials_file.parent)
    if args.serve != "before":
        module.silence_hpack_logging()  # as bench/fake_apns_server.py does
    options = {"lean": True} if args.serve == "lean" else {}
    server = module.FakeApnsServer(**options).start()
    key_pem, public_key = module.make_apns_key()
    server.add_key(KEY_ID, TEAM_ID, public_key)
    credentials = {"url": server.url, "ca_file": server.ca_file, "key_pem": key_pem}
    args.credentials_file.write_text(json.dumps({**credentials, "key_id": KEY_ID, "team_id": TEAM_ID, "topic": TOPIC}))
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        server._loop.call_soon_threadsafe(profiler.enable)  # cProfile follows the thread that enables it
    print(json.dumps({"url": server.url, "ca_file": server.ca_file}), flush=True)
    accepted = 0
    for line in sys.stdin:
        if line.strip() == "stats":
            with server._lock:
                accepted += len(server.received)  # counted as bench/fake_apns_server.py does
                server.received.clear()
            print(json.dumps({"accepted": accepted, "cpu_seconds": round(time.process_time(), 4)}), flush=True)
    if profiler is not None:
        done = threading.Event()

        def disable() -> None:
            profiler.disable()
            done.set()

        server._loop.call_soon_threadsafe(disable)
        done.wait(10)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print(f"--- profile of the fake ({args.serve}) ---\n{out.getvalue()}", file=sys.stderr, flush=True)
    server.stop()


def start_fake(variant: str, args: argparse.Namespace, credentials_file: Path) -> subprocess.Popen:
    if variant == "before" or args.profile:
        command = [python(), __file__, "--serve", variant, "--old-ref", args.old_ref]
        command += ["--profile"] if args.profile else []
    else:
        command = [python(), "bench/fake_apns_server.py", *(["--lean"] if variant == "lean" else [])]
    command += ["--credentials-file", str(credentials_file)]
    return subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def fake_stats(fake: subprocess.Popen) -> dict:
    fake.stdin.write("stats\n")
    fake.stdin.flush()
    return json.loads(fake.stdout.readline())


# --- the client (a child process): the platform's ApnsProvider ---------------------------


def run_client(credentials: dict, messages: int) -> dict:
    from notifications.push.providers.apns import ApnsProvider
    from notifications.push.providers.base import Outcome, PushMessage, PushTarget

    message = PushMessage(
        title="Flash sale",
        body="Everything half price until midnight",
        data={"campaign": "bench", "sa_message_id": "00000000-0000-4000-8000-000000000000"},
        ttl=4 * 7 * 86400,
        collapse_id="00000000-0000-4000-8000-000000000000",
    )
    provider = ApnsProvider(
        key_pem=credentials["key_pem"],
        key_id=credentials["key_id"],
        team_id=credentials["team_id"],
        topic=credentials["topic"],
        sandbox=True,
        url=credentials["url"],
        ca_file=credentials["ca_file"],
    )

    def send(batch: range) -> int:
        results = provider.send(message, [PushTarget(index, token_for(index)) for index in batch])
        return sum(1 for result in results if result.outcome is Outcome.SENT)

    send(range(messages, messages + BATCH))  # the warm-up
    print("{}", flush=True)  # the parent reads the fake's CPU now
    sys.stdin.readline()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    started, cpu = time.perf_counter(), usage.ru_utime + usage.ru_stime
    ok = sum(send(range(start, min(start + BATCH, messages))) for start in range(0, messages, BATCH))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    wall, cpu = time.perf_counter() - started, usage.ru_utime + usage.ru_stime - cpu
    provider.close()
    return {"ok": ok, "failed": messages - ok, "wall": wall, "client_cpu": cpu}


# --- the run -----------------------------------------------------------------------------


def measure(variant: str, args: argparse.Namespace, run_dir: Path) -> dict:
    credentials_file = run_dir / f"{variant}-credentials.json"
    fake = start_fake(variant, args, credentials_file)
    try:
        json.loads(fake.stdout.readline())
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "softafrik.settings")}
        client = subprocess.Popen(
            [python(), __file__, "--client", "--credentials-file", str(credentials_file), "--messages", str(args.messages)],
            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        client.stdout.readline()  # warmed up
        before, cpu_before = fake_stats(fake), process_cpu_seconds(fake.pid)
        client.stdin.write("go\n")
        client.stdin.flush()
        result = json.loads(client.stdout.readline())
        cpu_after, after = process_cpu_seconds(fake.pid), fake_stats(fake)
        client.wait(timeout=30)
    finally:
        fake.stdin.close()
        fake.wait(timeout=30)
    requests = after["accepted"] - before["accepted"]
    fake_cpu = cpu_after - cpu_before
    messages = args.messages
    return {
        **result,
        "messages": messages,
        "fake_requests": requests,
        "fake_cpu": round(fake_cpu, 3),
        "fake_cpu_ms_per_request": round(fake_cpu * 1000 / requests, 4) if requests else None,
        "client_cpu_ms_per_message": round(result["client_cpu"] * 1000 / messages, 4),
        "messages_per_second": round(messages / result["wall"]),
    }


def main() -> None:
    args = arguments()
    if args.serve:
        serve(args)
        return
    if args.client:
        credentials = json.loads(args.credentials_file.read_text())
        print(json.dumps(run_client(credentials, args.messages)), flush=True)
        return
    results: dict = {"cpu_probe_ms_before": cpu_probe_ms()}
    with tempfile.TemporaryDirectory() as run_dir:
        for variant in args.variants:
            result = results[variant] = measure(variant, args, Path(run_dir))
            print(
                f"{variant:7} fake {result['fake_cpu_ms_per_request']:.4f} ms CPU/request ({result['fake_requests']})  "
                f"client {result['client_cpu_ms_per_message']:.4f} ms CPU/message  "
                f"{result['messages_per_second']:6d} messages/s  ok {result['ok']}  failed {result['failed']}",
                flush=True,
            )
    results["cpu_probe_ms_after"] = cpu_probe_ms()
    first = args.variants[0]
    for variant in args.variants[1:]:
        ratio = results[first]["fake_cpu_ms_per_request"] / results[variant]["fake_cpu_ms_per_request"]
        results[variant][f"fake_cpu_ratio_to_{first}"] = round(ratio, 2)
        print(f"fake {first} / {variant}: {ratio:.2f}x the CPU per request")
    print(f"cpu probe: {results['cpu_probe_ms_before']} ms before, {results['cpu_probe_ms_after']} ms after")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
