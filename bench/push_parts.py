"""The to-user and inbox measurements of ``push_bench.py``: acceptance against its floor,
to-user delivery, inbox latency (the broadcasts are in ``push_broadcast.py``).

Each function takes the ``Bench`` (running platform, fake FCM, tenant and key) and returns
a JSON-able dict; ``push_bench.py`` sets the platform up, calls them and prints the table.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.harness import CpuMeter, python
from bench.loadgen import latency_summary
from bench.push_common import QUEUE, Bench, FakeFcm, cpu_ms_per_item, cpu_probe_ms, delta, log, worker_start

# Other benches import these from here (billing_bench.py, omni_bench.py, fake_fcm_cost.py).
__all__ = ["Bench", "FakeFcm", "_meter_window", "bench_accept", "cpu_probe_ms", "log", "to_user_backlog_trim"]

POLL_SECONDS = 0.5


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


def _run_wrk(bench: Bench, bodies_file: Path, path: str) -> dict:
    """The same load with wrk (if installed): one warm-up run, then the measured one."""
    args = bench.args
    script = bench.run_dir / "to-user.lua"
    script.write_text(
        f'local bodies = {{}}\nfor line in io.lines("{bodies_file}") do bodies[#bodies + 1] = line end\n'
        'local i = 0\nwrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["X-API-KEY"] = "{bench.key}"\n'
        "request = function()\n  i = i % #bodies + 1\n  return wrk.format(nil, nil, nil, bodies[i])\nend\n"
    )
    url = f"http://127.0.0.1:{bench.port}{path}"
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


def _load(bench: Bench, bodies_file: Path, path: str, what: str) -> dict:
    """``--concurrency`` keep-alive clients POSTing the bodies to ``path``, CPU metered
    inside the measured window (a little margin each side); CPU ms per accepted request."""
    args = bench.args
    quiet = bench.wait_quiet(what)
    log(
        f"{what}: {args.concurrency} connections, {args.warmup:g} s warm-up + {args.duration:g} s measured ({args.client})"
    )
    window, cpu = _meter_window(bench.meter(), args.warmup + 0.5, max(0.5, args.duration - 1.0))
    if args.client == "wrk":
        if shutil.which("wrk") is None:
            raise SystemExit("--client wrk: wrk is not installed (apt-get install wrk); or use --client python")
        result = _run_wrk(bench, bodies_file, path)
    else:
        command = [
            python(), "bench/loadgen.py", "--url", f"http://127.0.0.1:{bench.port}{path}", "--method", "POST",
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
    rate = result.get("ok_per_second")
    # CPU ms per request: cores used over the window / requests per second.
    result["cpu_ms_per_request"] = (
        {label: round(cores * 1000 / rate, 4) for label, cores in cpu.get("cores_used", {}).items()} if rate else {}
    )
    result["quiet_wait"] = quiet
    return result


def bench_accept(bench: Bench, *, floor: bool = False) -> dict:
    """Accepted ``POST /api/push/to-user`` per second under a concurrent keep-alive client;
    with ``floor`` (gunicorn serving ``bench.settings``), then the same client, bodies and
    concurrency against the floor view (``bench/floor.py``: the real view's authentication
    and validation, 202 without the database) on the same gunicorn: ``over_floor`` is the
    real rate over the floor's.

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
    result = _load(bench, bodies_file, "/api/push/to-user", "to-user")
    connection.close()
    result["messages_written"] = Message.objects.filter(kind=MessageKind.TO_USER).count() - before
    result["tasks_queued"] = redis.Redis.from_url(args.redis_url).llen(QUEUE)  # fan-out wake-ups
    result["tasks_purged"] = celery_app.control.purge()
    if not floor:
        return result
    from bench.floor import FLOOR_PATH  # imports DRF: only once Django is set up

    answered = _load(bench, bodies_file, f"/{FLOOR_PATH}", "floor")
    if answered.get("statuses") and set(answered["statuses"]) != {"202"}:
        log(f"floor: answers {answered['statuses']}")
    result["floor"] = answered
    rate, floor_rate = result.get("ok_per_second"), answered.get("ok_per_second")
    result["over_floor"] = round(rate / floor_rate, 3) if rate and floor_rate else None
    log(f"to-user {rate}/s accepted, floor {floor_rate}/s: {result['over_floor']} of the floor")
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
    worker = worker_start(bench, pool, concurrency, name=f"drain-{pool}-{concurrency}")
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
    bench.procs.stop(worker.proc)
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
        "fake_accepted": delta(before, after, "accepted"),
        "timeline": timeline,
        "cpu": cpu,
        "cpu_ms_per_delivery": cpu_ms_per_item(cpu, sent),
        "quiet_wait": quiet,
    }
    log(
        f"to-user delivery: {dispatched:,} messages ({sent:,} deliveries sent) in {result['seconds']} s"
        f" = {result['messages_per_second']:,.0f}/s"
    )
    return result


