"""The three measurements of ``push_bench.py``: to-user acceptance, broadcast vs. ceiling, inbox.

Each function takes the ``Bench`` (running platform, fake FCM, tenant and key) and returns
a JSON-able dict; ``push_bench.py`` sets the platform up, calls them and prints the table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.fcm_ceiling import fake_fcm_token
from bench.harness import CpuMeter, Http, Processes, python, wait_for_quiet, wait_until
from bench.loadgen import latency_summary

QUEUE = "softafrik_bench"  # a queue of its own: no other worker on this Redis picks our tasks
POLL_SECONDS = 0.5
TITLE, BODY = "Flash sale", "Everything half price until midnight"
BROADCAST_APP = "bench-broadcast"


def cpu_probe_ms() -> float:
    """Milliseconds for a fixed pure-Python loop: how fast this vCPU is right now. On a
    shared VM it varies with neighbours the guest cannot see (about 200 ms here at best)."""
    started = time.perf_counter()
    sum(range(10_000_000))
    return round((time.perf_counter() - started) * 1000, 1)


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


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
        account_file.unlink()  # a throwaway key, but a private key all the same

    def stats(self) -> dict:
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())


@dataclass
class Bench:
    args: argparse.Namespace
    procs: Processes
    env: dict[str, str]
    run_dir: Path
    fake: FakeFcm
    port: int = 0
    key: str = ""
    tenant: object = None
    puids: list[str] = field(default_factory=list)
    quiet_budget: float = 0.0  # seconds left to wait for other work on the machine to stop

    def meter(self) -> CpuMeter:
        return CpuMeter(self.procs.pgids, self.args.db_name)

    def http(self) -> Http:
        return Http(self.port, {"X-API-KEY": self.key})

    def wait_quiet(self, what: str) -> dict:
        """Before a measurement: wait for processes outside the bench to go quiet."""
        if self.quiet_budget <= 0:
            return {"waited_seconds": 0.0, "quiet": None, "cpu_probe_ms": cpu_probe_ms()}
        started = time.monotonic()
        seen = wait_for_quiet(self.meter, limit=self.quiet_budget)
        self.quiet_budget -= time.monotonic() - started
        if not seen["quiet"]:
            cores = seen["last_background_cores"]
            log(f"{what}: --wait-quiet budget used up (other processes lately: {cores} cores); measuring anyway")
        elif seen["waited_seconds"] > 2:
            log(f"{what}: waited {seen['waited_seconds']:.0f} s for other processes to go quiet")
        return {**seen, "cpu_probe_ms": cpu_probe_ms()}


def _delta(before: dict, after: dict, key: str) -> int | None:
    if before.get(key) is None or after.get(key) is None:
        return None
    return after[key] - before[key]


# --- 1. to-user acceptance ----------------------------------------------------------------


def _meter_window(meter: CpuMeter, start_after: float, length: float) -> tuple[threading.Thread, dict]:
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


def _run_wrk(bench: Bench, bodies_file: Path) -> dict:
    """The same load with wrk (if installed): one warm-up run, then the measured one."""
    args = bench.args
    script = bench.run_dir / "to-user.lua"
    script.write_text(
        f'local bodies = {{}}\nfor line in io.lines("{bodies_file}") do bodies[#bodies + 1] = line end\n'
        'local i = 0\nwrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["X-API-KEY"] = "{bench.key}"\n'
        "request = function()\n  i = i % #bodies + 1\n  return wrk.format(nil, nil, nil, bodies[i])\nend\n"
    )
    url = f"http://127.0.0.1:{bench.port}/api/push/to-user"
    base = ["wrk", "-t", "1", "-c", str(args.concurrency), "-s", str(script), "--latency"]
    subprocess.run([*base, "-d", f"{max(1, round(args.warmup))}s", url], capture_output=True, check=True)
    out = subprocess.run(
        [*base, "-d", f"{round(args.duration)}s", url], capture_output=True, text=True, check=True
    ).stdout
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    result: dict = {"wrk_output": out, "latency": {}, "window_seconds": round(args.duration)}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] in ("50%", "90%", "99%"):
            unit = next(u for u in ("us", "ms", "s") if parts[1].endswith(u))
            result["latency"][f"p{parts[0][:-1]}_ms"] = round(float(parts[1][: -len(unit)]) * units[unit], 3)
        elif line.startswith("Requests/sec:"):
            result["ok_per_second"] = float(parts[1])
        elif "Non-2xx" in line:
            result["non_2xx"] = int(parts[-1])
    if result.get("non_2xx"):
        result["ok_per_second"] = None  # wrk's rate would count refusals as accepted
    return result


def bench_accept(bench: Bench) -> dict:
    """Accepted ``POST /api/push/to-user`` per second under a concurrent keep-alive client.

    No worker runs; afterwards the broker queue (the wake-ups) is purged. The accepted
    messages stay queued in the database for ``bench_drain``."""
    import redis
    from django.db import connection

    from notifications.models import Message, MessageKind
    from softafrik.celery import app as celery_app

    args = bench.args
    bodies_file = bench.run_dir / "to-user.jsonl"
    with bodies_file.open("w") as handle:
        for index, puid in enumerate(bench.puids):
            body = {
                "puid": puid,
                "title": "Your order has shipped",
                "body": f"Parcel TG-{index:06d} left our warehouse and arrives tomorrow.",
                "data": {"order_id": str(index), "url": f"/orders/{index}"},
            }
            handle.write(json.dumps(body) + "\n")
    before = Message.objects.filter(kind=MessageKind.TO_USER).count()
    quiet = bench.wait_quiet("to-user")
    log(
        f"to-user: {args.concurrency} connections, {args.warmup:g} s warm-up + {args.duration:g} s measured ({args.client} client)"
    )
    # CPU is metered inside the measured window (a little margin each side).
    window, cpu = _meter_window(bench.meter(), args.warmup + 0.5, max(0.5, args.duration - 1.0))
    if args.client == "wrk":
        if shutil.which("wrk") is None:
            raise SystemExit("--client wrk: wrk is not installed (apt-get install wrk); or use --client python")
        result = _run_wrk(bench, bodies_file)
    else:
        command = [
            python(), "bench/loadgen.py", "--url", f"http://127.0.0.1:{bench.port}/api/push/to-user", "--method", "POST",
            "--header", f"X-API-KEY: {bench.key}", "--bodies", str(bodies_file),
            "--concurrency", str(args.concurrency), "--warmup", str(args.warmup), "--duration", str(args.duration),
            "--max-requests", str(args.max_requests),
        ]  # fmt: skip
        client = bench.procs.start(
            "load generator", command, env=bench.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        out, err = client.communicate()
        bench.procs.children.pop(client.pid, None)
        if client.returncode != 0:
            raise RuntimeError(f"loadgen failed: {err.decode()[-2000:]}")
        result = json.loads(out)
    window.join()
    result["cpu_during_window"] = cpu
    result["quiet_wait"] = quiet
    connection.close()
    result["messages_written"] = Message.objects.filter(kind=MessageKind.TO_USER).count() - before
    result["tasks_queued"] = redis.Redis.from_url(args.redis_url).llen(QUEUE)  # fan-out wake-ups
    result["tasks_purged"] = celery_app.control.purge()
    return result


def to_user_backlog_trim(*, keep: int) -> tuple[list[str], int]:
    """Accepted to-user messages wait in the database ('queued') for a fan-out worker to
    claim them: keep the ``keep`` oldest, mark the rest dispatched (never sent), so later
    workers do not first deliver them. Returns (kept ids, dropped count)."""
    from notifications.models import Message, MessageKind, MessageState

    queued = Message.objects.filter(kind=MessageKind.TO_USER, state=MessageState.QUEUED)
    kept = [str(pk) for pk in queued.order_by("created_at").values_list("pk", flat=True)[:keep]]
    return kept, queued.exclude(pk__in=kept).update(state=MessageState.DISPATCHED)


def bench_drain(bench: Bench) -> dict:
    """To-user delivery: workers (the first of ``--pools``) deliver ``--drain`` of the
    messages part 1 accepted, one device each; timed from the wake-up until every one is
    dispatched and none of their deliveries is pending."""
    from django.db import connection

    from notifications.tasks import messages_fan_out_queued

    pool, concurrency = bench.args.pools[0]
    kept, dropped = to_user_backlog_trim(keep=bench.args.drain)
    worker = _worker_start(bench, pool, concurrency)
    quiet = bench.wait_quiet("to-user delivery")
    log(f"to-user delivery: worker -P {pool} -c {concurrency} delivers {len(kept):,} accepted messages")
    before = bench.fake.stats()
    meter = bench.meter().start()
    started = time.monotonic()
    for _ in range(concurrency):
        messages_fan_out_queued.delay()  # the wake-ups the web would have sent (purged after part 1)
    timeline = []
    with connection.cursor() as cursor:
        while True:
            time.sleep(POLL_SECONDS)
            cursor.execute(
                "SELECT (SELECT count(*) FROM notifications_message WHERE id = ANY(%s::uuid[]) AND state = 'dispatched'),"
                " count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status IN ('pending', 'sending'))"
                " FROM notifications_delivery WHERE message_id = ANY(%s::uuid[])",
                [kept, kept],
            )
            dispatched, sent, waiting = cursor.fetchone()
            elapsed = time.monotonic() - started
            timeline.append((round(elapsed, 2), dispatched, sent))
            complete = dispatched >= len(kept) and not waiting
            if complete or elapsed > 60 + len(kept) / 10:
                break
    cpu = meter.stop()
    after = bench.fake.stats()
    bench.procs.stop(worker)
    result = {
        "pool": pool,
        "concurrency": concurrency,
        "messages": len(kept),
        "backlog_dropped": dropped,
        "seconds": round(elapsed, 2),
        "dispatched": dispatched,
        "sent": sent,
        "complete": complete,
        "messages_per_second": round(dispatched / elapsed, 1),
        "fake_accepted": _delta(before, after, "accepted"),
        "timeline": timeline,
        "cpu": cpu,
        "quiet_wait": quiet,
    }
    log(
        f"to-user delivery: {dispatched:,} messages ({sent:,} deliveries sent) in {result['seconds']} s"
        f" = {result['messages_per_second']:,.0f}/s"
    )
    return result


# --- 2. broadcast -------------------------------------------------------------------------


def devices_bulk_load(*, tenant, app, count: int) -> float:
    """COPY ``count`` active Android devices into ``app``; returns seconds taken."""
    from django.db import connection

    from devices.tokens import token_hash

    started = time.perf_counter()
    now = datetime.now(UTC)
    columns = (
        "tenant_id, app_id, platform, token, token_hash, device_uid, lang, country, is_active,"
        " deactivated_reason, created_at, updated_at"
    )
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY devices_device ({columns}) FROM STDIN") as copy:
            for index in range(count):
                token = fake_fcm_token("bcast", index)
                copy.write_row(
                    (
                        tenant.pk,
                        app.pk,
                        "android",
                        token,
                        token_hash(token),
                        f"uid-{index}",
                        "fr",
                        "TG",
                        True,
                        "",
                        now,
                        now,
                    )
                )
        cursor.execute("ANALYZE devices_device")
    return time.perf_counter() - started


def _worker_start(bench: Bench, pool: str, concurrency: int) -> subprocess.Popen:
    log_path = bench.run_dir / f"worker-{pool}-{concurrency}.log"
    log_path.write_text("")
    command = [
        python(), "-m", "celery", "-A", "softafrik", "worker", "-P", pool, "-c", str(concurrency),
        "-n", f"bench-{pool}@%h", "-l", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    proc = bench.procs.start(
        f"celery worker -P {pool}", command, env={**bench.env, "FCM_API_URL": bench.fake.url}, log=log_path
    )
    wait_until(
        lambda: proc.poll() is not None or " ready." in log_path.read_text(errors="replace"),
        timeout=60,
        interval=0.2,
        what="the Celery worker",
    )
    if proc.poll() is not None:
        raise RuntimeError(f"worker exited: {log_path.read_text()[-2000:]}")
    return proc


def _broadcast_once(bench: Bench, *, devices: int, timeout: float) -> dict:
    """POST the broadcast; poll until every delivery is sent. Times are from the POST."""
    from django.db import connection

    http = bench.http()
    started = time.monotonic()
    body = {"app_name": BROADCAST_APP, "title": TITLE, "body": BODY, "data": {"campaign": "bench"}}
    status, _, data, _ = http.request("POST", "/api/push/broadcast", body)
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
                "SELECT count(*) FILTER (WHERE status = 'sent'), count(*)"
                " FROM notifications_delivery WHERE message_id = %s",
                [message_id],
            )
            sent, rows = cursor.fetchone()
            elapsed = time.monotonic() - started
            timeline.append((round(elapsed, 2), rows, sent))
            if rows_done_at is None and rows >= devices:
                rows_done_at = elapsed
            if sent >= devices or elapsed > timeout:
                break
        cursor.execute(
            "SELECT status, count(*) FROM notifications_delivery WHERE message_id = %s GROUP BY status", [message_id]
        )
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


def _ceiling_once(bench: Bench, *, processes: int, threads: int, messages: int) -> dict:
    """firebase-admin alone: ``processes`` x ``threads`` senders, ``messages`` in all."""
    account_file = bench.run_dir / "ceiling-account.json"
    account_file.write_text(json.dumps(bench.fake.account))
    shares = [messages // processes + (1 if i < messages % processes else 0) for i in range(processes)]
    children = []
    try:
        for index, share in enumerate(shares):
            command = [
                python(), "bench/fcm_ceiling.py", "--url", bench.fake.url, "--account-file", str(account_file),
                "--messages", str(share), "--threads", str(threads), "--token-prefix", f"ceil{index}",
            ]  # fmt: skip
            stderr = (bench.run_dir / "ceiling.log").open("ab")
            children.append(
                bench.procs.start(
                    "ceiling",
                    command,
                    env=bench.env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    text=True,
                )
            )
        for child in children:
            if child.stdout.readline().strip() != "ready":
                raise RuntimeError("a ceiling process failed to start; see bench/results/run/ceiling.log")
        account_file.unlink()
        before = bench.fake.stats()
        meter = bench.meter().start()
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        reports = [json.loads(child.stdout.readline()) for child in children]
        cpu = meter.stop()
        after = bench.fake.stats()
    finally:
        for child in children:
            with contextlib.suppress(OSError):
                child.stdin.close()  # end of input: the child exits by itself
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)
            bench.procs.stop(child, grace=5)
        account_file.unlink(missing_ok=True)
    elapsed = max(r["finished"] for r in reports) - min(r["started"] for r in reports)
    ok = sum(r["ok"] for r in reports)
    return {
        "processes": processes,
        "threads": threads,
        "messages": messages,
        "ok": ok,
        "failed": sum(r["failed"] for r in reports),
        "errors": [r["errors"] for r in reports if r["errors"]],
        "seconds": round(elapsed, 2),
        "messages_per_second": round(ok / elapsed, 1),
        "fake_accepted": _delta(before, after, "accepted"),
        "cpu": cpu,
    }


def bench_broadcast(bench: Bench) -> dict:
    """For each pool: a broadcast through the platform, then the bare client's ceiling."""
    from django.db import connection

    from devices.services import app_create

    args = bench.args
    app = app_create(tenant=bench.tenant, name=BROADCAST_APP, fcm_service_account=bench.fake.account)
    sizes = [args.devices] + [min(args.devices, args.compare_devices)] * (len(args.pools) - 1)
    load_seconds = devices_bulk_load(tenant=bench.tenant, app=app, count=args.devices)
    log(f"broadcast: {args.devices:,} devices loaded with COPY in {load_seconds:.1f} s")
    runs = []
    for (pool, concurrency), devices in zip(args.pools, sizes, strict=True):
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE notifications_delivery")
            # Devices past ``devices`` sit out this run (a smaller comparison run).
            cursor.execute(
                "UPDATE devices_device SET is_active = (id <= (SELECT id FROM devices_device WHERE app_id = %s"
                " ORDER BY id OFFSET %s LIMIT 1)) WHERE app_id = %s",
                [app.pk, devices - 1, app.pk],
            )
            cursor.execute("VACUUM ANALYZE devices_device")
            cursor.execute("VACUUM ANALYZE notifications_delivery")
        worker = _worker_start(bench, pool, concurrency)
        quiet = bench.wait_quiet(f"broadcast ({pool})")
        log(f"broadcast: worker -P {pool} -c {concurrency} ready; POST /api/push/broadcast to {devices:,} devices")
        before = bench.fake.stats()
        meter = bench.meter().start()
        platform = _broadcast_once(bench, devices=devices, timeout=60 + devices / 100)
        platform["cpu"] = meter.stop()
        platform["quiet_wait"] = quiet
        after = bench.fake.stats()
        platform["fake_accepted"] = _delta(before, after, "accepted")
        bench.procs.stop(worker)
        log(
            f"broadcast: {platform['sent']:,} sent in {platform['seconds']} s = {platform['deliveries_per_second']:,.0f}/s"
            f" (all rows written after {platform['all_rows_written_after_seconds']} s;"
            f" fake FCM accepted {platform['fake_accepted']})"
        )
        processes, threads = (concurrency, 1) if pool == "prefork" else (1, concurrency)
        quiet = bench.wait_quiet("ceiling")
        log(
            f"ceiling: firebase-admin send_each alone, {processes} process(es) x {threads} thread(s), {devices:,} messages"
        )
        ceiling = _ceiling_once(bench, processes=processes, threads=threads, messages=devices)
        ceiling["quiet_wait"] = quiet
        log(f"ceiling: {ceiling['ok']:,} sent in {ceiling['seconds']} s = {ceiling['messages_per_second']:,.0f}/s")
        ratio = platform["deliveries_per_second"] / ceiling["messages_per_second"] if platform["complete"] else None
        runs.append(
            {
                "pool": pool,
                "concurrency": concurrency,
                "devices": devices,
                "platform": platform,
                "ceiling": ceiling,
                "ratio": None if ratio is None else round(ratio, 3),
            }
        )
    return {"device_load_seconds": round(load_seconds, 2), "runs": runs}


