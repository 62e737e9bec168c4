"""SoftAfrik billing benchmark: what billing costs the push accept rate and the MULDES rate (issue 10).

    .venv/bin/python bench/billing_bench.py --profile 1000          # the issue's run, ~11 min on 2 cores
    .venv/bin/python bench/billing_bench.py --rounds 2 --sms-rounds 1 --numbers 5000 --duration 4   # smoke, ~2 min

The platform runs as in production on a PostgreSQL database created fresh for the run
(``--db-name``, dropped at the end unless ``--keep-db``): gunicorn serving
``softafrik.wsgi`` (``-w 2 -k gthread --threads 4``, as ``push_bench.py``), Redis as
broker, and for the SMS part a ``celery -A softafrik worker`` and one ``beat`` (whose
``billing-tick`` runs the billing consumer), the fake SMSC (receipts on) and, idle, the
fake FCM whose service account the push apps carry. Every measurement is taken in
interleaved rounds (A, B, then B, A, ...) so that the shared machine's drift falls on
both sides alike; each figure is the median of its rounds, with the spread and the
median of the per-round ratios.

1. Push accept: accepted ``POST /api/push/to-user`` per second (``bench/loadgen.py``,
   ``--concurrency`` keep-alive connections, no worker running), tenant A prepaid with a
   push tariff of ``--push-price`` minor units per delivery (users with 1 or 2 devices),
   against tenant B postpaid without credit limit whose push tariff is 0 (the unpriced
   path: no billing write at all). Ratio B/A and the cost 1 - A/B.
2. MULDES: ``POST /api/V1/sms/muldes`` with ``--numbers`` numbers (one GSM-7 part) to the
   fake SMSC over SMPP, tenant A prepaid at ``--sms-price`` (1 credit) per part against
   tenant B postpaid with a tenant SMS tariff of 0. Two rates per run: parts handed to
   the SMSC per second (POST to every number sent), and until settled (also the billing
   consumer past every sent event of the send; for A its account's ``reserved`` back at
   0). A run ends when every number is delivered and the consumer has passed all its
   events, so the next one starts clean. Beat runs the consumer every BEAT_SWEEP_SECONDS
   (2 s): for a small MULDES the settled rate is mostly that tick's quantization.
3. Contention: ``--concurrency`` clients sending priced ``POST /api/push/to-user`` against
   ONE prepaid account, against the same clients spread over ``--accounts`` prepaid
   accounts (one per request in rotation) and against one free account: the cost of
   every request updating the same account row. Same users, bodies and client for all
   three (a multi-key variant of loadgen, in its own process).

During every push window a sampler reads ``pg_stat_activity`` every 0.1 s: backends of
the bench database that are active and what they wait on (a row lock, the WAL...).
Afterwards it checks every account's ledger: the sum of each book's entries equals the
cached column, the four books sum to 0, and no prepaid balance is below 0.
``--profile N`` adds, in this process, N to-user requests per tenant through Django's
test client: CPU per request (Python and the PostgreSQL backend), statements and
commits per request, and the billing functions' cumulative time (cProfile).

Prints the machine, the figures, ratios and the CPU per request or part of gunicorn,
the worker, beat and PostgreSQL, and writes everything to ``bench/results/billing.json``.
Every process it starts is stopped on exit, on Ctrl-C and on error.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fcm_ceiling import fake_fcm_token
from bench.harness import (
    CLOCK_TICKS,
    ROOT,
    CpuMeter,
    Http,
    bench_platform,
    exit_on_sigterm,
    python,
    results_write,
    wait_for_quiet,
)
from bench.loadgen import Run, build_requests, connection_loop, latency_summary
from bench.push_parts import Bench, FakeFcm, _meter_window, bench_accept, cpu_probe_ms, log, to_user_backlog_trim
from bench.sms_bench import TEXT, FakeSmscProcess, celery_start, gunicorn_start, numbers_check, numbers_make

RESULTS = ROOT / "bench" / "results"
SENDER = "SoftAfrik"
BALANCE = 10**12  # minor units topped up on every prepaid account: no send is ever refused
TARGET_COST = 0.10  # billing may cost at most 10% of either rate (issue 10)
POLL_SECONDS = 0.25
SAMPLE_SECONDS = 0.1
CONTENDED_CORES = 0.25  # other work above this while measuring is called out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    size = parser.add_argument_group("sizes")
    size.add_argument("--rounds", type=int, default=5, help="A/B rounds of push accept and of contention")
    size.add_argument("--sms-rounds", type=int, default=4, help="A/B rounds of the MULDES")
    size.add_argument("--duration", type=float, default=10.0, help="seconds measured per push window")
    size.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    size.add_argument("--concurrency", type=int, default=16, help="client connections (push accept, contention)")
    size.add_argument("--max-requests", type=int, default=200_000)
    size.add_argument("--users", type=int, default=300, help="users of each push tenant (1 or 2 devices each)")
    size.add_argument("--accounts", type=int, default=16, help="prepaid accounts of the spread contention arm")
    size.add_argument("--account-users", type=int, default=20, help="users per account in the contention arms")
    size.add_argument("--numbers", type=int, default=50_000, help="numbers per MULDES")
    size.add_argument("--push-price", type=int, default=1, help="minor units per push delivery (1 = 0.01 credit)")
    size.add_argument("--sms-price", type=int, default=100, help="minor units per SMS part (100 = 1 credit)")
    size.add_argument("--profile", type=int, default=0, help="in-process to-user requests per tenant, profiled")
    setup = parser.add_argument_group("set-up")
    setup.add_argument("--parts", default="push,contention,sms", help="which measurements to run")
    setup.add_argument("--pool", default="prefork:2", help="the SMS worker's pool:concurrency")
    setup.add_argument("--window", type=int, default=10, help="the SMPP route's window")
    setup.add_argument("--gunicorn-workers", type=int, default=2)
    setup.add_argument("--gunicorn-threads", type=int, default=4)
    setup.add_argument("--quiet-each", type=float, default=20.0, help="seconds to wait for a quiet machine per window")
    setup.add_argument("--run-timeout", type=float, default=600.0, help="give up on one MULDES run after this")
    setup.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432", help="server, without database")
    setup.add_argument("--db-name", default="softafrik_billingbench", help="dropped and created for the run")
    setup.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    setup.add_argument("--queue", default="softafrik_billingbench", help="the Celery queue of every process")
    setup.add_argument("--keep-db", action="store_true", help="leave the bench database after the run")
    setup.add_argument("--output", type=Path, default=RESULTS / "billing.json")
    parser.add_argument("--loadgen-child", type=Path, help=argparse.SUPPRESS)  # internal: the multi-key client
    args = parser.parse_args()
    args.parts = set(args.parts.split(","))
    pool, concurrency = args.pool.split(":")
    args.pool = (pool, int(concurrency))
    args.client = "python"  # for push_parts.bench_accept
    return args


# --- The multi-key client (contention) -------------------------------------------------


async def _multi_key_load(spec: dict) -> dict:
    """loadgen.py's closed loop, each request with its own API key: [key, body] per line."""
    url = urlsplit(spec["url"])
    host, port = url.hostname, url.port
    requests = []
    with open(spec["requests"]) as handle:
        for line in handle:
            key, body = json.loads(line)
            requests += build_requests(
                method="POST",
                host=host,
                port=port,
                path=url.path,
                headers=[f"X-API-KEY: {key}"],
                bodies=[body.encode()],
            )
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    run = Run(requests=requests, warmup=spec["warmup"], duration=spec["duration"], max_requests=spec["max_requests"])
    await asyncio.gather(*(connection_loop(run, host, port) for _ in range(spec["concurrency"])))
    finished = time.monotonic()
    usage_after = resource.getrusage(resource.RUSAGE_SELF)
    window = spec["duration"]
    if run.issued >= spec["max_requests"]:
        window = max(min(run.last_completion, run.window_end) - run.window_start, 1e-9)
    ok = sum(count for status, count in run.statuses.items() if 200 <= status < 300)
    cpu = (usage_after.ru_utime - usage_before.ru_utime) + (usage_after.ru_stime - usage_before.ru_stime)
    return {
        "concurrency": spec["concurrency"],
        "window_seconds": round(window, 3),
        "issued": run.issued,
        "ok_in_window": ok,
        "statuses": {str(status): count for status, count in sorted(run.statuses.items())},
        "errors": run.errors,
        "ok_per_second": round(ok / window, 1),
        "latency": latency_summary(run.latencies),
        "client_cpu_percent_of_one_core": round(100 * cpu / (finished - run.started), 1),
    }


