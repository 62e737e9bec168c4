"""Broadcast measurements of ``push_bench.py``: Android with each FCM transport, iOS, the ceilings.

One broadcast run (``broadcast_run``): a fresh Celery worker (``FCM_TRANSPORT`` and any
other setting from its environment), ``POST /api/push/broadcast``, then the fake is
polled (cheap: its counters) until it has accepted every device and the database until
every Delivery row is ``sent``. It reports deliveries/s from the POST; the CPU per
delivery of each process group (worker, PostgreSQL, the fake from its own counters,
gunicorn, Redis); the Celery tasks and SQL statements it took (``bench.sqlcount`` in
the worker processes, and PostgreSQL's transaction count for the database from every
client); each worker process's peak RSS; and that nothing was lost or sent twice (every
active device has exactly one delivery, sent in one attempt; the fake saw each token once).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from datetime import UTC, datetime

from bench.fcm_ceiling import fake_fcm_token
from bench.harness import python
from bench.push_common import (
    Bench,
    FakeApns,
    FakeFcm,
    children_rss_mib,
    cpu_ms_per_item,
    delta,
    group_pids,
    log,
    worker_memory,
    worker_start,
)

FAKE_POLL_SECONDS = 0.1  # the fake's counters: one stdin round trip
DB_POLL_SECONDS = 0.25  # a COUNT over the message's deliveries, only once the fake has them all
SETTLE_SECONDS = 1.5  # after the last delivery: tasks' counters written, PostgreSQL's statistics flushed
TITLE, BODY = "Flash sale", "Everything half price until midnight"
ANDROID_APP, IOS_APP = "bench-broadcast", "bench-broadcast-ios"


def ios_token(index: int) -> str:
    """A unique APNs device token: 32 bytes as 64 hex digits."""
    return f"{index:064x}"


def devices_bulk_load(*, tenant, app, count: int, platform: str = "android", token_for=None) -> float:
    """COPY ``count`` active devices of ``platform`` into ``app``; returns seconds taken.
    Foreign-key triggers are skipped for the load (the rows reference the app and tenant
    just made); the unique token constraint still holds."""
    from django.db import connection

    from devices.tokens import token_hash

    token_for = token_for or (lambda index: fake_fcm_token("bcast", index))
    started = time.perf_counter()
    now = datetime.now(UTC)
    columns = (
        "tenant_id, app_id, platform, token, token_hash, device_uid, lang, country, is_active,"
        " deactivated_reason, created_at, updated_at"
    )
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            with cursor.cursor.copy(f"COPY devices_device ({columns}) FROM STDIN") as copy:
                for index in range(count):
                    token = token_for(index)
                    row = (tenant.pk, app.pk, platform, token, token_hash(token), f"{platform}-{index}")
                    copy.write_row((*row, "fr", "TG", True, "", now, now))
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute("ANALYZE devices_device")
    return time.perf_counter() - started


def _audience_set(app, devices: int) -> None:
    """Make the first ``devices`` devices of ``app`` active and the rest not (a smaller
    comparison run), rewriting only rows that change; deliveries of earlier runs go."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE notifications_delivery")
        cursor.execute(
            "WITH cut AS (SELECT id FROM devices_device WHERE app_id = %s ORDER BY id OFFSET %s LIMIT 1)"
            " UPDATE devices_device SET is_active = (id < coalesce((SELECT id FROM cut), id + 1))"
            " WHERE app_id = %s AND is_active IS DISTINCT FROM (id < coalesce((SELECT id FROM cut), id + 1))",
            [app.pk, devices, app.pk],
        )
        cursor.execute("VACUUM ANALYZE devices_device")
        cursor.execute("VACUUM ANALYZE notifications_delivery")


def _database_counters(database: str) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT xact_commit + xact_rollback, tup_inserted, tup_updated, tup_deleted"
            " FROM pg_stat_database WHERE datname = %s",
            [database],
        )
        transactions, inserted, updated, deleted = cursor.fetchone()
    return {"transactions": transactions, "rows_inserted": inserted, "rows_updated": updated, "rows_deleted": deleted}


