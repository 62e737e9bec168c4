"""SoftAfrik push benchmark: to-user accept against its floor, broadcasts against their ceilings, inbox latency.

    .venv/bin/python bench/push_bench.py --devices 2000 --inbox-rows 20000 --duration 3   # smoke, ~65 s
    .venv/bin/python bench/push_bench.py                                    # full: 100,000 devices (also `make bench`)
    .venv/bin/python bench/push_bench.py --devices 1000000 --parts broadcast --skip old-transport   # a million devices
    .venv/bin/python bench/push_bench.py --parts inbox --inbox-rows 1000000,10000000   # inbox at 1M then 10M rows

(A smoke run, --devices under 10,000, also waits less for a quiet machine, drains 100
to-user messages instead of 2,000 and times 1,000 inbox requests instead of 2,000.
``--db-name``, ``--redis-url``, ``--output`` and ``--run-dir`` keep two runs apart.)

The platform runs as in production, on a PostgreSQL database created fresh for the run
(``--db-name``, dropped at the end unless ``--keep-db``): gunicorn serving
``bench.settings`` (the platform's settings and URLs plus the floor view), Redis as
broker, ``celery -A softafrik worker`` processes (``bench.counted_settings``: the same
plus a per-process count of SQL statements and tasks, ``bench/sqlcount.py``), the fake
FCM (``bench/fake_fcm_tokens.py``: ``fakes.fcm`` with ``--lean``, counting each token
once) and the fake APNs (``bench/fake_apns_server.py``) each in a process of its own.
The tenant, its key, the apps and the users who receive to-user pushes are made by the
services; bulk rows (broadcast devices, the inbox table) are loaded with COPY.
The measurements (``--parts``; ``bench/push_parts.py`` and ``bench/push_broadcast.py``):

1. ``accept``: ``POST /api/push/to-user`` accepted per second and p50/p99 latency under a
   concurrent keep-alive client (``bench/loadgen.py``, in its own process; ``--client
   wrk`` to use wrk), then the same client, bodies and concurrency against the floor view
   ``/bench/floor/to-user`` (``bench/floor.py``: the view's authentication and
   validation, 202 without the database) on the same gunicorn: the ratio, and the CPU
   per request of each process group for both. No worker runs; the queue is purged after.
   ``drain``: a worker of the first ``--pools`` entry delivers ``--drain`` of them.
2. ``broadcast``: ``POST /api/push/broadcast`` to ``--devices`` Android devices, timed from
   the POST until every Delivery row is ``sent``, through a worker of the first pool with
   ``FCM_TRANSPORT=aiohttp``, then with ``FCM_TRANSPORT=firebase-admin`` at
   ``--compare-devices`` (``--skip old-transport`` leaves that out); the other pools with
   aiohttp at ``--compare-devices``. Ceilings with the same lanes (prefork -c N: N
   processes; threads -c N: one process, N batches in flight) against the same fake:
   the lean client (``bench/fcm_ceiling.py --client aiohttp``: bare aiohttp, the
   provider's bodies, 100 connections a process) at the same size, and firebase-admin's
   ``send_each`` at ``--compare-devices``. Targets: aiohttp / firebase-admin >= 5x,
   platform / lean ceiling >= 60%.
3. ``ios``: the same broadcast to ``--ios-devices`` iOS devices against the fake APNs
   (``APNS_TRANSPORT=h2``, the default), then with ``APNS_TRANSPORT=httpx`` (the client
   before; ``--apns-compare-transport``) at ``--compare-devices``: target >= 3x.
   Every broadcast reports: the CPU ms per delivery of each process group (worker,
   PostgreSQL, the fake by its own counter, gunicorn, Redis); the Celery tasks and the SQL
   statements it took (workers' own count; PostgreSQL's transactions for the database
   from every client); the peak RSS (VmHWM) of each worker process, and RSS sampled over
   the run; and exactly once: every active device has one delivery, sent in one
   attempt, and the fake saw each token once and none again.
4. ``inbox``: ``GET /api/push/inbox`` for one user with ~100 entries when the inbox table
   holds each of ``--inbox-rows`` (a comma list: each size loaded on top of the last),
   from one sequential keep-alive client; and its cursor pages. Targets: p99 <= 10 ms,
   and p99 at the largest size within 20% of the smallest.

Before each measurement it waits (``--wait-quiet`` seconds in all) for processes outside
the bench to stop using the CPU, and reports how many cores they used meanwhile: on a
2-core machine a concurrent test run halves every figure. Prints the machine, a table
with targets and PASS/MISS, the per-broadcast checks, and writes it all to
``bench/results/push.json``. Every process it starts is stopped on exit, on Ctrl-C and
on error.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from bench.fcm_ceiling import fake_fcm_token
from bench.harness import (
    ROOT,
    bench_platform,
    exit_on_sigterm,
    free_port,
    python,
    results_write,
    wait_until,
)
from bench.push_broadcast import bench_broadcast, bench_ios
from bench.push_common import QUEUE, WEB_SETTINGS, Bench, FakeApns, FakeFcm, log
from bench.push_parts import bench_accept, bench_drain, bench_inbox, to_user_backlog_trim
from bench.push_report import report

RESULTS = ROOT / "bench" / "results"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    size = parser.add_argument_group("sizes")
    size.add_argument("--devices", type=int, default=100_000, help="Android devices the broadcast goes to")
    size.add_argument(
        "--compare-devices",
        type=int,
        default=20_000,
        help="broadcast size with FCM_TRANSPORT=firebase-admin, for the pools after the first and the iOS comparison",
    )
    size.add_argument(
        "--ios-devices", type=int, help="iOS devices the iOS broadcast goes to (--devices, at most 100,000)"
    )
    size.add_argument(
        "--inbox-rows",
        default="1000000",
        help="rows in the inbox table; a comma list (1000000,10000000) measures at each size, loading on top",
    )
    size.add_argument("--inbox-per-user", type=int, default=100, help="inbox entries per user (rows dealt evenly)")
    size.add_argument("--duration", type=float, default=10.0, help="seconds measured for to-user acceptance")
    size.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    size.add_argument("--concurrency", type=int, default=16, help="client connections for to-user")
    size.add_argument("--max-requests", type=int, default=200_000, help="cap on to-user requests")
    size.add_argument("--users", type=int, default=300, help="users (one device each) registered through the services")
    size.add_argument("--drain", type=int, help="accepted to-user messages the workers then deliver (2000)")
    size.add_argument("--inbox-requests", type=int, help="timed inbox requests, after 10%% more as warm-up (2000)")
    size.add_argument("--cursor-rounds", type=int, help="times the user's whole inbox is paged through (100)")
    setup = parser.add_argument_group("set-up")
    # One gunicorn process per core: a request is CPU-bound Python, so a third process only
    # adds switching; 4 threads each overlap their DB/Redis round trips and keep connections
    # alive (sync workers close every connection). See docs/benchmarks.md for the numbers.
    setup.add_argument("--gunicorn-workers", type=int, default=2, help="gunicorn processes (2: one per core)")
    setup.add_argument("--gunicorn-class", default="gthread", choices=["gthread", "sync"])
    setup.add_argument("--gunicorn-threads", type=int, default=4, help="threads per gthread worker (4)")
    setup.add_argument(
        "--pools", default="prefork:2,threads:2", help="worker pools, pool:concurrency,... (first at full size)"
    )
    setup.add_argument("--client", default="python", choices=["python", "wrk"], help="to-user load generator")
    setup.add_argument("--parts", default="accept,drain,broadcast,ios,inbox", help="which measurements to run")
    setup.add_argument(
        "--skip", default="", help="old-transport: no FCM_TRANSPORT=firebase-admin broadcast nor send_each ceiling"
    )
    setup.add_argument(
        "--apns-compare-transport",
        default="httpx",
        help="the iOS broadcast again with APNS_TRANSPORT set to this (httpx: the client before h2), at"
        " --compare-devices; '' leaves it out",
    )
    setup.add_argument("--fake-full", action="store_true", help="the fake FCM checks every body (default: --lean)")
    setup.add_argument("--wait-quiet", type=float, help="seconds in all to wait for other CPU users to stop (120)")
    setup.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432", help="server, without database")
    setup.add_argument("--db-name", default="softafrik_bench", help="dropped and created for the run")
    setup.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    setup.add_argument("--keep-db", action="store_true", help="leave the bench database after the run")
    setup.add_argument("--output", type=Path, default=RESULTS / "push.json")
    setup.add_argument("--run-dir", type=Path, default=RESULTS / "run", help="logs of the run (emptied first)")
    args = parser.parse_args()
    # A smoke run (--devices under 10,000) keeps under a minute: less waiting, fewer inbox requests.
    smoke = args.devices < 10_000
    defaults = {
        "wait_quiet": (120.0, 5.0),
        "inbox_requests": (2000, 1000),
        "cursor_rounds": (100, 50),
        "drain": (2000, 100),
    }
    for name, (full, small) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, small if smoke else full)
    args.parts = set(args.parts.split(","))
    args.skip = set(filter(None, args.skip.split(",")))
    args.inbox_rows = [int(size) for size in str(args.inbox_rows).split(",")]
    if args.ios_devices is None:
        args.ios_devices = min(args.devices, 100_000)
    args.pools = [(pool, int(n)) for pool, n in (item.split(":") for item in args.pools.split(","))]
    return args


# --- Set-up -------------------------------------------------------------------------------


def seed_platform(bench: Bench, *, users: int) -> None:
    """A tenant with its API key, an app and ``users`` users with one Android device each,
    made by the services the API itself calls."""
    from accounts.services import tenant_create
    from devices.services import app_create, device_register, end_user_register

    tenant, issued = tenant_create(name="Bench Bank", default_region="TG")
    app = app_create(tenant=tenant, name="bench-app", fcm_service_account=bench.fake.account)
    for index in range(users):
        user, _ = end_user_register(tenant=tenant, external_user_ref=f"customer-{index}", meta={"tier": "gold"})
        token = fake_fcm_token("user", index)
        device_register(tenant=tenant, end_user=user, app=app, platform="android", device_token=token, country="TG")
        bench.puids.append(user.puid)
    bench.tenant, bench.key = tenant, issued.plaintext


def gunicorn_start(bench: Bench) -> str:
    args = bench.args
    bench.port = free_port()
    command = [
        python(), "-m", "gunicorn", "softafrik.wsgi:application",
        "--bind", f"127.0.0.1:{bench.port}",
        "--workers", str(args.gunicorn_workers),
        "--worker-class", args.gunicorn_class,
        "--threads", str(args.gunicorn_threads),
        "--keep-alive", "30",
        "--log-level", "warning",
    ]  # fmt: skip
    # bench.settings: the platform's, serving the floor view as well (bench.urls).
    env = {**bench.env, "DJANGO_SETTINGS_MODULE": WEB_SETTINGS}
    bench.procs.start("gunicorn", command, env=env, log=bench.run_dir / "gunicorn.log")
    probe = f"/api/push/inbox?puid={bench.puids[0]}"

    def ready() -> bool:
        http = bench.http()
        try:
            return http.request("GET", probe)[0] == 200
        except OSError:
            return False
        finally:
            http.close()

    wait_until(ready, timeout=60, interval=0.2, what="gunicorn to answer")
    # Workers import the app lazily and threads open their DB connections on first use.
    for _ in range(4 * args.gunicorn_workers * args.gunicorn_threads):
        http = bench.http()
        http.request("GET", probe)
        http.close()
    threads = f" --threads {args.gunicorn_threads}" if args.gunicorn_class == "gthread" else ""
    return f"gunicorn -w {args.gunicorn_workers} -k {args.gunicorn_class}{threads}"


def main() -> None:
    args = parse_args()
    exit_on_sigterm()
    run_dir = args.run_dir
    started = time.monotonic()
    with bench_platform(args, run_dir=run_dir, queue=QUEUE, settings=WEB_SETTINGS) as (procs, env, machine):
        fake = FakeFcm(procs, env, run_dir, lean=not args.fake_full)
        bench = Bench(args=args, procs=procs, env=env, run_dir=run_dir, fake=fake)
        if "ios" in args.parts:
            bench.apns = FakeApns(procs, env, run_dir, lean=not args.fake_full)
            log(f"fake APNs on {bench.apns.url}")
        bench.quiet_budget = args.wait_quiet
        log(f"fake FCM on {bench.fake.url}; registering {args.users} users with a device each through the services")
        seed_platform(bench, users=args.users)
        gunicorn = gunicorn_start(bench)
        log(f"{gunicorn} on 127.0.0.1:{bench.port}")
        results: dict = {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine,
            "setup": {
                "command": " ".join([".venv/bin/python", "bench/push_bench.py", *sys.argv[1:]]),
                "gunicorn": gunicorn,
                "client": args.client,
                "concurrency": args.concurrency,
                "pools": [f"{pool}:{n}" for pool, n in args.pools],
                "fake_lean": fake.lean,
            },
        }
        if "accept" in args.parts:
            results["accept"] = accept = bench_accept(bench, floor=True)
            log(f"to-user: {accept.get('ok_per_second')}/s accepted, latency {accept['latency']}")
        if "drain" in args.parts:
            results["drain"] = bench_drain(bench)
        to_user_backlog_trim(keep=0)  # whatever part 1 accepted is not the broadcast's business
        if "broadcast" in args.parts:
            results["broadcast"] = bench_broadcast(bench)
        if "ios" in args.parts:
            results["ios"] = bench_ios(bench)
        if "inbox" in args.parts:
            results["inbox"] = bench_inbox(bench)
        results_write(args, results, report, started=started, run_dir=run_dir)


if __name__ == "__main__":
    main()