# --- Set-up -------------------------------------------------------------------------------


class Tenant:
    """One bench tenant: its key, its account, its users' puids and how many devices each has."""

    def __init__(self, name: str, *, prepaid: bool, push_price: int, sms_price: int) -> None:
        from accounts.services import tenant_create
        from billing.models import Tariff, TariffChannel
        from billing.services import account_ensure, account_topup, account_update

        self.name, self.prepaid = name, prepaid
        self.tenant, issued = tenant_create(name=name, default_region="TG")
        self.key = issued.plaintext
        account = account_ensure(tenant_id=self.tenant.pk)
        if prepaid:
            account_topup(account=account, amount=BALANCE, note="bench", via="command", reference=f"bench-{name}")
        else:
            account_update(account=account, type="postpaid", credit_limit=None, reason="bench", via="command")
        self.account_id, unit = account.pk, account.unit
        for channel, price in ((TariffChannel.PUSH, push_price), (TariffChannel.SMS, sms_price)):
            Tariff.objects.create(tenant=self.tenant, channel=channel, unit=unit, prefix="", price=price, label="bench")
        self.puids: list[str] = []
        self.devices: list[int] = []

    def users_add(self, *, count: int, fcm_account: dict, tag: str) -> None:
        """``count`` users, every second one with two Android devices, through the services."""
        from devices.services import app_create, device_register, end_user_register

        app = app_create(tenant=self.tenant, name=f"{tag}-app", fcm_service_account=fcm_account)
        for index in range(count):
            user, _ = end_user_register(tenant=self.tenant, external_user_ref=f"{tag}-{index}")
            devices = 1 + index % 2
            for device in range(devices):
                token = fake_fcm_token(tag, 2 * index + device)
                device_register(
                    tenant=self.tenant, end_user=user, app=app, platform="android", device_token=token, country="TG"
                )
            self.puids.append(user.puid)
            self.devices.append(devices)

    def sender_add(self) -> None:
        from sms.models import SenderName, SenderStatus

        SenderName.objects.create(tenant=self.tenant, name=SENDER, status=SenderStatus.APPROVED, is_default=True)


def to_user_body(index: int, puid: str) -> dict:
    return {
        "puid": puid,
        "title": "Your order has shipped",
        "body": f"Parcel TG-{index:06d} left our warehouse and arrives tomorrow.",
        "data": {"order_id": str(index), "url": f"/orders/{index}"},
    }


def route_create(smsc: FakeSmscProcess, *, window: int) -> None:
    import secrets

    from sms.models import RouteKind, SmsRoute

    SmsRoute.objects.create(
        name="bench-smsc", kind=RouteKind.SMPP, host=smsc.host, port=smsc.port, system_id=smsc.system_id,
        secret=smsc.password, window=window, callback_token=secrets.token_urlsafe(24),
    )  # fmt: skip


# --- Measuring helpers --------------------------------------------------------------------


class Ctx:
    """What every measurement needs: the run's processes, environment and web port."""

    def __init__(self, args, procs, env, run_dir) -> None:
        self.args, self.procs, self.env, self.run_dir = args, procs, env, run_dir
        self.port = 0
        self.fake: FakeFcm | None = None

    def meter(self) -> CpuMeter:
        return CpuMeter(self.procs.pgids, self.args.db_name)

    def quiet(self, what: str) -> dict:
        """Wait (up to ``--quiet-each``) for processes outside the bench to go quiet; then the CPU probe."""
        seen = wait_for_quiet(self.meter, limit=self.args.quiet_each)
        if not seen["quiet"]:
            log(f"{what}: other processes still busy ({seen['last_background_cores']} cores); measuring anyway")
        return {**seen, "cpu_probe_ms": cpu_probe_ms()}