# --- 3. inbox -----------------------------------------------------------------------------


def inbox_bulk_load(*, tenant, rows: int, per_user: int) -> dict:
    """COPY ``rows // per_user`` users and ``rows`` inbox entries dealt round-robin to them
    (so one user's entries sit on different pages, as after months of sends); ANALYZE."""
    from django.db import connection

    started = time.perf_counter()
    users = max(1, rows // per_user)
    now = datetime.now(UTC)
    with connection.cursor() as cursor:
        columns = "tenant_id, puid, external_user_ref, meta, created_at, updated_at"
        with cursor.cursor.copy(f"COPY devices_enduser ({columns}) FROM STDIN") as copy:
            for index in range(users):
                copy.write_row((tenant.pk, f"sa_{tenant.pk}_in{index:06d}", f"inbox-{index}", "{}", now, now))
        cursor.execute(
            "SELECT id, puid FROM devices_enduser WHERE tenant_id = %s AND external_user_ref LIKE 'inbox-%%' ORDER BY id",
            [tenant.pk],
        )
        user_rows = cursor.fetchall()
        ids = [row[0] for row in user_rows]
        first, step = now - timedelta(days=90), timedelta(days=90) / rows
        columns = "tenant_id, end_user_id, title, body, data, is_read, created_at"
        with cursor.cursor.copy(f"COPY notifications_inboxentry ({columns}) FROM STDIN") as copy:
            chunk = []
            for index in range(rows):
                chunk.append(
                    f"{tenant.pk}\t{ids[index % users]}\tOrder {index} shipped\t"
                    f"Parcel TG-{index:07d} left our warehouse and arrives tomorrow.\t"
                    f'{{"order_id": "{index}", "url": "/orders/{index}"}}\t{"t" if index % 3 else "f"}\t'
                    f"{(first + step * index).isoformat()}\n"
                )
                if len(chunk) == 20_000:
                    copy.write("".join(chunk))
                    chunk = []
            copy.write("".join(chunk))
        cursor.execute("ANALYZE notifications_inboxentry")
        cursor.execute("ANALYZE devices_enduser")
        cursor.execute(
            "SELECT count(*), pg_total_relation_size('notifications_inboxentry') FROM notifications_inboxentry"
        )
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


def bench_inbox(bench: Bench) -> dict:
    """``GET /api/push/inbox`` for one user, sequentially, with a large inbox table."""
    from notifications.models import InboxEntry

    args = bench.args
    loaded = inbox_bulk_load(tenant=bench.tenant, rows=args.inbox_rows, per_user=args.inbox_per_user)
    log(
        f"inbox: {loaded['table_rows']:,} rows ({loaded['table_mib']} MiB) loaded with COPY in {loaded['load_seconds']} s"
    )
    entries = InboxEntry.objects.filter(end_user_id=loaded["target_user_id"])
    plan = (
        entries.order_by("-pk")
        .values("id", "title", "body", "data", "is_read", "created_at")[:21]
        .explain(analyze=True, buffers=True)
    )
    http = bench.http()
    path = f"/api/push/inbox?puid={loaded['target_puid']}"
    for _ in range(max(10, args.inbox_requests // 10)):  # warm-up
        status, _, data, _ = http.request("GET", path)
        if status != 200:
            raise RuntimeError(f"inbox answered {status}: {data}")
    page_size = len(data)
    quiet = bench.wait_quiet("inbox")
    meter = bench.meter().start()
    latencies = []
    for _ in range(args.inbox_requests):
        status, _, data, seconds = http.request("GET", path)
        if status != 200:
            raise RuntimeError(f"inbox answered {status}: {data}")
        latencies.append(seconds)
    cursor_latencies = []
    for _ in range(args.cursor_rounds):
        status, headers, data, _ = http.request("GET", path)
        while "x-next-cursor" in headers:
            status, headers, data, seconds = http.request("GET", f"{path}&cursor={headers['x-next-cursor']}")
            if status != 200:
                raise RuntimeError(f"inbox cursor page answered {status}: {data}")
            cursor_latencies.append(seconds)
    cpu = meter.stop()
    http.close()
    log(f"inbox: {len(latencies)} first pages and {len(cursor_latencies)} cursor pages timed")
    return {
        **loaded,
        "target_user_entries": entries.count(),
        "page_size": page_size,
        "requests": len(latencies),
        "first_page": latency_summary(latencies),
        "cursor_pages": {"requests": len(cursor_latencies), **latency_summary(cursor_latencies)},
        "query_plan": plan,
        "cpu": cpu,
        "quiet_wait": quiet,
    }