def _integrity(message_id: str, app, devices: int) -> dict:
    """Every active device of the app has exactly one delivery of the message, sent, in one attempt."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT device_id), count(*) FILTER (WHERE status = 'sent'),"
            " coalesce(max(attempts), 0), coalesce(sum(attempts), 0)"
            " FROM notifications_delivery WHERE message_id = %s",
            [message_id],
        )
        rows, distinct_devices, sent, max_attempts, attempts = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM devices_device dev WHERE dev.app_id = %s AND dev.is_active AND NOT EXISTS"
            " (SELECT 1 FROM notifications_delivery d WHERE d.message_id = %s AND d.device_id = dev.id"
            " AND d.status = 'sent')",
            [app.pk, message_id],
        )
        devices_without_sent = cursor.fetchone()[0]
    return {
        "delivery_rows": rows,
        "distinct_devices": distinct_devices,
        "sent": sent,
        "devices_without_a_sent_delivery": devices_without_sent,
        "max_attempts": max_attempts,
        "attempts": attempts,
        "exactly_once": rows == distinct_devices == sent == devices == attempts and not devices_without_sent,
    }


def _wait_settled(worker) -> dict:
    """The worker's counters once they stop moving (its last task has written them)."""
    counts, deadline = worker.counts(), time.monotonic() + 15
    while time.monotonic() < deadline:
        time.sleep(SETTLE_SECONDS)
        again = worker.counts()
        if again == counts:
            break
        counts = again
    return counts