class WaitSampler:
    """Every SAMPLE_SECONDS from ``delay`` for ``length`` seconds: the bench database's active
    backends and what they wait on, on a connection of its own."""

    def __init__(self, ctx: Ctx, *, delay: float, length: float) -> None:
        self.ctx, self.delay, self.length = ctx, delay, length
        self.samples = 0
        self.active = 0
        self.waits: dict[str, int] = {}
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> WaitSampler:
        self.thread.start()
        return self

    def _run(self) -> None:
        import psycopg

        args = self.ctx.args
        with psycopg.connect(f"{args.pg_url}/{args.db_name}", autocommit=True) as conn:
            time.sleep(self.delay)
            end = time.monotonic() + self.length
            while time.monotonic() < end:
                rows = conn.execute(
                    "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') FROM pg_stat_activity"
                    " WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()"
                ).fetchall()
                self.samples += 1
                self.active += len(rows)
                for (wait,) in rows:
                    self.waits[wait] = self.waits.get(wait, 0) + 1
                time.sleep(SAMPLE_SECONDS)

    def result(self) -> dict:
        self.thread.join()
        n = max(1, self.samples)
        waits = {k: round(v / n, 2) for k, v in sorted(self.waits.items(), key=lambda kv: -kv[1])}
        return {"samples": self.samples, "active_backends": round(self.active / n, 2), "waiting_on": waits}


def cpu_per_unit(cpu: dict, units: float, *, wall: float | None = None) -> dict[str, float]:
    """Milliseconds of CPU per request or part, per component (cores x wall / units)."""
    wall = cpu["wall_seconds"] if wall is None else wall
    if not units:
        return {}
    return {label: round(1000 * cores * wall / units, 3) for label, cores in cpu["cores_used"].items() if cores >= 0.01}


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def arms_order(arms: list[str], round_index: int) -> list[str]:
    """A, B, then B, A, ... for two arms; a rotation for more: each arm goes first as often."""
    if len(arms) == 2:
        return arms if round_index % 2 == 0 else arms[::-1]
    shift = round_index % len(arms)
    return arms[shift:] + arms[:shift]


def summarize(rounds: list[dict], arms: list[str], key: str, pairs: list[tuple[str, str]]) -> dict:
    """Median, min and max of ``key`` per arm, and for each (priced, free) pair: the ratio of
    medians free/priced, the cost 1 - priced/free, and the median and spread of per-round costs."""
    out: dict = {"arms": {}, "pairs": {}}
    for arm in arms:
        values = [r[arm][key] for r in rounds if r.get(arm) and r[arm].get(key)]
        out["arms"][arm] = {
            "median": median(values),
            "min": min(values) if values else None,
            "max": max(values) if values else None,
            "values": values,
        }
    for priced, free in pairs:
        a, b = out["arms"][priced]["median"], out["arms"][free]["median"]
        per_round = [
            1 - r[priced][key] / r[free][key] for r in rounds if r.get(priced, {}).get(key) and r.get(free, {}).get(key)
        ]
        out["pairs"][f"{priced}/{free}"] = {
            "ratio_free_over_priced": round(b / a, 3) if a and b else None,
            "cost": round(1 - a / b, 3) if a and b else None,
            "cost_per_round": [round(c, 3) for c in per_round],
            "cost_per_round_median": round(median(per_round), 3) if per_round else None,
        }
    return out


# --- 1. push accept -------------------------------------------------------------------------


# What a to-user window writes: each window starts with them vacuumed and analyzed and a
# checkpoint taken, so that neither an autovacuum of one arm's rows nor a checkpoint's
# full-page writes land inside the next arm's window (they did: the arm measured right
# after the other one ran up to 30% slower, whichever it was).
PUSH_TABLES = ("notifications_message", "notifications_inboxentry", "billing_ledgerentry", "billing_billingaccount")


def settle_database() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in PUSH_TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute("CHECKPOINT")


def push_window(ctx: Ctx, tenant: Tenant, what: str) -> dict:
    """One loadgen window against ``tenant`` (push_parts.bench_accept), with the wait sampler."""
    args = ctx.args
    settle_database()
    quiet = ctx.quiet(what)
    bench = Bench(args=args, procs=ctx.procs, env=ctx.env, run_dir=ctx.run_dir, fake=ctx.fake, port=ctx.port)
    bench.key, bench.tenant, bench.puids = tenant.key, tenant.tenant, tenant.puids
    sampler = WaitSampler(ctx, delay=args.warmup + 0.5, length=max(0.5, args.duration - 1.0)).start()
    result = bench_accept(bench)
    result["waits"] = sampler.result()
    result["quiet_wait"] = quiet
    result["cpu_ms_per_request"] = cpu_per_unit(result["cpu_during_window"], result["ok_per_second"], wall=1.0)
    return result


def bench_push(ctx: Ctx, tenants: dict[str, Tenant]) -> dict:
    arms = ["prepaid", "free"]
    rounds = []
    for index in range(ctx.args.rounds):
        row = {}
        for arm in arms_order(arms, index):
            row[arm] = push_window(ctx, tenants[arm], f"push {arm}")
            log(
                f"push accept round {index + 1} {arm}: {row[arm]['ok_per_second']}/s"
                f" (statuses {row[arm]['statuses']}, probe {row[arm]['quiet_wait']['cpu_probe_ms']} ms)"
            )
        rounds.append(row)
    return {"rounds": rounds, "summary": summarize(rounds, arms, "ok_per_second", [("prepaid", "free")])}


# --- 3. contention ---------------------------------------------------------------------------