# --- 2. inbox -----------------------------------------------------------------------------

INBOX_COPY_BATCH = 20_000  # rows per COPY write: a few MB of text at a time


def _secondary_indexes(cursor, table: str) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of ``table``'s indexes that back no constraint."""
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s"
        " AND indexname NOT IN (SELECT conname FROM pg_constraint)",
        [table],
    )
    return cursor.fetchall()


def inbox_bulk_load(*, tenant, rows: int, per_user: int, batch: int = 0) -> dict:
    """COPY ``rows // per_user`` new users and ``rows`` inbox entries dealt round-robin to
    them (so one user's entries sit on different pages, as after months of sends); ANALYZE.
    ``batch`` numbers the load, so several loads add up (1M rows, then 9M more for 10M).

    For speed at ten million rows the table's secondary indexes are dropped for the COPY
    and built again after it (the same statements, from pg_indexes), and foreign-key
    triggers are skipped for this session's load (the rows reference users made here)."""
    from django.db import connection

    started = time.perf_counter()
    users = max(1, rows // per_user)
    now = datetime.now(UTC)
    refs = f"inbox-{batch}-"
    with connection.cursor() as cursor:
        indexes = _secondary_indexes(cursor, "notifications_inboxentry")
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("SET session_replication_role = replica")
        try:
            columns = "tenant_id, puid, external_user_ref, meta, phone, email, username, lang, created_at, updated_at"
            with cursor.cursor.copy(f"COPY devices_enduser ({columns}) FROM STDIN") as copy:
                for index in range(users):
                    puid = f"sa_{tenant.pk}_in{batch}_{index:07d}"
                    copy.write_row((tenant.pk, puid, f"{refs}{index}", "{}", "", "", "", "", now, now))
            cursor.execute(
                "SELECT id, puid FROM devices_enduser WHERE tenant_id = %s AND external_user_ref LIKE %s ORDER BY id",
                [tenant.pk, f"{refs}%"],
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
                        f"Parcel TG-{index:08d} left our warehouse and arrives tomorrow.\t"
                        f'{{"order_id": "{index}", "url": "/orders/{index}"}}\t{"t" if index % 3 else "f"}\t'
                        f"{(first + step * index).isoformat()}\n"
                    )
                    if len(chunk) == INBOX_COPY_BATCH:
                        copy.write("".join(chunk))
                        chunk = []
                copy.write("".join(chunk))
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
        copied = time.perf_counter() - started
        for _, statement in indexes:
            cursor.execute(statement)
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
        "copy_seconds": round(copied, 2),
        "indexes_rebuilt": [name for name, _ in indexes],
        "target_user_id": target_id,
        "target_puid": target_puid,
    }


def bench_inbox(bench: Bench) -> dict:
    """``GET /api/push/inbox`` for one user at each ``--inbox-rows`` size (rows loaded on
    top of the previous size's); ``p99_growth`` is the last size's p99 over the first's."""
    args = bench.args
    runs, loaded_rows = [], 0
    for batch, size in enumerate(args.inbox_rows):
        if size <= loaded_rows:
            raise SystemExit(f"--inbox-rows sizes must grow: {args.inbox_rows}")
        loaded = inbox_bulk_load(
            tenant=bench.tenant, rows=size - loaded_rows, per_user=args.inbox_per_user, batch=batch
        )
        loaded_rows = size
        log(
            f"inbox: {loaded['table_rows']:,} rows ({loaded['table_mib']} MiB) after COPY of {loaded['rows_loaded']:,}"
            f" in {loaded['load_seconds']} s"
        )
        runs.append(_inbox_measure(bench, loaded))
    first, last = runs[0]["first_page"]["p99_ms"], runs[-1]["first_page"]["p99_ms"]
    growth = round(last / first, 3) if len(runs) > 1 and first and last else None
    return {"runs": runs, "p99_growth": growth}


def _inbox_measure(bench: Bench, loaded: dict) -> dict:
    """One user's first page and cursor pages, sequentially, from one keep-alive client."""
    from notifications.models import InboxEntry

    args = bench.args
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