def broadcast_run(
    bench: Bench, *, app, fake: FakeFcm | FakeApns, pool: str, concurrency: int, devices: int, name: str, env: dict
) -> dict:
    """One broadcast to the first ``devices`` devices of ``app`` through a fresh worker."""
    from django.db import connection

    from notifications.push.fanout import FANOUT_CHUNK

    _audience_set(app, devices)
    fake.tokens_reset()
    worker = worker_start(bench, pool, concurrency, name=name, env=env)
    # The processes that send: a prefork pool's children, else the worker itself.
    senders = [pid for pid in group_pids(worker.proc.pid) if pid != worker.proc.pid] or [worker.proc.pid]
    quiet = bench.wait_quiet(f"broadcast {name}")
    log(f"broadcast {name}: worker -P {pool} -c {concurrency} {env}; POST /api/push/broadcast to {devices:,} devices")
    database_before = _database_counters(bench.args.db_name)
    fake_before = fake.stats()
    meter = bench.meter().start()
    started, started_wall = time.monotonic(), time.time()
    http = bench.http()
    body = {"app_name": app.name, "title": TITLE, "body": BODY, "data": {"campaign": "bench"}}
    status, _, data, _ = http.request("POST", "/api/push/broadcast", body)
    post_seconds = time.monotonic() - started
    http.close()
    if status != 202:
        bench.procs.stop(worker.proc)
        raise RuntimeError(f"broadcast refused: {status} {data}")
    message_id = data["id"]
    timeout = 60 + devices / 100
    timeline, sent, fake_done_at, db_polls, polls = [], 0, None, 0, 0
    accepted_before, moved_at = 0, 0.0
    with connection.cursor() as cursor:
        while True:
            time.sleep(FAKE_POLL_SECONDS if fake_done_at is None else DB_POLL_SECONDS)
            elapsed, polls = time.monotonic() - started, polls + 1
            accepted = fake.stats()["accepted"] - fake_before["accepted"]
            if accepted >= devices and fake_done_at is None:
                fake_done_at = elapsed
            if accepted != accepted_before:
                accepted_before, moved_at = accepted, elapsed
            # The database only once the fake has them all (a COUNT costs), or if the fake
            # stopped getting sends for a while (failed sends are retried, or lost).
            if fake_done_at is not None or elapsed - moved_at > 3:
                cursor.execute(
                    "SELECT count(*) FROM notifications_delivery WHERE message_id = %s AND status = 'sent'",
                    [message_id],
                )
                sent = cursor.fetchone()[0]
                db_polls += 1
            if polls % 5 == 1 or fake_done_at is not None:  # every 0.5 s, and the tail
                timeline.append((round(elapsed, 2), accepted, sent, children_rss_mib(worker, senders)))
            if sent >= devices or elapsed > timeout:
                break
        polled = time.monotonic() - started
        cpu = meter.stop()
        fake_after = fake.stats()
        # The last delivery's recording time (set just before its commit) ends the run:
        # more precise than the poll that saw it.
        cursor.execute("SELECT max(updated_at) FROM notifications_delivery WHERE message_id = %s", [message_id])
        last = cursor.fetchone()[0]
    elapsed = last.timestamp() - started_wall if last is not None and sent >= devices else polled
    counts = _wait_settled(worker)
    memory = worker_memory(worker)
    bench.procs.stop(worker.proc)
    # A backend flushes its statistics at exit (while idle, up to 10 s late): read them after.
    time.sleep(0.5)
    database_after = _database_counters(bench.args.db_name)
    fake_cpu = delta(fake_before, fake_after, "cpu_seconds")
    per_delivery = cpu_ms_per_item(cpu, sent)
    if fake_cpu is not None and sent:
        per_delivery[f"{fake.label} (its own counter)"] = round(fake_cpu * 1000 / sent, 4)
    chunks = max(1, -(-devices // FANOUT_CHUNK))
    result = {
        "name": name,
        "pool": pool,
        "concurrency": concurrency,
        "worker_env": env,
        "devices": devices,
        "message_id": message_id,
        "post_seconds": round(post_seconds, 4),
        "seconds": round(elapsed, 3),
        "seconds_polled": round(polled, 2),
        "sent": sent,
        "complete": sent >= devices,
        "deliveries_per_second": round(sent / elapsed, 1),
        "fake_accepted_all_after_seconds": None if fake_done_at is None else round(fake_done_at, 2),
        "fake": {
            "accepted": delta(fake_before, fake_after, "accepted"),
            "distinct_tokens": fake_after.get("distinct_tokens"),
            "repeated_tokens": fake_after.get("repeated_tokens"),
            "cpu_seconds": fake_cpu,
            "requests": delta(fake_before, fake_after, "requests"),
        },
        "cpu": cpu,
        "cpu_ms_per_delivery": per_delivery,
        "celery_tasks": counts["tasks"],
        "celery_tasks_total": counts["tasks_total"],
        "sql_statements_workers": counts["statements"],
        "sql_calls_workers": counts["calls"],
        "chunks": chunks,
        "sql_statements_per_chunk": round(counts["statements"] / chunks, 1),
        "database": {key: database_after[key] - database_before[key] for key in database_before},
        "driver_statements": db_polls + 2,  # its polls, and the snapshot read around the run
        "worker_memory": memory,
        "quiet_wait": quiet,
        "timeline": timeline,
    }
    result["integrity"] = _integrity(message_id, app, devices)
    result["integrity"]["fake_saw_each_token_once"] = (
        result["fake"]["distinct_tokens"] == devices and result["fake"]["repeated_tokens"] == 0
    )
    peak = max((row["peak_rss_mib"] for row in memory if row["role"] == "child" or len(memory) == 1), default=None)
    log(
        f"broadcast {name}: {sent:,} sent in {result['seconds']} s = {result['deliveries_per_second']:,.0f}/s;"
        f" {counts['tasks_total']} tasks, {counts['statements']:,} SQL statements ({result['sql_statements_per_chunk']}"
        f" per {FANOUT_CHUNK}-device chunk); peak child RSS {peak} MiB; exactly once: {result['integrity']['exactly_once']},"
        f" fake saw each token once: {result['integrity']['fake_saw_each_token_once']}"
    )
    return result


def ceiling_run(bench: Bench, *, client: str, processes: int, threads: int, messages: int) -> dict:
    """``bench/fcm_ceiling.py --client CLIENT``: ``processes`` x ``threads`` lanes, ``messages`` in all."""
    account_file = bench.run_dir / "ceiling-account.json"
    account_file.write_text(json.dumps(bench.fake.account))
    shares = [messages // processes + (1 if i < messages % processes else 0) for i in range(processes)]
    children = []
    quiet = bench.wait_quiet(f"ceiling {client}")
    log(f"ceiling: {client} alone, {processes} process(es) x {threads} lane(s), {messages:,} messages")
    try:
        for index, share in enumerate(shares):
            command = [
                python(), "bench/fcm_ceiling.py", "--url", bench.fake.url, "--account-file", str(account_file),
                "--messages", str(share), "--threads", str(threads), "--token-prefix", f"ceil{index}",
                "--client", client,
            ]  # fmt: skip
            stderr = (bench.run_dir / "ceiling.log").open("ab")
            children.append(
                bench.procs.start(
                    f"ceiling {client}",
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
                raise RuntimeError(f"a ceiling process failed to start; see {bench.run_dir}/ceiling.log")
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
    fake_cpu = delta(before, after, "cpu_seconds")
    per_message = cpu_ms_per_item(cpu, ok)
    per_message["client (its own getrusage)"] = round(sum(r["cpu"] for r in reports) * 1000 / max(ok, 1), 4)
    if fake_cpu is not None and ok:
        per_message["fake FCM (its own counter)"] = round(fake_cpu * 1000 / ok, 4)
    result = {
        "client": client,
        "processes": processes,
        "threads": threads,
        "messages": messages,
        "ok": ok,
        "failed": sum(r["failed"] for r in reports),
        "errors": [r["errors"] for r in reports if r["errors"]],
        "seconds": round(elapsed, 2),
        "messages_per_second": round(ok / elapsed, 1),
        "fake_accepted": delta(before, after, "accepted"),
        "cpu": cpu,
        "cpu_ms_per_message": per_message,
        "quiet_wait": quiet,
    }
    log(f"ceiling {client}: {ok:,} sent in {result['seconds']} s = {result['messages_per_second']:,.0f}/s")
    return result


def _ratio(top: dict | None, bottom: dict | None, key_top: str, key_bottom: str) -> float | None:
    if not top or not bottom or not top.get("complete", True) or not bottom.get("complete", True):
        return None
    if not bottom.get(key_bottom):
        return None
    return round(top[key_top] / bottom[key_bottom], 3)


def bench_broadcast(bench: Bench) -> dict:
    """Android: the first pool with each FCM transport, the ceilings of both clients, the
    other pools with the default transport; see push_bench.py's docstring."""
    from devices.services import app_create

    args = bench.args
    app = app_create(tenant=bench.tenant, name=ANDROID_APP, fcm_service_account=bench.fake.account)
    load_seconds = devices_bulk_load(tenant=bench.tenant, app=app, count=args.devices)
    log(f"broadcast: {args.devices:,} Android devices loaded with COPY in {load_seconds:.1f} s")
    compare = min(args.devices, args.compare_devices)
    (pool, concurrency), others = args.pools[0], args.pools[1:]
    lanes = (concurrency, 1) if pool == "prefork" else (1, concurrency)

    def run(transport: str, devices: int, pool_: str = pool, concurrency_: int = concurrency) -> dict:
        return broadcast_run(
            bench,
            app=app,
            fake=bench.fake,
            pool=pool_,
            concurrency=concurrency_,
            devices=devices,
            name=f"android-{transport}-{pool_}-{concurrency_}",
            env={"FCM_TRANSPORT": transport},
        )

    new = run("aiohttp", args.devices)
    lean = ceiling_run(bench, client="aiohttp", processes=lanes[0], threads=lanes[1], messages=args.devices)
    old = old_ceiling = None
    if "old-transport" not in args.skip:
        old = run("firebase-admin", compare)
        old_ceiling = ceiling_run(
            bench, client="firebase-admin", processes=lanes[0], threads=lanes[1], messages=compare
        )
    pools = []
    for other_pool, other_concurrency in others:
        other_lanes = (other_concurrency, 1) if other_pool == "prefork" else (1, other_concurrency)
        platform = run("aiohttp", compare, other_pool, other_concurrency)
        ceiling = ceiling_run(
            bench, client="aiohttp", processes=other_lanes[0], threads=other_lanes[1], messages=compare
        )
        pools.append(
            {
                "platform": platform,
                "ceiling": ceiling,
                "ratio": _ratio(platform, ceiling, "deliveries_per_second", "messages_per_second"),
            }
        )
    return {
        "device_load_seconds": round(load_seconds, 2),
        "new": new,
        "lean_ceiling": lean,
        "old": old,
        "old_ceiling": old_ceiling,
        "new_over_old": _ratio(new, old, "deliveries_per_second", "deliveries_per_second"),
        "new_over_lean_ceiling": _ratio(new, lean, "deliveries_per_second", "messages_per_second"),
        "old_over_send_each": _ratio(old, old_ceiling, "deliveries_per_second", "messages_per_second"),
        "lean_over_send_each": _ratio(lean, old_ceiling, "messages_per_second", "messages_per_second"),
        "other_pools": pools,
    }


def bench_ios(bench: Bench) -> dict:
    """The same broadcast to iOS devices against the fake APNs (its own process); with
    ``--apns-compare-transport`` also with ``APNS_TRANSPORT`` set to it, at --compare-devices."""
    from devices.services import app_create

    args = bench.args
    credentials = bench.apns.credentials
    app = app_create(
        tenant=bench.tenant,
        name=IOS_APP,
        apns_key=credentials["key_pem"],
        apns_key_id=credentials["key_id"],
        apns_team_id=credentials["team_id"],
        apns_topic=credentials["topic"],
    )
    devices = args.ios_devices
    load_seconds = devices_bulk_load(tenant=bench.tenant, app=app, count=devices, platform="ios", token_for=ios_token)
    log(f"iOS: {devices:,} iOS devices loaded with COPY in {load_seconds:.1f} s")
    pool, concurrency = args.pools[0]

    def run(transport: str | None, count: int) -> dict:
        env = {"APNS_TRANSPORT": transport} if transport else {}
        return broadcast_run(
            bench,
            app=app,
            fake=bench.apns,
            pool=pool,
            concurrency=concurrency,
            devices=count,
            name=f"ios-{transport or 'default'}-{pool}-{concurrency}",
            env=env,
        )

    new = run(None, devices)
    old = None
    if args.apns_compare_transport:
        old = run(args.apns_compare_transport, min(devices, args.compare_devices))
    return {
        "device_load_seconds": round(load_seconds, 2),
        "new": new,
        "old": old,
        "compare_transport": args.apns_compare_transport,
        "new_over_old": _ratio(new, old, "deliveries_per_second", "deliveries_per_second"),
    }