def contention_window(ctx: Ctx, lines: list[tuple[str, str]], what: str) -> dict:
    args = ctx.args
    spec_file = ctx.run_dir / "contention-requests.jsonl"
    with spec_file.open("w") as handle:
        for key, body in lines:
            handle.write(json.dumps([key, body]) + "\n")
    spec = {
        "url": f"http://127.0.0.1:{ctx.port}/api/push/to-user",
        "requests": str(spec_file),
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "duration": args.duration,
        "max_requests": args.max_requests,
    }
    spec_path = ctx.run_dir / "contention-spec.json"
    spec_path.write_text(json.dumps(spec))
    settle_database()
    quiet = ctx.quiet(what)
    window, cpu = _meter_window(ctx.meter(), args.warmup + 0.5, max(0.5, args.duration - 1.0))
    sampler = WaitSampler(ctx, delay=args.warmup + 0.5, length=max(0.5, args.duration - 1.0)).start()
    client = ctx.procs.start(
        "load generator",
        [python(), "bench/billing_bench.py", "--loadgen-child", str(spec_path)],
        env=ctx.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = client.communicate()
    ctx.procs.children.pop(client.pid, None)
    if client.returncode != 0:
        raise RuntimeError(f"multi-key client failed: {err.decode()[-2000:]}")
    result = json.loads(out)
    window.join()
    result["cpu_during_window"] = cpu
    result["waits"] = sampler.result()
    result["quiet_wait"] = quiet
    result["cpu_ms_per_request"] = cpu_per_unit(cpu, result["ok_per_second"], wall=1.0)
    from softafrik.celery import app as celery_app

    result["tasks_purged"] = celery_app.control.purge()  # the fan-out wake-ups: no worker runs here
    return result


def bench_contention(ctx: Ctx, one: Tenant, spread: list[Tenant], free: Tenant) -> dict:
    """The same bodies and users' count, the same client: one prepaid account, ``--accounts``
    prepaid accounts in rotation, one free account."""
    per = ctx.args.account_users
    n = len(spread)
    # Request i goes to account i % n: consecutive requests (those in flight together) hit
    # different accounts. The one-account and free arms send to the same number of users.
    order = [(i % n, i // n) for i in range(n * per)]
    lines = {
        "one prepaid": [(one.key, json.dumps(to_user_body(i, one.puids[i]))) for i in range(n * per)],
        f"{n} prepaid": [
            (spread[a].key, json.dumps(to_user_body(i, spread[a].puids[u]))) for i, (a, u) in enumerate(order)
        ],
        "one free": [(free.key, json.dumps(to_user_body(i, free.puids[i]))) for i in range(n * per)],
    }
    arms = list(lines)
    rounds = []
    for index in range(ctx.args.rounds):
        row = {}
        for arm in arms_order(arms, index):
            row[arm] = contention_window(ctx, lines[arm], f"contention {arm}")
            log(
                f"contention round {index + 1} {arm}: {row[arm]['ok_per_second']}/s (statuses {row[arm]['statuses']},"
                f" row-lock waiters {row[arm]['waits']['waiting_on'].get('Lock:transactionid', 0)},"
                f" probe {row[arm]['quiet_wait']['cpu_probe_ms']} ms)"
            )
        rounds.append(row)
    pairs = [("one prepaid", f"{n} prepaid"), ("one prepaid", "one free"), (f"{n} prepaid", "one free")]
    return {"rounds": rounds, "summary": summarize(rounds, arms, "ok_per_second", pairs)}


# --- 2. MULDES --------------------------------------------------------------------------------


def muldes_run(ctx: Ctx, tenant: Tenant, numbers: list[str]) -> dict:
    """POST the MULDES; poll until every number is sent, then until the billing consumer has
    passed every sent event (prepaid: reserved back at 0), then until every number is
    delivered and the consumer has passed all of the send's events."""
    from django.db import connection

    from billing.consumer import CONSUMER
    from billing.models import BillingAccount
    from notifications.core.models import EventCursor, StatusEvent
    from sms.models import SmsRecipient

    total = len(numbers)
    events, cursors = StatusEvent._meta.db_table, EventCursor._meta.db_table
    recipients, accounts = SmsRecipient._meta.db_table, BillingAccount._meta.db_table
    with connection.cursor() as cursor:
        for table in (recipients, events, "billing_ledgerentry", "billing_charge"):
            cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute(f"SELECT reserved, spent FROM {accounts} WHERE id = %s", [tenant.account_id])  # noqa: S608
        reserved_before, spent_before = cursor.fetchone()
    quiet = ctx.quiet(f"MULDES {tenant.name}")
    body = {"emetteur": SENDER, "numeros": numbers, "corps": TEXT}
    http = Http(ctx.port, {"X-API-KEY": tenant.key})
    meter = ctx.meter().start()
    started = time.monotonic()
    status, _, data, post_seconds = http.request("POST", "/api/V1/sms/muldes", body)
    http.close()
    if status != 201 or data["rejets"] or data["nbDestinataires"] != total:
        raise RuntimeError(f"MULDES answered {status}: {str(data)[:500]}")
    ref = data["ref"]
    sent_at = settled_at = done_at = None
    timeline = []
    deadline = started + ctx.args.run_timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            cursor.execute(
                f"SELECT count(*) FILTER (WHERE status IN ('sent', 'delivered')),"  # noqa: S608
                f" count(*) FILTER (WHERE status = 'delivered'), count(*) FILTER (WHERE status = 'failed')"
                f" FROM {recipients} WHERE message_id = %s",
                [ref],
            )
            sent, delivered, failed = cursor.fetchone()
            now = time.monotonic() - started
            behind = behind_final = reserved = None
            if sent + failed >= total:
                sent_at = sent_at or now
                # The send's events the billing consumer has not handled yet (ORDER BY/LIMIT
                # keeps it on the (txid, id) index: only the tail past the cursor is read).
                cursor.execute(f"SELECT txid, event_id FROM {cursors} WHERE consumer = %s", [CONSUMER])  # noqa: S608
                position = cursor.fetchone() or (0, 0)
                cursor.execute(
                    f"SELECT count(*), count(*) FILTER (WHERE status IN ('sent', 'failed')) FROM"  # noqa: S608
                    f" (SELECT send_id, status FROM {events} WHERE (txid, id) > (%s, %s) ORDER BY txid, id"
                    f" LIMIT 10000000) e WHERE send_id = %s",
                    [position[0], position[1], ref],
                )
                behind, behind_final = cursor.fetchone()
                cursor.execute(f"SELECT reserved FROM {accounts} WHERE id = %s", [tenant.account_id])  # noqa: S608
                reserved = cursor.fetchone()[0]
                if settled_at is None and behind_final == 0 and (reserved == reserved_before or not tenant.prepaid):
                    settled_at = now
                if settled_at is not None and delivered + failed >= total and behind == 0:
                    done_at = now
            timeline.append((round(now, 2), sent, delivered, failed, behind, reserved))
            if done_at is not None:
                break
    cpu = meter.stop()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT reserved, spent FROM {accounts} WHERE id = %s", [tenant.account_id])  # noqa: S608
        reserved_after, spent_after = cursor.fetchone()
        cursor.execute(
            "SELECT count(*), coalesce(sum(amount), 0), coalesce(sum(quantity), 0) FROM billing_charge"
            " WHERE send_id = %s AND settled",
            [ref],
        )
        charges, charged, charged_parts = cursor.fetchone()
    parts = total  # one part per number
    return {
        "tenant": tenant.name,
        "ref": ref,
        "numbers": total,
        "post_seconds": round(post_seconds, 2),
        "cost_answered": data.get("cout"),
        "all_sent_seconds": None if sent_at is None else round(sent_at, 2),
        "settled_seconds": None if settled_at is None else round(settled_at, 2),
        "done_seconds": None if done_at is None else round(done_at, 2),
        "complete": done_at is not None and not failed,
        "handed_per_second": None if sent_at is None else round(parts / sent_at, 1),
        "settled_per_second": None if settled_at is None else round(parts / settled_at, 1),
        "failed": failed,
        "spent_delta": spent_after - spent_before,
        "reserved_after_minus_before": reserved_after - reserved_before,
        "charges_settled": charges,
        "charged": int(charged),
        "charged_parts": int(charged_parts),
        "cpu": cpu,
        "cpu_ms_per_part": cpu_per_unit(cpu, parts),
        "quiet_wait": quiet,
        "timeline_columns": ["seconds", "sent or delivered", "delivered", "failed", "events behind", "reserved"],
        "timeline": timeline,
    }


def bench_sms(ctx: Ctx, tenants: dict[str, Tenant]) -> dict:
    import redis

    args = ctx.args
    pool, concurrency = args.pool
    redis.Redis.from_url(args.redis_url).delete(args.queue, f"{args.queue}-timers")
    worker_args = [
        "-P", pool, "-c", str(concurrency), "-n", f"billingbench-{pool}@%h",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    sctx = {"procs": ctx.procs, "env": {**ctx.env, "FCM_API_URL": ctx.fake.url}, "run_dir": ctx.run_dir}
    celery_start(sctx, "worker", worker_args, f"worker-{pool}-{concurrency}")
    celery_start(sctx, "beat", [], "beat")
    log(f"worker -P {pool} -c {concurrency} and beat running")
    arms = ["prepaid", "free"]
    rounds, offset = [], 0
    for index in range(args.sms_rounds):
        row = {}
        for arm in arms_order(arms, index):
            numbers = numbers_make(args.numbers, offset)
            offset += args.numbers  # every run to fresh numbers
            numbers_check(numbers)
            run = row[arm] = muldes_run(ctx, tenants[arm], numbers)
            log(
                f"MULDES round {index + 1} {arm}: POST {run['post_seconds']} s; all sent {run['all_sent_seconds']} s ="
                f" {run['handed_per_second']} parts/s; settled {run['settled_seconds']} s = {run['settled_per_second']}"
                f" parts/s; done {run['done_seconds']} s; charged {run['charged']} for {run['charges_settled']} numbers"
            )
        rounds.append(row)
    pairs = [("prepaid", "free")]
    return {
        "pool": args.pool,
        "rounds": rounds,
        "handed": summarize(rounds, arms, "handed_per_second", pairs),
        "settled": summarize(rounds, arms, "settled_per_second", pairs),
    }


# --- The ledger check ------------------------------------------------------------------------


def ledger_check() -> list[dict]:
    """Per account: each book's entries summed against its cached column; the four books'
    sum (0 for a double-entry ledger); prepaid balance >= 0."""
    from django.db import connection

    from accounts.models import Tenant as TenantRow
    from billing.models import BillingAccount, LedgerEntry

    accounts, entries, tenants = (m._meta.db_table for m in (BillingAccount, LedgerEntry, TenantRow))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.id, t.name, a.type, a.balance, a.reserved, a.spent, a.external,"  # noqa: S608 (our tables)
            " coalesce(sum(e.amount) FILTER (WHERE e.book = 'available'), 0),"
            " coalesce(sum(e.amount) FILTER (WHERE e.book = 'reserved'), 0),"
            " coalesce(sum(e.amount) FILTER (WHERE e.book = 'spent'), 0),"
            " coalesce(sum(e.amount) FILTER (WHERE e.book = 'external'), 0), count(e.id)"
            f" FROM {accounts} a JOIN {tenants} t ON t.id = a.tenant_id"
            f" LEFT JOIN {entries} e ON e.account_id = a.id GROUP BY a.id, t.name ORDER BY a.id"
        )
        rows = cursor.fetchall()
    checks = []
    for pk, name, kind, balance, reserved, spent, external, s_av, s_re, s_sp, s_ex, entries in rows:
        cached, summed = (balance, reserved, spent, external), (s_av, s_re, s_sp, s_ex)
        ok = cached == tuple(int(v) for v in summed) and sum(cached) == 0 and (kind != "prepaid" or balance >= 0)
        checks.append(
            {
                "account": pk,
                "tenant": name,
                "type": kind,
                "books": dict(zip(("balance", "reserved", "spent", "external"), cached, strict=True)),
                "entries_summed": dict(
                    zip(("balance", "reserved", "spent", "external"), map(int, summed), strict=True)
                ),
                "entries": entries,
                "ok": ok,
            }
        )
    return checks


def commit_probe(args, commits: int = 500) -> dict:
    """Autocommit UPDATEs of one row of a scratch table from one connection: the commit
    latency (WAL flush included) that bounds transactions taking turns on one row."""
    import psycopg

    with psycopg.connect(f"{args.pg_url}/{args.db_name}", autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_commit_probe (id int PRIMARY KEY, n bigint)")
        conn.execute("INSERT INTO bench_commit_probe VALUES (1, 0) ON CONFLICT DO NOTHING")
        seconds = []
        started = time.perf_counter()
        for _ in range(commits):
            t0 = time.perf_counter()
            conn.execute("UPDATE bench_commit_probe SET n = n + 1 WHERE id = 1")
            seconds.append(time.perf_counter() - t0)
        total = time.perf_counter() - started
        conn.execute("DROP TABLE bench_commit_probe")
    summary = latency_summary(seconds)
    return {"commits": commits, "p50_ms": summary["p50_ms"], "p90_ms": summary["p90_ms"], "per_second": commits / total}


# --- In-process profile of the accept path -------------------------------------------------------


def profile_accept(tenants: dict[str, Tenant], requests: int, run_dir: Path) -> dict:
    """``requests`` to-user POSTs per tenant through Django's test client, in this process:
    CPU per request here and in the PostgreSQL backend, statements and commits per request,
    the billing functions' cumulative time (the whole profile: ``accept-<arm>.pstats``)."""
    import psycopg
    from django.db import connection
    from django.test import Client

    counted: dict[str, int] = {}
    commits = [0]
    originals = {}

    def counting(cls):
        original = cls.execute

        def execute(self, query, *a, **k):
            text = query.as_string(self) if hasattr(query, "as_string") else str(query)
            head = " ".join(text.split()[:6])[:70]
            counted[head] = counted.get(head, 0) + 1
            return original(self, query, *a, **k)

        originals[cls] = original
        cls.execute = execute

    def backend_ticks(pid: int) -> int:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    original_commit = psycopg.Connection.commit

    def commit(self):
        commits[0] += 1
        return original_commit(self)

    out = {}
    for arm in ("prepaid", "free"):
        tenant = tenants[arm]
        client = Client(headers={"X-API-KEY": tenant.key})
        bodies = [json.dumps(to_user_body(i, tenant.puids[i % len(tenant.puids)])) for i in range(requests)]
        for body in bodies[: max(20, requests // 10)]:  # warm-up: caches, prepared statements
            assert client.post("/api/push/to-user", body, content_type="application/json").status_code == 202
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        before, pg_before = time.process_time(), backend_ticks(pid)
        wall = time.perf_counter()
        for body in bodies:
            client.post("/api/push/to-user", body, content_type="application/json")
        wall = time.perf_counter() - wall
        cpu, pg = time.process_time() - before, (backend_ticks(pid) - pg_before) / CLOCK_TICKS
        # Statements and commits, counted on a second pass.
        counted.clear()
        commits[0] = 0
        for cls in (psycopg.Cursor, psycopg.ServerCursor):  # Django's cursors inherit Cursor.execute
            if "execute" in cls.__dict__:
                counting(cls)
        psycopg.Connection.commit = commit
        try:
            for body in bodies[:200]:
                client.post("/api/push/to-user", body, content_type="application/json")
        finally:
            psycopg.Connection.commit = original_commit
            for cls, original in originals.items():
                cls.execute = original
            originals.clear()
        n = min(200, len(bodies))
        statements = {k: round(v / n, 2) for k, v in sorted(counted.items(), key=lambda kv: -kv[1])}
        profiler = cProfile.Profile(time.process_time)  # CPU, not the waits for PostgreSQL
        profiler.enable()
        for body in bodies:
            client.post("/api/push/to-user", body, content_type="application/json")
        profiler.disable()
        profiler.dump_stats(run_dir / f"accept-{arm}.pstats")
        stats = pstats.Stats(profiler)
        functions = []
        for (filename, line, name), (_, calls, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
            rel = os.path.relpath(filename, ROOT)
            if rel.startswith(("billing/", "notifications/push/", "softafrik/dialects/softafrik/push", "sms/pricing")):
                functions.append((f"{rel}:{line} {name}", round(1000 * cumulative / len(bodies), 3), calls))
        functions.sort(key=lambda item: -item[1])
        out[arm] = {
            "requests": len(bodies),
            "python_cpu_ms_per_request": round(1000 * cpu / len(bodies), 3),
            "postgres_cpu_ms_per_request": round(1000 * pg / len(bodies), 3),
            "wall_ms_per_request": round(1000 * wall / len(bodies), 3),
            "statements_per_request": statements,
            "statements_total_per_request": round(sum(statements.values()), 2),
            "commits_per_request": round(commits[0] / n, 2),
            "functions_cumulative_cpu_ms_per_request": functions[:15],
        }
        log(
            f"profile {arm}: {out[arm]['python_cpu_ms_per_request']} ms Python + {out[arm]['postgres_cpu_ms_per_request']}"
            f" ms PostgreSQL per request, {out[arm]['statements_total_per_request']} statements,"
            f" {out[arm]['commits_per_request']} commits"
        )
    return out


# --- Report -------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _rate(summary: dict, arm: str, unit: str = "/s") -> str:
    s = summary["arms"][arm]
    if s["median"] is None:
        return "n/a"
    return f"{s['median']:,.0f}{unit} ({s['min']:,.0f}-{s['max']:,.0f})"


def _cost_line(summary: dict, pair: str) -> str:
    p = summary["pairs"][pair]
    per = ", ".join(f"{100 * c:.1f}" for c in p["cost_per_round"])
    return (
        f"free/priced {p['ratio_free_over_priced']}, cost {_pct(p['cost'])};"
        f" per round {per} % (median {_pct(p['cost_per_round_median'])})"
    )


def _verdict(cost: float | None) -> str:
    return "MISS" if cost is None or cost > TARGET_COST else "PASS"


def _mean_of(rounds: list[dict], arm: str, getter) -> dict[str, float]:
    """The mean over rounds of a per-component dict (CPU ms per unit)."""
    sums: dict[str, list[float]] = {}
    for row in rounds:
        if arm not in row:
            continue
        for label, value in getter(row[arm]).items():
            sums.setdefault(label, []).append(value)
    return {label: round(statistics.mean(values), 3) for label, values in sums.items()}


def _cpu_text(
    values: dict[str, float], keep=("gunicorn", "celery worker", "celery beat", "postgresql", "redis")
) -> str:
    parts = [f"{label} {values[label]:.3f}" for label in keep if label in values]
    return ", ".join(parts) + " ms"


def _background(rounds: list[dict], arm: str, key: str = "cpu_during_window") -> str:
    values = [row[arm][key]["background_cores"] for row in rounds if arm in row]
    probes = [row[arm]["quiet_wait"]["cpu_probe_ms"] for row in rounds if arm in row]
    return f"other load {min(values):.2f}-{max(values):.2f} cores, CPU probe {min(probes):.0f}-{max(probes):.0f} ms"


def report(results: dict) -> str:
    machine, setup = results["machine"], results["setup"]
    pg = machine["postgresql_settings"]
    lines = [
        "",
        "Machine: {cores} cores, {cpu_model}, {ram_gib} GiB RAM, Linux {kernel}".format(**machine),
        f"Software: Python {machine['python']}, Django {machine['django']}, PostgreSQL {machine['postgresql']}"
        f" (shared_buffers {pg['shared_buffers']}, synchronous_commit {pg['synchronous_commit']}), Redis {machine['redis']},"
        f" gunicorn {machine['gunicorn']}, Celery {machine['celery']}",
        f"Code: commit {setup['code']['commit']}{' (tree modified: ' + ', '.join(setup['code']['modified']) + ')' if setup['code']['modified'] else ''}",
        f"Web: {setup['gunicorn']}; {setup['concurrency']} client connections; SMS worker -P {setup['pool']}, beat"
        f" every {setup['beat_seconds']} s",
        f"Command: {setup['command']}",
        f"CPU probe (sum(range(10**7)) in the driver) at the start: {results['cpu_probe_ms_start']} ms",
    ]
    push = results.get("push")
    if push:
        s = push["summary"]
        lines += [
            "",
            f"1. POST /api/push/to-user accepted/s, {len(push['rounds'])} rounds, median (min-max):",
            f"   prepaid, {setup['push_price']} minor unit(s) per device: {_rate(s, 'prepaid')};"
            f" {_background(push['rounds'], 'prepaid')}",
            f"   free postpaid:                      {_rate(s, 'free')}; {_background(push['rounds'], 'free')}",
            f"   {_cost_line(s, 'prepaid/free')}  target cost <= {100 * TARGET_COST:.0f}%:"
            f" {_verdict(s['pairs']['prepaid/free']['cost'])}",
        ]
        for arm in ("prepaid", "free"):
            cpu = _mean_of(push["rounds"], arm, lambda r: r["cpu_ms_per_request"])
            waits = _mean_of(push["rounds"], arm, lambda r: r["waits"]["waiting_on"])
            lines.append(f"   CPU per request, {arm}: {_cpu_text(cpu)}; PostgreSQL backends active, by wait: {waits}")
    contention = results.get("contention")
    if contention:
        s = contention["summary"]
        arms = list(s["arms"])
        lines += ["", f"3. {setup['concurrency']} clients, priced to-user, accepted/s, median (min-max):"]
        for arm in arms:
            lines.append(f"   {arm:<12} {_rate(s, arm)}; {_background(contention['rounds'], arm)}")
        for pair in s["pairs"]:
            lines.append(f"   {pair}: {_cost_line(s, pair)}")
        for arm in arms:
            cpu = _mean_of(contention["rounds"], arm, lambda r: r["cpu_ms_per_request"])
            waits = _mean_of(contention["rounds"], arm, lambda r: r["waits"]["waiting_on"])
            lines.append(f"   CPU per request, {arm}: {_cpu_text(cpu)}; backends by wait: {waits}")
            statuses: dict[str, int] = {}
            for row in contention["rounds"]:
                for code, count in row[arm]["statuses"].items():
                    statuses[code] = statuses.get(code, 0) + count
            lines.append(f"     answers over all rounds: {statuses}")
    sms = results.get("sms")
    if sms:
        h, st = sms["handed"], sms["settled"]
        lines += [
            "",
            f"2. MULDES of {setup['numbers']:,} one-part numbers to the fake SMSC, {len(sms['rounds'])} rounds,"
            " median (min-max):",
            f"   handed to the SMSC: prepaid {_rate(h, 'prepaid', ' parts/s')}, free {_rate(h, 'free', ' parts/s')}",
            f"     {_cost_line(h, 'prepaid/free')}  target: {_verdict(h['pairs']['prepaid/free']['cost'])}",
            f"   until settled:      prepaid {_rate(st, 'prepaid', ' parts/s')}, free {_rate(st, 'free', ' parts/s')}",
            f"     {_cost_line(st, 'prepaid/free')}  target: {_verdict(st['pairs']['prepaid/free']['cost'])}",
        ]
        for arm in ("prepaid", "free"):
            runs = [row[arm] for row in sms["rounds"]]
            posts = ", ".join(f"{r['post_seconds']}" for r in runs)
            lag = ", ".join(
                f"{r['settled_seconds'] - r['all_sent_seconds']:.2f}" for r in runs if r["settled_seconds"] is not None
            )
            cpu = _mean_of(sms["rounds"], arm, lambda r: r["cpu_ms_per_part"])
            lines.append(
                f"   {arm}: POST {posts} s; settled after all sent +{lag} s; {_background(sms['rounds'], arm, 'cpu')}"
            )
            lines.append(f"     CPU per part (POST to done): {_cpu_text(cpu)}")
            lines.append(
                "     charged: "
                + "; ".join(
                    f"{r['charges_settled']:,} numbers, {r['charged']:,} minor units, spent +{r['spent_delta']:,},"
                    f" reserved {r['reserved_after_minus_before']:+}, failed {r['failed']}"
                    for r in runs
                )
            )
    probe = results.get("commit_probe")
    if probe:
        lines += [
            "",
            f"One-row commit probe (one connection, autocommit UPDATE of one row, {probe['commits']} times):"
            f" p50 {probe['p50_ms']} ms, p90 {probe['p90_ms']} ms = {probe['per_second']:,.0f} commits/s:"
            " the ceiling of transactions that take turns on one row and wait for their commit's WAL flush",
        ]
    profile = results.get("profile")
    if profile:
        lines += ["", "Accept path in one process (Django test client; functions: cumulative CPU time, cProfile):"]
        for arm, p in profile.items():
            lines.append(
                f"   {arm}: {p['python_cpu_ms_per_request']} ms Python + {p['postgres_cpu_ms_per_request']} ms PostgreSQL"
                f" per request; {p['statements_total_per_request']} statements, {p['commits_per_request']} commits:"
                f" {p['statements_per_request']}"
            )
            for name, ms, calls in p["functions_cumulative_cpu_ms_per_request"][:8]:
                lines.append(f"      {ms:7.3f} ms  {name} ({calls} calls)")
    checks = results.get("ledger_check") or []
    bad = [c for c in checks if not c["ok"]]
    lines += [
        "",
        f"Ledger check, {len(checks)} accounts: {'every book = the sum of its entries, the books sum to 0, no prepaid balance below 0' if not bad else 'FAILED'}",
    ]
    for c in checks if bad else checks[:4]:
        lines.append(
            f"   {c['tenant']} ({c['type']}): books {c['books']}; entries {c['entries_summed']} ({c['entries']} entries)"
            f" {'ok' if c['ok'] else 'MISMATCH'}"
        )
    if not bad and len(checks) > 4:
        lines.append(f"   ... and {len(checks) - 4} more, all ok")
    return "\n".join(lines)


def code_version() -> dict:
    def git(*command: str) -> str:
        return subprocess.run(["git", *command], cwd=ROOT, capture_output=True, text=True).stdout

    commit = git("rev-parse", "--short", "HEAD").strip()
    if not commit:  # a snapshot (git archive) outside the repository says where it came from
        stamp = ROOT / "COMMIT"
        commit = stamp.read_text().strip() if stamp.exists() else "unknown"
    modified = [line[3:] for line in git("status", "--short", "--untracked-files=no").splitlines()]
    return {"commit": commit, "modified": modified}


def main() -> None:
    args = parse_args()
    if args.loadgen_child:
        json.dump(asyncio.run(_multi_key_load(json.loads(args.loadgen_child.read_text()))), sys.stdout)
        sys.stdout.write("\n")
        return
    exit_on_sigterm()
    run_dir = RESULTS / "billing-run"
    started = time.monotonic()
    code, started_at = code_version(), datetime.now(UTC).isoformat(timespec="seconds")
    with bench_platform(args, run_dir=run_dir, queue=args.queue) as (procs, env, machine):
        from django.conf import settings

        ctx = Ctx(args, procs, env, run_dir)
        ctx.fake = FakeFcm(procs, env, run_dir)
        smsc = FakeSmscProcess(procs, env, run_dir, front_door=False, receipt_delay=0.0)
        route_create(smsc, window=args.window)
        seed_started = time.monotonic()
        price = {"push_price": args.push_price, "sms_price": args.sms_price}
        free = {"push_price": 0, "sms_price": 0}
        push = {
            "prepaid": Tenant("push prepaid", prepaid=True, **price),
            "free": Tenant("push free", prepaid=False, **free),
        }
        sms = {
            "prepaid": Tenant("sms prepaid", prepaid=True, **price),
            "free": Tenant("sms free", prepaid=False, **free),
        }
        for tag, tenant in (("pa", push["prepaid"]), ("pb", push["free"])):
            tenant.users_add(count=args.users, fcm_account=ctx.fake.account, tag=tag)
        for tenant in sms.values():
            tenant.sender_add()
        contention = {}
        if "contention" in args.parts:
            total = args.accounts * args.account_users
            one = Tenant("contention one", prepaid=True, **price)
            one.users_add(count=total, fcm_account=ctx.fake.account, tag="co")
            spread = []
            for index in range(args.accounts):
                tenant = Tenant(f"contention {index:02d}", prepaid=True, **price)
                tenant.users_add(count=args.account_users, fcm_account=ctx.fake.account, tag=f"c{index:02d}x")
                spread.append(tenant)
            cfree = Tenant("contention free", prepaid=False, **free)
            cfree.users_add(count=total, fcm_account=ctx.fake.account, tag="cf")
            contention = {"one": one, "spread": spread, "free": cfree}
        seeded = time.monotonic() - seed_started
        log(f"tenants, accounts, tariffs, users and devices made through the services in {seeded:.0f} s")
        from django.db import connection

        with connection.cursor() as cursor:
            # Statistics, as a production database has them: taking the fresh tables for empty,
            # the planner had the device count of a priced push scan every user of the tenant
            # for each of its devices (10 ms of PostgreSQL CPU per request, seen in a run).
            cursor.execute("ANALYZE")
        sctx = {"args": args, "procs": procs, "env": env, "run_dir": run_dir, "key": push["free"].key}
        gunicorn = gunicorn_start(sctx)
        ctx.port = sctx["port"]
        log(f"{gunicorn} on 127.0.0.1:{ctx.port}")
        results: dict = {
            "started_at": started_at,
            "machine": machine,
            "cpu_probe_ms_start": cpu_probe_ms(),
            "setup": {
                "command": " ".join([".venv/bin/python", "bench/billing_bench.py", *sys.argv[1:]]),
                "code": code,
                "gunicorn": gunicorn,
                "concurrency": args.concurrency,
                "pool": f"{args.pool[0]}:{args.pool[1]}",
                "beat_seconds": settings.BEAT_SWEEP_SECONDS,
                "billing_cache_seconds": settings.BILLING_CACHE_SECONDS,
                "numbers": args.numbers,
                "push_price": args.push_price,
                "sms_price": args.sms_price,
                "users": args.users,
                "devices_per_user": "1 or 2 (alternately)",
            },
        }
        results["commit_probe"] = commit_probe(args)
        if args.profile:
            results["profile"] = profile_accept(push, args.profile, run_dir)
        if "push" in args.parts:
            results["push"] = bench_push(ctx, push)
        if contention:
            results["contention"] = bench_contention(ctx, contention["one"], contention["spread"], contention["free"])
        _, dropped = to_user_backlog_trim(keep=0)  # no fan-out of part 1's and 3's pushes in part 2
        results["push_backlog_dropped"] = dropped
        if "sms" in args.parts:
            results["sms"] = bench_sms(ctx, sms)
        results["ledger_check"] = ledger_check()
        results_write(args, results, report, started=started, run_dir=run_dir)


if __name__ == "__main__":
    main()
