"""SoftAfrik push benchmark: API acceptance, broadcast delivery against its ceiling, inbox latency.

    .venv/bin/python bench/push_bench.py                     # full: about 8 minutes on 2 cores
    .venv/bin/python bench/push_bench.py --devices 2000 --inbox-rows 20000 --duration 3   # smoke

The platform runs as in production, on a database created fresh for the run:
gunicorn serving ``softafrik.wsgi``, PostgreSQL, Redis, ``celery -A softafrik worker``
processes, and the fake FCM (``fakes.fcm``) in a process of its own. Three measurements:

1. ``POST /api/push/to-user`` accepted per second, p50/p99 latency, under a concurrent
   keep-alive client (``bench/loadgen.py``, its own process). No worker runs: only
   acceptance is measured; the queued fan-out tasks are purged afterwards.
2. ``POST /api/push/broadcast`` to ``--devices`` Android devices: deliveries per second
   from the POST until every Delivery row is ``sent`` (one COUNT query every 0.5 s), for
   each worker pool in ``--pools``; and the ceiling: firebase-admin ``send_each`` alone
   (``bench/fcm_ceiling.py``) with the same processes x threads, against the same fake.
3. ``GET /api/push/inbox`` p50/p99 for one user with ~100 entries when the inbox table
   holds ``--inbox-rows`` rows, from one sequential keep-alive client; and cursor pages.

Prints the machine, a summary table with targets and PASS/MISS, and writes everything
to ``bench/results/push.json``. Every process it starts is stopped on exit, Ctrl-C or error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402

from bench.fcm_ceiling import fake_fcm_token  # noqa: E402
from bench.harness import ROOT, CpuMeter, Http, Processes, exit_on_sigterm, free_port, machine_description, python, wait_until  # noqa: E402
from bench.loadgen import latency_summary  # noqa: E402

RESULTS = ROOT / "bench" / "results"
QUEUE = "softafrik_bench"  # a queue of its own: no other worker on this Redis picks our tasks
TARGET_RATIO = 0.60  # broadcast deliveries/s as a share of the bare client's
TARGET_INBOX_P99_MS = 10.0
POLL_SECONDS = 0.5
TITLE, BODY = "Flash sale", "Everything half price until midnight"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_argument_group("sizes")
    size.add_argument("--devices", type=int, default=100_000, help="Android devices the broadcast goes to")
    size.add_argument("--inbox-rows", type=int, default=1_000_000, help="rows loaded into the inbox table")
    size.add_argument("--inbox-per-user", type=int, default=100, help="entries per inbox user (rows spread evenly)")
    size.add_argument("--duration", type=float, default=10.0, help="seconds measured for to-user acceptance")
    size.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    size.add_argument("--concurrency", type=int, default=16, help="client connections for to-user")
    size.add_argument("--max-requests", type=int, default=200_000, help="cap on to-user requests")
    size.add_argument("--users", type=int, default=1000, help="users (one device each) registered through the services")
    size.add_argument("--inbox-requests", type=int, default=2000, help="timed inbox requests (after 10%% warm-up)")
    size.add_argument("--cursor-rounds", type=int, default=100, help="times the user's inbox is paged through")
    setup = parser.add_argument_group("set-up")
    setup.add_argument("--gunicorn-workers", type=int, default=3)
    setup.add_argument("--gunicorn-class", default="gthread", choices=["gthread", "sync"])
    setup.add_argument("--gunicorn-threads", type=int, default=4)
    setup.add_argument("--pools", default="prefork:2,threads:2", help="worker pools to compare, pool:concurrency,...")
    setup.add_argument("--client", default="python", choices=["python", "wrk"], help="to-user load generator")
    setup.add_argument("--parts", default="accept,broadcast,inbox", help="which measurements to run")
    setup.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432", help="server, without database")
    setup.add_argument("--db-name", default="softafrik_bench", help="dropped and created for the run")
    setup.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    setup.add_argument("--keep-db", action="store_true", help="leave the bench database after the run")
    setup.add_argument("--output", type=Path, default=RESULTS / "push.json")
    args = parser.parse_args()
    args.parts = set(args.parts.split(","))
    args.pools = [(pool, int(n)) for pool, n in (item.split(":") for item in args.pools.split(","))]
    return args


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# --- Set-up -------------------------------------------------------------------------------


def database_recreate(args: argparse.Namespace) -> str:
    with psycopg.connect(f"{args.pg_url}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.db_name}"')
    return f"{args.pg_url}/{args.db_name}"


def database_drop(args: argparse.Namespace) -> None:
    with psycopg.connect(f"{args.pg_url}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')


def platform_env(args: argparse.Namespace, db_url: str, run_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("CELERY_TASK_ALWAYS_EAGER", "FCM_API_URL", "DEBUG"):
        env.pop(name, None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "softafrik.settings",
            "DATABASE_URL": db_url,
            "REDIS_URL": args.redis_url,
            "CELERY_QUEUE": QUEUE,
            "SECRET_KEY": secrets.token_urlsafe(48),  # shared: credentials are encrypted with it
            "SOFTAFRIK_LOCAL_DIR": str(run_dir / "local"),
            "DEBUG": "0",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class FakeFcm:
    """bench/fake_fcm_server.py as a child; ``stats()`` asks it for its counters."""

    def __init__(self, procs: Processes, env: dict[str, str], run_dir: Path) -> None:
        account_file = run_dir / "fcm-service-account.json"
        self.proc = procs.start(
            "fake FCM",
            [python(), "bench/fake_fcm_server.py", "--account-file", str(account_file)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=(run_dir / "fake-fcm.log").open("ab"),
            text=True,
        )
        hello = json.loads(self.proc.stdout.readline())
        self.url = hello["url"]
        self.account = json.loads(account_file.read_text())
        account_file.unlink()

    def stats(self) -> dict:
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())


def seed_platform(*, users: int, account: dict) -> dict:
    """A tenant, its API key, an app and ``users`` users with one Android device each, all
    made by the services the API uses."""
    from accounts.services import tenant_create
    from devices.services import app_create, device_register, end_user_register

    tenant, issued = tenant_create(name="Bench Bank", default_region="TG")
    app = app_create(tenant=tenant, name="bench-app", fcm_service_account=account)
    puids = []
    for index in range(users):
        user, _ = end_user_register(tenant=tenant, external_user_ref=f"customer-{index}", meta={"tier": "gold"})
        device_register(
            tenant=tenant, end_user=user, app=app, platform="android", device_token=fake_fcm_token("user", index), country="TG"
        )
        puids.append(user.puid)
    return {"tenant": tenant, "key": issued.plaintext, "app": app, "puids": puids}


def gunicorn_start(args: argparse.Namespace, procs: Processes, env: dict[str, str], run_dir: Path, ctx: dict) -> int:
    port = free_port()
    command = [
        python(), "-m", "gunicorn", "softafrik.wsgi:application",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(args.gunicorn_workers),
        "--worker-class", args.gunicorn_class,
        "--threads", str(args.gunicorn_threads),
        "--keep-alive", "30",
        "--log-level", "warning",
    ]  # fmt: skip
    procs.start("gunicorn", command, env=env, log=run_dir / "gunicorn.log")
    http = Http(port, {"X-API-KEY": ctx["key"]})

    def ready() -> bool:
        with contextlib.suppress(OSError):
            return http.request("GET", f"/api/push/inbox?puid={ctx['puids'][0]}")[0] == 200
        http.close()
        return False

    wait_until(ready, timeout=60, interval=0.2, what="gunicorn to answer")
    # Every worker loads the app lazily on its first request; warm them all.
    for _ in range(4 * args.gunicorn_workers * max(1, args.gunicorn_threads)):
        Http(port, {"X-API-KEY": ctx["key"]}).request("GET", f"/api/push/inbox?puid={ctx['puids'][0]}")
    http.close()
    return port


# --- 1. to-user acceptance ----------------------------------------------------------------


def measure_window(meter: CpuMeter, start_after: float, length: float) -> tuple[threading.Thread, dict]:
    """Run ``meter`` over [start_after, start_after + length] seconds from now, in a thread."""
    box: dict = {}

    def run() -> None:
        time.sleep(start_after)
        meter.start()
        time.sleep(length)
        box.update(meter.stop())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def run_wrk(args: argparse.Namespace, port: int, ctx: dict, bodies_file: Path, run_dir: Path) -> dict:
    """The same load with wrk (when installed): a warm-up run, then the measured one."""
    script = run_dir / "to-user.lua"
    script.write_text(
        'local bodies = {}\nfor line in io.lines("' + str(bodies_file) + '") do bodies[#bodies + 1] = line end\n'
        "local i = 0\nwrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
        f'wrk.headers["X-API-KEY"] = "{ctx["key"]}"\n'
        "request = function()\n  i = i % #bodies + 1\n  return wrk.format(nil, nil, nil, bodies[i])\nend\n"
    )
    url = f"http://127.0.0.1:{port}/api/push/to-user"
    base = ["wrk", "-t", "1", "-c", str(args.concurrency), "-s", str(script), "--latency"]
    subprocess.run([*base, "-d", f"{max(1, int(args.warmup))}s", url], capture_output=True, check=True)
    out = subprocess.run([*base, "-d", f"{int(args.duration)}s", url], capture_output=True, text=True, check=True).stdout
    result: dict = {"raw": out, "latency": {}}
    for line in out.splitlines():
        parts = line.split()
        if line.strip().startswith(("50%", "90%", "99%")):
            value = parts[1]
            ms = float(value[:-2]) if value.endswith("ms") else float(value[:-2]) / 1000 if value.endswith("us") else float(value[:-1]) * 1000
            result["latency"][f"p{parts[0][:-1]}_ms"] = ms
        elif line.startswith("Requests/sec:"):
            result["ok_per_second"] = float(parts[1])
        elif "Non-2xx" in line:
            result["non_2xx"] = int(parts[-1])
    if result.get("non_2xx"):
        result["ok_per_second"] = None  # wrk's rate would count refusals as accepted
    return result


def bench_accept(args: argparse.Namespace, procs: Processes, env: dict[str, str], run_dir: Path, port: int, ctx: dict) -> dict:
    import redis
    from django.db import connection

    from notifications.models import Message, MessageKind
    from softafrik.celery import app as celery_app

    bodies_file = run_dir / "to-user.jsonl"
    with bodies_file.open("w") as handle:
        for index, puid in enumerate(ctx["puids"]):
            body = {
                "puid": puid,
                "title": "Your order has shipped",
                "body": f"Parcel TG-{index:06d} left our warehouse and arrives tomorrow.",
                "data": {"order_id": str(index), "url": f"/orders/{index}"},
            }
            handle.write(json.dumps(body) + "\n")
    before = Message.objects.filter(kind=MessageKind.TO_USER).count()
    meter, cpu = CpuMeter(procs.pgids), {}
    log(f"to-user: {args.concurrency} connections, {args.warmup:g} s warm-up + {args.duration:g} s measured ({args.client} client)")
    if args.client == "wrk":
        if shutil.which("wrk") is None:
            raise SystemExit("--client wrk: wrk is not installed (apt-get install wrk), or use --client python")
        window, cpu = measure_window(meter, args.warmup + 1.0, max(0.5, args.duration - 1.0))
        result = run_wrk(args, port, ctx, bodies_file, run_dir)
    else:
        window, cpu = measure_window(meter, args.warmup + 0.5, max(0.5, args.duration - 1.0))
        command = [
            python(), "bench/loadgen.py", "--url", f"http://127.0.0.1:{port}/api/push/to-user", "--method", "POST",
            "--header", f"X-API-KEY: {ctx['key']}", "--bodies", str(bodies_file),
            "--concurrency", str(args.concurrency), "--warmup", str(args.warmup), "--duration", str(args.duration),
            "--max-requests", str(args.max_requests),
        ]  # fmt: skip
        client = procs.start("load generator", command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = client.communicate()
        procs.children.pop(client.pid, None)
        if client.returncode != 0:
            raise RuntimeError(f"loadgen failed: {err.decode()[-2000:]}")
        result = json.loads(out)
    window.join()
    result["cpu_during_window"] = cpu
    connection.close()
    result["messages_written"] = Message.objects.filter(kind=MessageKind.TO_USER).count() - before
    result["tasks_queued"] = redis.Redis.from_url(args.redis_url).llen(QUEUE)
    result["tasks_purged"] = celery_app.control.purge()
    return result


# --- 2. broadcast -------------------------------------------------------------------------


def devices_bulk_load(*, tenant, app, count: int) -> float:
    """COPY ``count`` active Android devices into ``app``; returns seconds taken."""
    from django.db import connection

    from devices.models import Device
    from devices.tokens import token_hash

    started = time.perf_counter()
    now = datetime.now(UTC)
    columns = "tenant_id, app_id, platform, token, token_hash, device_uid, lang, country, is_active, deactivated_reason, created_at, updated_at"
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {Device._meta.db_table} ({columns}) FROM STDIN") as copy:
            for index in range(count):
                token = fake_fcm_token("bcast", index)
                copy.write_row(
                    (tenant.pk, app.pk, "android", token, token_hash(token), f"uid-{index}", "fr", "TG", True, "", now, now)
                )
        cursor.execute(f"ANALYZE {Device._meta.db_table}")
    return time.perf_counter() - started


def worker_start(procs: Processes, env: dict[str, str], run_dir: Path, pool: str, concurrency: int):
    log_path = run_dir / f"worker-{pool}-{concurrency}.log"
    log_path.write_text("")
    command = [
        python(), "-m", "celery", "-A", "softafrik", "worker", "-P", pool, "-c", str(concurrency),
        "-n", f"bench-{pool}@%h", "-l", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    proc = procs.start(f"celery {pool}", command, env=env, log=log_path)
    wait_until(lambda: " ready." in log_path.read_text(errors="replace"), timeout=60, interval=0.2, what="the worker")
    if proc.poll() is not None:
        raise RuntimeError(f"worker exited: {log_path.read_text()[-2000:]}")
    return proc


def broadcast_run(*, port: int, ctx: dict, devices: int, timeout: float) -> dict:
    """POST the broadcast; poll until every delivery is sent. Times are from the POST."""
    from django.db import connection

    http = Http(port, {"X-API-KEY": ctx["key"]})
    started = time.monotonic()
    status, _, data, _ = http.request(
        "POST", "/api/push/broadcast", {"app_name": "bench-broadcast", "title": TITLE, "body": BODY, "data": {"campaign": "bench"}}
    )
    accepted = time.monotonic() - started
    http.close()
    if status != 202:
        raise RuntimeError(f"broadcast refused: {status} {data}")
    message_id = data["id"]
    timeline = []
    rows_done_at = None
    with connection.cursor() as cursor:
        while True:
            time.sleep(POLL_SECONDS)
            cursor.execute(
                "SELECT count(*) FILTER (WHERE status = 'sent'), count(*) FROM notifications_delivery WHERE message_id = %s",
                [message_id],
            )
            sent, rows = cursor.fetchone()
            elapsed = time.monotonic() - started
            timeline.append((round(elapsed, 2), rows, sent))
            if rows_done_at is None and rows >= devices:
                rows_done_at = elapsed
            if sent >= devices or elapsed > timeout:
                break
        cursor.execute("SELECT status, count(*) FROM notifications_delivery WHERE message_id = %s GROUP BY status", [message_id])
        by_status = dict(cursor.fetchall())
    return {
        "message_id": message_id,
        "post_seconds": round(accepted, 4),
        "seconds": round(elapsed, 2),
        "sent": sent,
        "complete": sent >= devices,
        "deliveries_per_second": round(sent / elapsed, 1),
        "all_rows_written_after_seconds": None if rows_done_at is None else round(rows_done_at, 2),
        "by_status": by_status,
        "timeline": timeline,
    }


def ceiling_run(*, procs: Processes, env: dict[str, str], fake: FakeFcm, run_dir: Path, processes: int, threads: int, messages: int) -> dict:
    account_file = run_dir / "ceiling-account.json"
    account_file.write_text(json.dumps(fake.account))
    shares = [messages // processes + (1 if i < messages % processes else 0) for i in range(processes)]
    children = []
    try:
        for index, share in enumerate(shares):
            command = [
                python(), "bench/fcm_ceiling.py", "--url", fake.url, "--account-file", str(account_file),
                "--messages", str(share), "--threads", str(threads), "--token-prefix", f"ceil{index}",
            ]  # fmt: skip
            child = procs.start("ceiling", command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=(run_dir / "ceiling.log").open("ab"), text=True)
            children.append(child)
        for child in children:
            if child.stdout.readline().strip() != "ready":
                raise RuntimeError("a ceiling process failed to start; see bench/results/run/ceiling.log")
        account_file.unlink()
        before = fake.stats()
        meter = CpuMeter(procs.pgids).start()
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        reports = [json.loads(child.stdout.readline()) for child in children]
        cpu = meter.stop()
        after = fake.stats()
    finally:
        for child in children:
            with contextlib.suppress(OSError):
                child.stdin.close()  # end of input: the child exits by itself
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)
            procs.stop(child, grace=5)
        account_file.unlink(missing_ok=True)
    elapsed = max(r["finished"] for r in reports) - min(r["started"] for r in reports)
    ok = sum(r["ok"] for r in reports)
    return {
        "processes": processes,
        "threads": threads,
        "messages": messages,
        "ok": ok,
        "failed": sum(r["failed"] for r in reports),
        "seconds": round(elapsed, 2),
        "messages_per_second": round(ok / elapsed, 1),
        "fake_accepted": _delta(before, after, "accepted"),
        "cpu": cpu,
    }


def _delta(before: dict, after: dict, key: str) -> int | None:
    if before.get(key) is None or after.get(key) is None:
        return None
    return after[key] - before[key]


def bench_broadcast(args, procs: Processes, env: dict[str, str], run_dir: Path, port: int, ctx: dict, fake: FakeFcm) -> dict:
    from django.db import connection

    from devices.services import app_create

    app = app_create(tenant=ctx["tenant"], name="bench-broadcast", fcm_service_account=fake.account)
    load_seconds = devices_bulk_load(tenant=ctx["tenant"], app=app, count=args.devices)
    log(f"broadcast: {args.devices:,} devices loaded with COPY in {load_seconds:.1f} s")
    worker_env = {**env, "FCM_API_URL": fake.url}
    timeout = 60 + args.devices / 200
    runs = []
    for pool, concurrency in args.pools:
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE notifications_delivery")
            cursor.execute("VACUUM ANALYZE notifications_message")
        worker = worker_start(procs, worker_env, run_dir, pool, concurrency)
        log(f"broadcast: worker -P {pool} -c {concurrency} ready; POST /api/push/broadcast")
        before = fake.stats()
        meter = CpuMeter(procs.pgids).start()
        platform = broadcast_run(port=port, ctx=ctx, devices=args.devices, timeout=timeout)
        platform["cpu"] = meter.stop()
        after = fake.stats()
        platform["fake_accepted"] = _delta(before, after, "accepted")
        procs.stop(worker)
        log(
            f"broadcast: {platform['sent']:,} sent in {platform['seconds']} s = {platform['deliveries_per_second']:,.0f}/s"
            f" (rows written after {platform['all_rows_written_after_seconds']} s)"
        )
        processes, threads = (concurrency, 1) if pool == "prefork" else (1, concurrency)
        log(f"ceiling: firebase-admin send_each alone, {processes} process(es) x {threads} thread(s), {args.devices:,} messages")
        ceiling = ceiling_run(procs=procs, env=env, fake=fake, run_dir=run_dir, processes=processes, threads=threads, messages=args.devices)
        log(f"ceiling: {ceiling['ok']:,} sent in {ceiling['seconds']} s = {ceiling['messages_per_second']:,.0f}/s")
        runs.append(
            {
                "pool": pool,
                "concurrency": concurrency,
                "platform": platform,
                "ceiling": ceiling,
                "ratio": round(platform["deliveries_per_second"] / ceiling["messages_per_second"], 3) if platform["complete"] else None,
            }
        )
    return {"devices": args.devices, "device_load_seconds": round(load_seconds, 2), "runs": runs}


# --- 3. inbox -----------------------------------------------------------------------------


def inbox_bulk_load(*, tenant, rows: int, per_user: int) -> dict:
    """COPY ``rows // per_user`` users and ``rows`` inbox entries spread round-robin over them
    (so one user's entries sit on different pages, as after months of sends); ANALYZE."""
    from django.db import connection

    from devices.models import EndUser
    from notifications.models import InboxEntry

    started = time.perf_counter()
    users = max(1, rows // per_user)
    now = datetime.now(UTC)
    with connection.cursor() as cursor:
        with cursor.cursor.copy(
            f"COPY {EndUser._meta.db_table} (tenant_id, puid, external_user_ref, meta, created_at, updated_at) FROM STDIN"
        ) as copy:
            for index in range(users):
                copy.write_row((tenant.pk, f"sa_{tenant.pk}_in{index:06d}", f"inbox-{index}", "{}", now, now))
        cursor.execute(
            f"SELECT id, puid FROM {EndUser._meta.db_table} WHERE tenant_id = %s AND external_user_ref LIKE 'inbox-%%' ORDER BY id",
            [tenant.pk],
        )
        user_rows = cursor.fetchall()
        ids = [row[0] for row in user_rows]
        first = now - timedelta(days=90)
        step = timedelta(days=90) / rows
        columns = "tenant_id, end_user_id, title, body, data, is_read, created_at"
        with cursor.cursor.copy(f"COPY {InboxEntry._meta.db_table} ({columns}) FROM STDIN") as copy:
            chunk = []
            for index in range(rows):
                created = (first + step * index).isoformat()
                chunk.append(
                    f"{tenant.pk}\t{ids[index % users]}\tOrder {index} shipped\t"
                    f"Parcel TG-{index:07d} left our warehouse and arrives tomorrow.\t"
                    f'{{"order_id": "{index}", "url": "/orders/{index}"}}\t{"t" if index % 3 == 0 else "f"}\t{created}\n'
                )
                if len(chunk) == 20_000:
                    copy.write("".join(chunk))
                    chunk = []
            if chunk:
                copy.write("".join(chunk))
        cursor.execute(f"ANALYZE {InboxEntry._meta.db_table}")
        cursor.execute(f"ANALYZE {EndUser._meta.db_table}")
        cursor.execute(f"SELECT count(*), pg_total_relation_size('{InboxEntry._meta.db_table}') FROM {InboxEntry._meta.db_table}")
        total, size = cursor.fetchone()
    target_id, target_puid = user_rows[len(user_rows) // 2]
    return {
        "users": users,
        "rows_loaded": rows,
        "table_rows": total,
        "table_mib": round(size / 2**20, 1),
        "load_seconds": round(time.perf_counter() - started, 2),
        "target_user_id": target_id,
        "target_puid": target_puid,
    }


def bench_inbox(args, port: int, ctx: dict) -> dict:
    from notifications.models import InboxEntry

    loaded = inbox_bulk_load(tenant=ctx["tenant"], rows=args.inbox_rows, per_user=args.inbox_per_user)
    log(f"inbox: {loaded['table_rows']:,} rows ({loaded['table_mib']} MiB) loaded with COPY in {loaded['load_seconds']} s")
    entries = InboxEntry.objects.filter(end_user_id=loaded["target_user_id"]).count()
    plan = (
        InboxEntry.objects.filter(end_user_id=loaded["target_user_id"])
        .order_by("-pk")
        .values("id", "title", "body", "data", "is_read", "created_at")[:21]
        .explain(analyze=True, buffers=True)
    )
    http = Http(port, {"X-API-KEY": ctx["key"]})
    path = f"/api/push/inbox?puid={loaded['target_puid']}"
    status, _, data, _ = http.request("GET", path)
    if status != 200 or not data:
        raise RuntimeError(f"inbox answered {status}: {data}")
    for _ in range(max(10, args.inbox_requests // 10)):
        http.request("GET", path)
    latencies = []
    for _ in range(args.inbox_requests):
        status, _, data, seconds = http.request("GET", path)
        if status != 200:
            raise RuntimeError(f"inbox answered {status}: {data}")
        latencies.append(seconds)
    cursor_latencies, pages = [], 0
    for _ in range(args.cursor_rounds):
        status, headers, data, _ = http.request("GET", path)
        while "x-next-cursor" in headers:
            status, headers, data, seconds = http.request("GET", f"{path}&cursor={headers['x-next-cursor']}")
            if status != 200:
                raise RuntimeError(f"inbox cursor page answered {status}: {data}")
            cursor_latencies.append(seconds)
            pages += 1
    http.close()
    log(f"inbox: {args.inbox_requests} first pages and {pages} cursor pages timed")
    return {
        **loaded,
        "target_user_entries": entries,
        "page_size": len(data) if isinstance(data, list) else None,
        "requests": len(latencies),
        "first_page": latency_summary(latencies),
        "cursor_pages": {"requests": len(cursor_latencies), **latency_summary(cursor_latencies)},
        "query_plan": plan,
    }


# --- Report -------------------------------------------------------------------------------


def verdict(value: float | None, target: float, *, higher_is_better: bool) -> str:
    if value is None:
        return "MISS"
    return "PASS" if (value >= target if higher_is_better else value <= target) else "MISS"


def report(results: dict) -> str:
    machine, setup = results["machine"], results["setup"]
    lines = [
        "",
        "Machine: {cores} cores, {cpu_model}, {ram_gib} GiB RAM, Linux {kernel}".format(**machine),
        "Software: Python {python}, Django {django}, PostgreSQL {postgresql} (shared_buffers {sb}, synchronous_commit {sc}), "
        "Redis {redis}, gunicorn {gunicorn}, Celery {celery}, firebase-admin {firebase_admin}".format(
            sb=machine["postgresql_settings"]["shared_buffers"], sc=machine["postgresql_settings"]["synchronous_commit"], **machine
        ),
        f"Web: {setup['gunicorn']}",
        f"Command: {setup['command']}",
        "",
    ]
    rows = [("measurement", "result", "target", "")]
    accept = results.get("accept")
    if accept:
        lat = accept["latency"]
        rows.append(("to-user accepted/s (c={})".format(args_c(results)), f"{accept['ok_per_second']:,.0f}/s" if accept.get("ok_per_second") else "n/a", "reported", ""))
        rows.append(("to-user latency p50 / p99", f"{lat.get('p50_ms')} / {lat.get('p99_ms')} ms", "reported", ""))
    broadcast = results.get("broadcast")
    if broadcast:
        for run in broadcast["runs"]:
            platform, ceiling = run["platform"], run["ceiling"]
            name = f"{run['pool']} -c {run['concurrency']}"
            rows.append(
                (f"broadcast {broadcast['devices']:,}: platform ({name})", f"{platform['deliveries_per_second']:,.0f}/s in {platform['seconds']} s"
                 + ("" if platform["complete"] else f" INCOMPLETE {platform['sent']:,} sent"), "", "")
            )
            rows.append(
                (f"  ceiling, send_each alone ({ceiling['processes']}p x {ceiling['threads']}t)", f"{ceiling['messages_per_second']:,.0f}/s in {ceiling['seconds']} s", "", "")
            )
            ratio = run["ratio"]
            rows.append(
                ("  platform / ceiling", "n/a" if ratio is None else f"{100 * ratio:.0f}%", f">= {100 * TARGET_RATIO:.0f}%", verdict(ratio, TARGET_RATIO, higher_is_better=True))
            )
    inbox = results.get("inbox")
    if inbox:
        first, cursor = inbox["first_page"], inbox["cursor_pages"]
        label = f"inbox ({inbox['table_rows']:,} rows, user with {inbox['target_user_entries']})"
        rows.append((f"{label} p50", f"{first['p50_ms']} ms", "", ""))
        rows.append((f"{label} p99", f"{first['p99_ms']} ms", f"<= {TARGET_INBOX_P99_MS:g} ms", verdict(first["p99_ms"], TARGET_INBOX_P99_MS, higher_is_better=False)))
        rows.append(("inbox cursor pages p50 / p99", f"{cursor['p50_ms']} / {cursor['p99_ms']} ms", f"p99 <= {TARGET_INBOX_P99_MS:g} ms", verdict(cursor["p99_ms"], TARGET_INBOX_P99_MS, higher_is_better=False)))
    widths = [max(len(str(row[i])) for row in rows) for i in range(4)]
    for index, row in enumerate(rows):
        lines.append("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def args_c(results: dict) -> int:
    return results["setup"]["concurrency"]


def main() -> None:
    args = parse_args()
    exit_on_sigterm()
    run_dir = RESULTS / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    (run_dir / "local").mkdir(parents=True)
    procs = Processes()
    started = time.monotonic()
    db_created = False
    try:
        log(f"database {args.db_name}: drop, create, migrate")
        db_url = database_recreate(args)
        db_created = True
        env = platform_env(args, db_url, run_dir)
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0, interactive=False)
        with connection.cursor() as cursor:
            machine = machine_description(cursor)
        fake = FakeFcm(procs, env, run_dir)
        log(f"fake FCM on {fake.url}; registering {args.users} users with one device each through the services")
        ctx = seed_platform(users=args.users, account=fake.account)
        port = gunicorn_start(args, procs, env, run_dir, ctx)
        gunicorn_desc = (
            f"gunicorn -w {args.gunicorn_workers} -k {args.gunicorn_class}"
            + (f" --threads {args.gunicorn_threads}" if args.gunicorn_class == "gthread" else "")
        )
        log(f"{gunicorn_desc} on 127.0.0.1:{port}")
        results: dict = {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine,
            "setup": {
                "command": " ".join([".venv/bin/python", "bench/push_bench.py", *sys.argv[1:]]),
                "gunicorn": gunicorn_desc,
                "concurrency": args.concurrency,
                "client": args.client,
                "pools": [f"{pool}:{n}" for pool, n in args.pools],
            },
        }
        if "accept" in args.parts:
            results["accept"] = bench_accept(args, procs, env, run_dir, port, ctx)
            log(f"to-user: {results['accept'].get('ok_per_second')}/s, latency {results['accept']['latency']}")
        if "broadcast" in args.parts:
            results["broadcast"] = bench_broadcast(args, procs, env, run_dir, port, ctx, fake)
        if "inbox" in args.parts:
            results["inbox"] = bench_inbox(args, port, ctx)
        results["total_seconds"] = round(time.monotonic() - started, 1)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2, default=str))
        print(report(results))
        print(f"\nTotal {results['total_seconds']} s. Full results: {args.output.relative_to(ROOT)}; logs: bench/results/run/")
    finally:
        procs.stop_all()
        if db_created and not args.keep_db:
            with contextlib.suppress(Exception):
                from django.db import connections

                connections.close_all()
            with contextlib.suppress(Exception):
                database_drop(args)


if __name__ == "__main__":
    main()
