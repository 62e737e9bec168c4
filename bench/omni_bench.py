"""SoftAfrik omni benchmark: 10,000 destinations through push → SMS, half the devices confirming.

    .venv/bin/python bench/omni_bench.py                                   # the issue's run, 1-2 min on 2 cores
    .venv/bin/python bench/omni_bench.py --destinations 2000 --batch 500   # smoke, ~40 s

The platform runs as in production on a PostgreSQL database created fresh for the run
(``--db-name``, dropped at the end unless ``--keep-db``): gunicorn serving
``softafrik.wsgi``, Redis as broker, ``celery -A softafrik worker`` processes
(``--pools``) and exactly one ``beat`` with ``BEAT_SWEEP_SECONDS=1`` (the omni tick: status
events, then due timers). The fake FCM (``fakes.fcm``) and the fake SMSC (``fakes.smsc``,
SMPP, receipts on) each run in a process of their own that also notes when every push and
every ``submit_sm`` reached it. Set-up: a tenant, an app with FCM credentials the fake
accepts, ``--destinations`` end users each with a phone and one Android device (bulk
inserts), an approved SMS sender and an SMPP route to the fake, and the scenario
``[{push, appCode, timeout: --timeout}, {sms, from}]``.

1. Accept: ``POST /omni/v1/messages`` with the scenario, ``--batch`` destinations
   (``{"userId": ...}``) per request over ``--connections`` keep-alive connections, until
   every destination is accepted: destinations/s, requests/s, latency p50/p99 per request.
   The workers run meanwhile (the pushes must reach the devices within the timeout).
2. Confirm: as the app would, ``POST /api/push/delivered {id: sa_message_id,
   device_token}`` for every second device (``--confirm-fraction``) as soon as its push
   reached the fake FCM, ``--confirm-connections`` confirmations at a time.
3. Wait until every destination is final (delivered by push or by SMS receipt), then
   check: the SMSC got one SMS for exactly the destinations whose push step timed out,
   none twice; no step timed out whose confirmation was answered before its due time
   (``started_at + timeout``; ``due_at`` is cleared when a step ends); and the issue's
   figure, SMS count = destinations that never confirm (true when every confirmation
   made it before its due time). Reports the timer lag of every timed-out push step
   (``ended_at`` − due time) and the time from due to its SMS at the SMSC, p50/p99/max.

Diagnostics, in the JSON: every omni tick the workers ran (when, how long, events
handled, steps timed out; the workers log each task for this), and every 0.5 s the
engine's event consumer (events past its cursor, those a running transaction still
hides, the oldest writing transaction of the database). ``--timeout 30`` gives the pushes
time to reach most devices on a small machine, so nearly every confirmation is in time.

Prints the machine, a report and a one-line JSON summary, and writes everything to
``bench/results/omni.json``. Every process it starts is stopped on exit, on Ctrl-C and on
error.
"""

from __future__ import annotations

import argparse
import itertools
import json
import queue
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fcm_ceiling import fake_fcm_token
from bench.harness import (
    ROOT,
    CpuMeter,
    Http,
    Processes,
    bench_platform,
    exit_on_sigterm,
    python,
    results_write,
)
from bench.loadgen import latency_summary, percentile
from bench.push_parts import cpu_probe_ms
from bench.sms_bench import celery_start, gunicorn_start, numbers_check, numbers_make, wait_quiet

RESULTS = ROOT / "bench" / "results"
QUEUE = "softafrik_omnibench"  # a queue of its own: no other worker on this Redis takes our tasks
POLL_SECONDS = 0.5
DRAIN_SECONDS = 0.05  # how often the driver asks the fakes what reached them
SENDER = "SoftAfrik"
PUSH_FROM = "Bench Bank"
PUSH_TEXT = "Votre code de connexion: 482913"
SMS_TEXT = "Bench Bank: votre code de connexion est 482913"  # GSM-7, 1 part
TOKEN_PREFIX = "omni"
SETTLE_SECONDS = 3.0  # after every destination is final: time for a stray second SMS to show
STALL_SECONDS = 60.0  # nothing changed for this long: give up waiting


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--destinations", type=int, default=10_000, help="people, one phone and one device each")
    parser.add_argument("--batch", type=int, default=1_000, help="destinations per POST /omni/v1/messages")
    parser.add_argument("--timeout", type=int, default=10, help="the push step's timeout, seconds")
    parser.add_argument("--confirm-fraction", type=float, default=0.5, help="share of devices that confirm")
    parser.add_argument("--connections", type=int, default=2, help="client connections for the accepts")
    parser.add_argument("--confirm-connections", type=int, default=8, help="confirmations in flight at once")
    parser.add_argument("--pools", default="prefork:2", help="worker processes, pool:concurrency,... (all at once)")
    parser.add_argument(
        "--timers-worker",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a worker of its own for the timers queue (omni ticks, fallback SMS), as docker-compose runs it",
    )
    parser.add_argument("--beat-seconds", type=float, default=1.0, help="BEAT_SWEEP_SECONDS of every process")
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--gunicorn-threads", type=int, default=4)
    parser.add_argument("--wait-quiet", type=float, default=30.0, help="seconds to wait for other CPU users first")
    parser.add_argument("--run-timeout", type=float, default=420.0, help="give up waiting for the outcome after this")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432", help="server, without database")
    parser.add_argument("--db-name", default="softafrik_omnibench", help="dropped and created for the run")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--keep-db", action="store_true", help="leave the bench database after the run")
    parser.add_argument("--output", type=Path, default=RESULTS / "omni.json")
    parser.add_argument("--fake-child", choices=["fcm", "smsc"], help=argparse.SUPPRESS)  # internal
    parser.add_argument("--account-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.pools = [(pool, int(n)) for pool, n in (item.split(":") for item in args.pools.split(","))]
    return args


# --- The fakes, each in a process of its own, noting when each send reached it --------------


def fake_child(args: argparse.Namespace) -> None:
    """Run the fake FCM or SMSC; print one JSON hello line, then answer ``drain`` (what
    reached it since the last drain, with the wall-clock time) and ``stats`` on stdin."""
    seen: list[list] = []
    lock = threading.Lock()
    if args.fake_child == "fcm":
        from fakes.fcm import FakeFcmServer, make_service_account

        class NotingFcm(FakeFcmServer):
            def _answer_send(self, project, authorization, body):
                answer = super()._answer_send(project, authorization, body)
                if answer[0] == 200:
                    message = json.loads(body)["message"]
                    with lock:
                        seen.append([message["token"], message.get("data", {}).get("sa_message_id"), time.time()])
                return answer

        server = NotingFcm(record=False).start()
        account = make_service_account(server, project_id="omni-bench")
        args.account_file.write_text(json.dumps(account))
        args.account_file.chmod(0o600)
        hello = {"url": server.url}

        def stats() -> dict:
            return {"accepted": server.accepted, "send_requests": server.send_requests}
    else:
        from fakes.smsc import FakeSmsc

        class NotingSmsc(FakeSmsc):
            def _answer(self, event):
                with lock:
                    seen.append([event.destination_addr, time.time()])
                super()._answer(event)

        server = NotingSmsc(system_id="bench", password="bench8pw", front_door=False).start()
        hello = {"host": server.host, "port": server.port, "system_id": server.system_id, "password": server.password}

        def stats() -> dict:
            with server._lock:  # the fake's own lock; counts without copying the lists
                return {"received": len(server._received), "receipts": len(server._receipts)}

    print(json.dumps(hello), flush=True)
    drained = 0
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "drain":
                with lock:
                    batch, drained = seen[drained:], len(seen)
                print(json.dumps(batch), flush=True)
            elif command == "stats":
                print(json.dumps(stats()), flush=True)
            elif command == "quit":
                break
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


class FakeProcess:
    """A fake child of this script; ``ask()`` is called from one thread at a time."""

    def __init__(self, procs: Processes, env: dict, run_dir: Path, kind: str, extra: list[str]) -> None:
        command = [python(), "bench/omni_bench.py", "--fake-child", kind, *extra]
        self.proc = procs.start(
            f"fake {kind}", command, env=env, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=(run_dir / f"fake-{kind}.log").open("ab"),
        )  # fmt: skip
        self.hello = json.loads(self.proc.stdout.readline())
        self.lock = threading.Lock()

    def ask(self, command: str):
        with self.lock:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
            return json.loads(self.proc.stdout.readline())


# --- Set-up -------------------------------------------------------------------------------


def seed_platform(ctx: dict) -> None:
    """Tenant and key, app (FCM credentials of the fake), approved sender, SMPP route,
    ``--destinations`` users with a phone and an Android device each, the scenario."""
    from accounts.services import tenant_create
    from devices.models import Device, EndUser
    from devices.services import app_create
    from devices.tokens import token_hash
    from scenarios.services import scenario_create
    from sms.models import RouteKind, SenderName, SenderStatus, SmsRoute

    args, smsc = ctx["args"], ctx["smsc"].hello
    tenant, issued = tenant_create(name="Bench Bank", default_region="TG")
    app = app_create(tenant=tenant, name="bench-omni", fcm_service_account=ctx["fcm_account"])
    SenderName.objects.create(tenant=tenant, name=SENDER, status=SenderStatus.APPROVED, is_default=True)
    SmsRoute.objects.create(
        name="bench-smsc", kind=RouteKind.SMPP, host=smsc["host"], port=smsc["port"], system_id=smsc["system_id"],
        secret=smsc["password"], callback_token="omni-bench-route",
    )  # fmt: skip
    phones = numbers_make(args.destinations)
    numbers_check(phones)
    started = time.perf_counter()
    users = EndUser.objects.bulk_create(
        [
            EndUser(tenant=tenant, puid=f"sa_{tenant.pk}_o{i:07d}", external_user_ref=f"cust-{i}", phone=phones[i])
            for i in range(args.destinations)
        ],
        batch_size=2000,
    )
    tokens = [fake_fcm_token(TOKEN_PREFIX, i) for i in range(args.destinations)]
    Device.objects.bulk_create(
        [
            Device(
                tenant=tenant,
                app=app,
                end_user=user,
                platform="android",
                token=token,
                token_hash=token_hash(token),
                device_uid=f"uid-{i}",
                country="TG",
            )
            for i, (user, token) in enumerate(zip(users, tokens, strict=True))
        ],
        batch_size=2000,
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE devices_enduser")
        cursor.execute("ANALYZE devices_device")
    flow = [
        {"channel": "push", "from": PUSH_FROM, "appCode": app.code, "timeout": args.timeout},
        {"channel": "sms", "from": SENDER},
    ]
    scenario = scenario_create(tenant=tenant, name="push then SMS", flow=flow)
    ctx.update(tenant=tenant, key=issued.plaintext, scenario=scenario, phones=phones, tokens=tokens)
    ctx["seed_seconds"] = round(time.perf_counter() - started, 2)


def confirms(index: int, fraction: float) -> bool:
    """Whether person ``index``'s device confirms: evenly spread (every second one at 0.5)."""
    return int((index + 1) * fraction) > int(index * fraction)


# --- The app side: confirm each push that reached the fake FCM ----------------------------


class Confirmer:
    """A thread drains the fakes every DRAIN_SECONDS; each push to a confirming device goes
    to ``connections`` threads that POST /api/push/delivered, each on its own keep-alive
    connection. Everything seen is kept, with wall-clock times, for the analysis."""

    def __init__(self, ctx: dict) -> None:
        self.ctx = ctx
        self.fcm: dict[int, tuple[str, float]] = {}  # person index -> (sa_message_id, reached FCM)
        self.fcm_repeats = 0  # a second push to the same device
        self.smsc: list[tuple[str, float]] = []  # (destination, time)
        self.confirmed: dict[int, tuple[int, float]] = {}  # person index -> (HTTP status, answered)
        self.confirm_seconds: list[float] = []  # each POST /api/push/delivered, send to answer
        self.todo: queue.Queue = queue.Queue()
        self.stopping = threading.Event()
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._drain, daemon=True, name="drain")]
        for n in range(ctx["args"].confirm_connections):
            self.threads.append(threading.Thread(target=self._confirm, daemon=True, name=f"confirm-{n}"))

    def start(self) -> Confirmer:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=10)
        self._drain_once()

    def _drain_once(self) -> None:
        fraction = self.ctx["args"].confirm_fraction
        for token, message_id, at in self.ctx["fcm"].ask("drain"):
            index = int(token[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + 9])
            if index in self.fcm:
                self.fcm_repeats += 1
                continue
            self.fcm[index] = (message_id, at)
            if confirms(index, fraction):
                self.todo.put((index, token, message_id))
        self.smsc.extend((destination, at) for destination, at in self.ctx["smsc"].ask("drain"))

    def _drain(self) -> None:
        while not self.stopping.is_set():
            try:
                self._drain_once()
            except Exception as exc:  # reported, and the run goes on
                self.errors.append(f"drain: {exc!r}")
            time.sleep(DRAIN_SECONDS)

    def _confirm(self) -> None:
        http = Http(self.ctx["port"], {"X-API-KEY": self.ctx["key"]})
        while not self.stopping.is_set():
            try:
                index, token, message_id = self.todo.get(timeout=0.2)
            except queue.Empty:
                continue
            status = 0
            for _ in range(3):  # a 404 would mean the delivery row is not visible yet
                try:
                    body = {"id": message_id, "device_token": token}
                    status, _, _, seconds = http.request("POST", "/api/push/delivered", body)
                    self.confirm_seconds.append(seconds)
                except OSError as exc:
                    self.errors.append(f"confirm {index}: {exc!r}")
                    status = -1
                if status == 200:
                    break
                time.sleep(0.2)
            self.confirmed[index] = (status, time.time())
        http.close()


class HorizonSampler:
    """Every POLL_SECONDS, on a connection of its own: where the engine's event consumer
    stands (its cursor, the events past it, those a running transaction still hides) and
    the oldest transaction of this database holding a transaction id. The evidence when a
    receipt loses to its timer."""

    def __init__(self, ctx: dict) -> None:
        self.ctx = ctx
        self.samples: list[list] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="horizon")

    def start(self) -> HorizonSampler:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        from django.db import connection

        from notifications.core import events
        from notifications.core.models import EventCursor, StatusEvent

        table, cursors = StatusEvent._meta.db_table, EventCursor._meta.db_table
        try:
            with connection.cursor() as cursor:
                while not self.stopping.wait(POLL_SECONDS):
                    edge = events.events_horizon().txid
                    cursor.execute(
                        "SELECT c.txid, c.event_id, (SELECT count(*) FROM"  # noqa: S608
                        f" {table} e WHERE (e.txid, e.id) > (c.txid, c.event_id)), (SELECT count(*) FROM {table} e"
                        " WHERE (e.txid, e.id) > (c.txid, c.event_id) AND e.txid >= %s)"
                        f" FROM {cursors} c WHERE c.consumer = 'scenarios'",
                        [edge],
                    )
                    row = cursor.fetchone() or (None, None, None, None)
                    cursor.execute(
                        "SELECT extract(epoch FROM now() - xact_start), pid, state, left(query, 80) FROM"
                        " pg_stat_activity WHERE datname = current_database() AND backend_xid IS NOT NULL"
                        " AND pid <> pg_backend_pid() ORDER BY xact_start LIMIT 1"
                    )
                    oldest = cursor.fetchone()
                    at = round(time.monotonic() - self.ctx["t0"], 2)
                    self.samples.append([at, edge, *row, *(oldest or (None, None, None, None))])
        finally:
            connection.close()

    def summary(self) -> dict:
        hidden = [s[5] for s in self.samples if s[5] is not None]
        oldest = [s for s in self.samples if s[6] is not None]
        worst = max(oldest, key=lambda s: s[6], default=None)
        return {
            "samples": len(self.samples),
            "max_events_behind": max((s[4] for s in self.samples if s[4] is not None), default=None),
            "max_events_hidden_by_a_running_transaction": max(hidden, default=None),
            "oldest_write_transaction": None if worst is None else {
                "at": worst[0], "age_s": round(float(worst[6]), 2), "state": worst[8], "query": worst[9]},
            "columns": ["s from first POST", "horizon", "cursor txid", "cursor id", "events behind",
                        "behind and hidden", "oldest xact age s", "pid", "state", "query"],
            "timeline": self.samples,
        }  # fmt: skip


def ticks_read(run_dir: Path, t0_wall: float) -> dict:
    """The omni ticks as the workers logged them (CELERY_TASK_LOG_LEVEL=INFO): when each
    finished, how long it ran, what it did; the longest gap between two ends, and the
    longest tick (seconds from the first POST)."""
    pattern = re.compile(
        r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*scenarios\.tasks\.omni_tick\[[^]]+\] succeeded in ([\d.]+)s: (.*)$"
    )
    ticks = []
    lines = [line for path in run_dir.glob("worker-*.log") for line in path.read_text(errors="replace").splitlines()]
    for line in lines:
        match = pattern.match(line)
        if match:
            at = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=UTC).timestamp()
            result = json.loads(match.group(3).replace("'", '"'))
            ticks.append([at, float(match.group(2)), result.get("events", 0), result.get("timed_out", 0)])
    ticks.sort()
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(ticks)]
    widest = max(itertools.pairwise(ticks), key=lambda pair: pair[1][0] - pair[0][0], default=None)
    longest = max(ticks, key=lambda tick: tick[1], default=None)
    return {
        "ticks": len(ticks),
        "widest_gap_s_from_first_post": None
        if widest is None
        else [round(widest[0][0] - t0_wall, 2), round(widest[1][0] - t0_wall, 2)],
        "longest_tick": None
        if longest is None
        else {
            "ended_s_from_first_post": round(longest[0] - t0_wall, 2),
            "ran_s": round(longest[1], 2),
            "events": longest[2],
            "timed_out": longest[3],
        },
        "duration": seconds_summary([t[1] for t in ticks]),
        "gap_between_ends": seconds_summary(gaps),
        "columns": ["ended (epoch s)", "ran s", "events", "timed out"],
        "timeline": ticks,
    }


# --- 1. Accept ----------------------------------------------------------------------------


def accept_all(ctx: dict) -> dict:
    """POST every batch over ``--connections`` threads; the workers run meanwhile."""
    args = ctx["args"]
    batches = [range(s, min(s + args.batch, args.destinations)) for s in range(0, args.destinations, args.batch)]
    pending = iter(batches)
    lock = threading.Lock()
    answers: list[dict] = []
    failures: list[str] = []

    def client() -> None:
        http = Http(ctx["port"], {"Authorization": f"Bearer {ctx['key']}"})
        while True:
            with lock:
                batch = next(pending, None)
            if batch is None:
                break
            body = {
                "scenarioKey": ctx["scenario"].key,
                "from": PUSH_FROM,
                "pushContent": {"text": PUSH_TEXT},
                "smsContent": {"text": SMS_TEXT},
                "destinations": [{"userId": f"cust-{i}"} for i in batch],
            }
            sent_at = time.time()
            try:
                status, _, data, seconds = http.request("POST", "/omni/v1/messages", body)
            except OSError as exc:
                failures.append(f"batch {batch.start}: {exc!r}")
                continue
            ok = status == 200 and len(data["destinations"]) == len(batch) and data["devicesCount"] == len(batch)
            with lock:
                answers.append({"first": batch.start, "size": len(batch), "status": status, "seconds": seconds,
                                "sent_at": sent_at, "ok": ok, "message_id": (data or {}).get("messageId")})  # fmt: skip
            if not ok:
                failures.append(f"batch {batch.start}: {status} {str(data)[:300]}")
        http.close()

    meter = ctx["meter"]().start()
    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(min(args.connections, len(batches)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    cpu = meter.stop()
    accepted = sum(a["size"] for a in answers if a["ok"])
    return {
        "requests": len(answers),
        "batch": args.batch,
        "connections": args.connections,
        "accepted_destinations": accepted,
        "seconds": round(elapsed, 2),
        "destinations_per_second": round(accepted / elapsed, 1),
        "requests_per_second": round(sum(1 for a in answers if a["ok"]) / elapsed, 2),
        "latency": latency_summary([a["seconds"] for a in answers]),
        "failures": failures,
        "answers": answers,
        "cpu": cpu,
    }


# --- 2 and 3. Wait for the outcome, then check it -----------------------------------------


def outcome_wait(ctx: dict) -> dict:
    """One query every POLL_SECONDS until every destination is final (then SETTLE_SECONDS
    more), nothing changed for STALL_SECONDS, or ``--run-timeout``."""
    from django.db import connection

    from scenarios.models import OmniDestination

    args, confirmer = ctx["args"], ctx["confirmer"]
    table = OmniDestination._meta.db_table
    started, timeline, last, changed, final_at = time.monotonic(), [], None, time.monotonic(), None
    with connection.cursor() as cursor:
        while time.monotonic() - started < args.run_timeout:
            time.sleep(POLL_SECONDS)
            cursor.execute(
                f"SELECT count(*) FILTER (WHERE status IN ('delivered', 'failed')), count(*) FILTER (WHERE channel = 'sms')"  # noqa: S608
                f" FROM {table} WHERE tenant_id = %s",
                [ctx["tenant"].pk],
            )
            final, on_sms = cursor.fetchone()
            now = time.monotonic()
            row = (final, on_sms, len(confirmer.fcm), len(confirmer.confirmed), len(confirmer.smsc))
            timeline.append((round(now - ctx["t0"], 2), *row))
            if row != last:
                last, changed = row, now
            if final >= args.destinations and final_at is None:
                final_at = now
                log(f"all {final:,} destinations final; {SETTLE_SECONDS:g} s more for stray sends")
            if final_at is not None and now - final_at >= SETTLE_SECONDS:
                break
            if now - changed > STALL_SECONDS:
                log(f"nothing changed for {STALL_SECONDS:g} s: giving up ({row})")
                break
    return {
        "all_final": final_at is not None,
        "all_final_seconds": None if final_at is None else round(final_at - ctx["t0"], 2),
        "timeline_columns": ["seconds from the first POST", "final", "on SMS", "at FCM", "confirmed", "at SMSC"],
        "timeline": timeline,
    }


def seconds_summary(values: list[float]) -> dict:
    values = sorted(values)
    if not values:
        return {"n": 0, "p50_s": None, "p99_s": None, "max_s": None, "min_s": None}
    return {
        "n": len(values),
        "min_s": round(values[0], 3),
        "p50_s": round(percentile(values, 0.50), 3),
        "p99_s": round(percentile(values, 0.99), 3),
        "max_s": round(values[-1], 3),
    }


def outcome_check(ctx: dict) -> dict:
    """What ran, from the database and the fakes. The engine's rules: an SMS for exactly
    the destinations whose push step timed out, none twice; no step timed out whose
    confirmation was answered before its due time (a lost race). The issue's figure: SMS
    count = destinations that never confirm, which holds when every confirmation came in
    before its due time (a confirmation after it may win or lose: the timer is late)."""
    from django.db import connection

    from scenarios.models import OmniDestination, OmniStep

    args, confirmer, timeout = ctx["args"], ctx["confirmer"], ctx["args"].timeout
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.index, s.state, s.started_at, s.ended_at, d.phone, d.status, u.external_user_ref"  # noqa: S608
            f" FROM {OmniStep._meta.db_table} s JOIN {OmniDestination._meta.db_table} d ON d.id = s.destination_id"
            " JOIN devices_enduser u ON u.id = d.end_user_id WHERE s.tenant_id = %s",
            [ctx["tenant"].pk],
        )
        rows = cursor.fetchall()
        cursor.execute("SELECT number, sent_at FROM sms_smsrecipient WHERE tenant_id = %s", [ctx["tenant"].pk])
        recipients = cursor.fetchall()
    # person -> (state, started_at, ended_at, phone, destination status) of the push step
    push = {int(ref[5:]): row[1:6] for *row, ref in rows if row[0] == 0}
    sms_steps = sum(1 for row in rows if row[0] == 1)
    due = {i: step[1].timestamp() + timeout for i, step in push.items()}
    ok = {i: at for i, (status, at) in confirmer.confirmed.items() if status == 200}
    in_time = {i for i, at in ok.items() if at < due[i]}
    late = set(ok) - in_time
    timed_out = {i for i, step in push.items() if step[0] == "timed_out"}
    phone_of = {step[3].lstrip("+"): i for i, step in push.items()}
    at_smsc: dict[int, list[float]] = {}
    strangers = 0
    for destination, at in confirmer.smsc:
        index = phone_of.get(destination.lstrip("+"))
        if index is None:
            strangers += 1
        else:
            at_smsc.setdefault(index, []).append(at)
    smsc_count = sum(len(times) for times in at_smsc.values())
    twice = sorted(i for i, times in at_smsc.items() if len(times) > 1)
    lost_races = sorted(in_time & timed_out)
    never = args.destinations - sum(1 for i in range(args.destinations) if confirms(i, args.confirm_fraction))
    sent_at = {number.lstrip("+"): at.timestamp() for number, at in recipients if at is not None}
    fcm_times = sorted(at for _, at in confirmer.fcm.values())
    smsc_times = sorted(at for times in at_smsc.values() for at in times)

    def since_first_post(times: list[float]) -> list[float | None]:
        return [round(times[0] - ctx["t0_wall"], 2), round(times[-1] - ctx["t0_wall"], 2)] if times else [None, None]

    return {
        "destinations": len(push),
        "destination_status": _count(step[4] for step in push.values()),
        "push_step_states": _count(step[0] for step in push.values()),
        "sms_steps": sms_steps,
        "pushes_at_fcm": len(confirmer.fcm),
        "pushes_at_fcm_first_last_s": since_first_post(fcm_times),
        "fcm_repeats": confirmer.fcm_repeats,
        "confirmations_wanted": args.destinations - never,
        "confirmations_in_time": len(in_time),
        "confirmations_late": len(late),
        "late_confirmations_that_won": len(late - timed_out),
        "late_confirmations_with_sms": len(late & set(at_smsc)),
        "confirmations_refused": {i: status for i, (status, _) in confirmer.confirmed.items() if status != 200},
        "never_confirming": never,
        "sms_at_smsc": smsc_count,
        "sms_at_smsc_first_last_s": since_first_post(smsc_times),
        "sms_recipients_in_db": len(recipients),
        "sms_to_unknown_numbers": strangers,
        "destinations_with_two_sms": len(twice),
        "push_steps_timed_out": len(timed_out),
        "sms_exactly_the_timed_out": smsc_count == len(timed_out) and set(at_smsc) == timed_out and not strangers,
        "sms_equals_never_confirming": smsc_count == never,
        "lost_races": {"count": len(lost_races), "examples": race_evidence(ctx, lost_races[:5], due, confirmer)},
        "timer_lag": seconds_summary([push[i][2].timestamp() - due[i] for i in timed_out]),
        "due_to_sms_at_smsc": seconds_summary([min(at_smsc[i]) - due[i] for i in timed_out if i in at_smsc]),
        "due_to_sms_sent_in_db": seconds_summary(
            [sent_at[push[i][3].lstrip("+")] - due[i] for i in timed_out if push[i][3].lstrip("+") in sent_at]
        ),
        "accept_to_fcm": seconds_summary([at - push[i][1].timestamp() for i, (_, at) in confirmer.fcm.items()]),
        "confirm_request": latency_summary(confirmer.confirm_seconds),
        "fcm_to_confirmed": seconds_summary([at - confirmer.fcm[i][1] for i, at in ok.items() if i in confirmer.fcm]),
        "confirm_margin_before_due": seconds_summary([due[i] - ok[i] for i in in_time]),
        "errors": confirmer.errors[:20],
    }


def _count(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def race_evidence(ctx: dict, people: list[int], due: dict[int, float], confirmer: Confirmer) -> list[dict]:
    """For a few lost races: the push 'delivered' event and the step's 'timed_out' event
    (id, txid, when), seconds relative to the step's due time."""
    from django.db import connection

    from notifications.core.models import StatusEvent

    table, out = StatusEvent._meta.db_table, []
    with connection.cursor() as cursor:
        for person in people:
            cursor.execute(
                "SELECT s.id, s.send_id, s.message_id FROM scenarios_omnistep s JOIN scenarios_omnidestination d"
                " ON d.id = s.destination_id JOIN devices_enduser u ON u.id = d.end_user_id"
                " WHERE s.tenant_id = %s AND s.index = 0 AND u.external_user_ref = %s",
                [ctx["tenant"].pk, f"cust-{person}"],
            )
            step_id, push_id, omni_id = cursor.fetchone()
            cursor.execute(
                f"SELECT type, id, txid, occurred_at FROM {table} WHERE (channel = 'push' AND send_id = %s)"  # noqa: S608
                " OR (channel = 'omni' AND send_id = %s AND recipient_id = %s) ORDER BY id",
                [push_id, omni_id, step_id],
            )
            events = [
                {"type": t, "id": pk, "txid": txid, "at_minus_due_s": round(at.timestamp() - due[person], 3)}
                for t, pk, txid, at in cursor.fetchall()
            ]
            confirmed = round(confirmer.confirmed[person][1] - due[person], 3)
            out.append(
                {
                    "person": person,
                    "step": step_id,
                    "due_s_from_first_post": round(due[person] - ctx["t0_wall"], 3),
                    "confirm_answered_minus_due_s": confirmed,
                    "events": events,
                }
            )
    return out


# --- Report ---------------------------------------------------------------------------------


def _s(summary: dict) -> str:
    if not summary.get("n"):
        return "n/a"
    return f"{summary['p50_s']:.2f} / {summary['p99_s']:.2f} / {summary['max_s']:.2f} s (n={summary['n']:,})"


def _margin(summary: dict) -> str:
    if not summary.get("n"):
        return "n/a"
    return f"{summary['min_s']:.2f} / {summary['p50_s']:.2f} / {summary['max_s']:.2f} s"


def report(results: dict) -> str:
    machine, setup, accept, out = results["machine"], results["setup"], results["accept"], results["outcome"]
    pg = machine["postgresql_settings"]
    lat = accept["latency"]
    cpu = results["cpu_run"]
    top = ", ".join(f"{label} {value:.2f}" for label, value in list(cpu["cores_used"].items())[:8] if value >= 0.01)
    rows = [
        ("POST /omni/v1/messages, "
         f"{accept['requests']} x {accept['batch']:,} destinations, {accept['connections']} connections",
         f"{accept['destinations_per_second']:,.0f} destinations/s, {accept['requests_per_second']:.2f} requests/s"
         f" ({accept['accepted_destinations']:,} in {accept['seconds']} s)"),
        ("  latency per request p50 / p99 / max", f"{lat['p50_ms']:,.0f} / {lat['p99_ms']:,.0f} / {lat['max_ms']:,.0f} ms"),
        ("pushes at the fake FCM (accept -> FCM p50 / p99 / max)", f"{out['pushes_at_fcm']:,} ({_s(out['accept_to_fcm'])})"),
        ("confirmations: wanted / answered 200 before due / after due",
         f"{out['confirmations_wanted']:,} / {out['confirmations_in_time']:,} / {out['confirmations_late']:,}"
         f" (refused {len(out['confirmations_refused'])})"),
        ("  FCM -> confirmation answered p50 / p99 / max", _s(out["fcm_to_confirmed"])),
        ("  POST /api/push/delivered latency p50 / p99 / max",
         "{p50_ms:,.0f} / {p99_ms:,.0f} / {max_ms:,.0f} ms".format(**out["confirm_request"])
         if out["confirm_request"]["p50_ms"] is not None else "n/a"),
        ("  margin left before due min / p50 / max", _margin(out["confirm_margin_before_due"])),
        ("  after due: won anyway (timer later still) / got an SMS too",
         f"{out['late_confirmations_that_won']:,} / {out['late_confirmations_with_sms']:,}"),
        ("push steps by state", json.dumps(out["push_step_states"])),
        ("destinations by status", json.dumps(out["destination_status"])),
        ("SMS at the SMSC / push steps timed out",
         f"{out['sms_at_smsc']:,} / {out['push_steps_timed_out']:,}"
         f" -> {'EXACTLY those destinations' if out['sms_exactly_the_timed_out'] else 'MISMATCH'}"),
        ("  destinations with two SMS / SMS to other numbers", f"{out['destinations_with_two_sms']} / {out['sms_to_unknown_numbers']}"),
        ("  confirmed before due but timed out all the same", str(out["lost_races"]["count"])),
        ("SMS at the SMSC = destinations never confirming (the issue's check)",
         f"{out['sms_at_smsc']:,} vs {out['never_confirming']:,}"
         f" -> {'EQUAL' if out['sms_equals_never_confirming'] else 'NOT EQUAL'}"
         + ("" if out["sms_equals_never_confirming"] or not out["confirmations_late"]
            else f" ({out['confirmations_late']:,} confirmations came after their due time)")),
        ("pushes at FCM / SMS at the SMSC: first and last, s after the first POST",
         f"{out['pushes_at_fcm_first_last_s']} / {out['sms_at_smsc_first_last_s']}"),
        ("timer lag: ended_at - (started_at + timeout) p50 / p99 / max", _s(out["timer_lag"])),
        ("due -> SMS submit_sm at the SMSC p50 / p99 / max", _s(out["due_to_sms_at_smsc"])),
        ("due -> SMS recipient sent (database) p50 / p99 / max", _s(out["due_to_sms_sent_in_db"])),
        ("omni ticks: ran p50 / p99 / max", _s(results["ticks"]["duration"])),
        ("  gap between two tick ends p50 / p99 / max", _s(results["ticks"]["gap_between_ends"])),
        ("  widest gap (s after the first POST) / longest tick",
         f"{results['ticks']['widest_gap_s_from_first_post']} / {results['ticks']['longest_tick']}"),
        ("event consumer: most events behind / hidden by a running transaction",
         f"{results['consumer']['max_events_behind']} / {results['consumer']['max_events_hidden_by_a_running_transaction']}"),
        ("  oldest write transaction of the database seen", str(results["consumer"]["oldest_write_transaction"])),
        ("every destination final", f"{results['wait']['all_final_seconds']} s after the first POST"
         if results["wait"]["all_final"] else "NOT ALL FINAL"),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    lines = [
        "",
        "Machine: {cores} cores, {cpu_model}, {ram_gib} GiB RAM, Linux {kernel}".format(**machine),
        f"Software: Python {machine['python']}, Django {machine['django']}, PostgreSQL {machine['postgresql']}"
        f" (shared_buffers {pg['shared_buffers']}, synchronous_commit {pg['synchronous_commit']}),"
        f" Redis {machine['redis']}, gunicorn {machine['gunicorn']}, Celery {machine['celery']}",
        f"Set-up: {setup['gunicorn']}; workers {setup['pools']}; one beat, BEAT_SWEEP_SECONDS={setup['beat_seconds']:g};"
        f" push timeout {setup['timeout']} s; {setup['confirm_connections']} confirming connections",
        f"Command: {setup['command']}",
        f"Code: commit {setup['code']['commit']}"
        + "".join(f", {n} modified" for n, f in setup["code"]["files"].items() if f["modified"]),
        f"Load: machine {cpu['machine_busy_percent']}% busy, other processes {cpu['background_cores']:.2f} cores,"
        f" steal {cpu['steal_percent']}%; CPU probe {results['cpu_probe_ms']:.0f} ms before the run",
        f"Cores used, first POST to the end: {top}",
        "",
    ]
    lines += [f"{name.ljust(width)}  {value}" for name, value in rows]
    if accept["failures"] or out["errors"]:
        lines.append(f"Errors: {(accept['failures'] + out['errors'])[:5]}")
    if out["lost_races"]["count"]:
        lines.append(f"Lost races (first 5): {out['lost_races']['examples']}")
    if cpu["background_cores"] > 0.25:
        lines.append("!  other work used over 0.25 cores meanwhile: the rates and lags are not reliable")
    return "\n".join(lines)


def summary_line(results: dict) -> str:
    accept, out = results["accept"], results["outcome"]
    return json.dumps(
        {
            "destinations": out["destinations"],
            "accept_destinations_per_s": accept["destinations_per_second"],
            "accept_requests_per_s": accept["requests_per_second"],
            "accept_p50_ms": accept["latency"]["p50_ms"],
            "accept_p99_ms": accept["latency"]["p99_ms"],
            "confirmed_in_time": out["confirmations_in_time"],
            "confirmed_after_due": out["confirmations_late"],
            "sms_at_smsc": out["sms_at_smsc"],
            "never_confirming": out["never_confirming"],
            "sms_equals_never_confirming": out["sms_equals_never_confirming"],
            "sms_exactly_the_timed_out": out["sms_exactly_the_timed_out"],
            "lost_races": out["lost_races"]["count"],
            "two_sms": out["destinations_with_two_sms"],
            "timer_lag_p50_s": out["timer_lag"]["p50_s"],
            "timer_lag_p99_s": out["timer_lag"]["p99_s"],
            "timer_lag_max_s": out["timer_lag"]["max_s"],
            "due_to_smsc_p50_s": out["due_to_sms_at_smsc"]["p50_s"],
            "due_to_smsc_p99_s": out["due_to_sms_at_smsc"]["p99_s"],
            "background_cores": results["cpu_run"]["background_cores"],
        }
    )


def code_version() -> dict:
    """The commit, and the files of the engine and the event core as they were at the
    start (others edit the tree while benchmarks run): their sha256 and whether they
    differ from the commit."""
    import hashlib

    def git(*command: str) -> str:
        return subprocess.run(["git", *command], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    files = ["notifications/core/events.py", "scenarios/engine.py", "scenarios/accept.py"]
    changed = set(git("status", "--short", "--", *files).split()[1::2])
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "files": {
            name: {"sha256": hashlib.sha256((ROOT / name).read_bytes()).hexdigest()[:12], "modified": name in changed}
            for name in files
        },
    }


# --- Main -----------------------------------------------------------------------------------


def main() -> None:
    args = parse_args()
    if args.fake_child:
        fake_child(args)
        return
    exit_on_sigterm()
    run_dir = RESULTS / "omni-run"
    started = time.monotonic()
    code, started_at = code_version(), datetime.now(UTC).isoformat(timespec="seconds")
    with bench_platform(args, run_dir=run_dir, queue=QUEUE) as (procs, env, machine):
        import redis

        env["BEAT_SWEEP_SECONDS"] = str(args.beat_seconds)
        env["CELERY_TASK_LOG_LEVEL"] = "INFO"  # a line per task: when each omni tick ran, what it did
        ctx: dict = {"args": args, "procs": procs, "env": env, "run_dir": run_dir, "quiet_budget": args.wait_quiet}
        ctx["meter"] = lambda: CpuMeter(procs.pgids, args.db_name)
        account_file = run_dir / "fcm-service-account.json"
        ctx["fcm"] = FakeProcess(procs, env, run_dir, "fcm", ["--account-file", str(account_file)])
        ctx["fcm_account"] = json.loads(account_file.read_text())
        account_file.unlink()  # a throwaway key, but a private key all the same
        ctx["smsc"] = FakeProcess(procs, env, run_dir, "smsc", [])
        env["FCM_API_URL"] = ctx["fcm"].hello["url"]
        seed_platform(ctx)
        log(f"{args.destinations:,} people with a phone and an Android device inserted in {ctx['seed_seconds']} s;"
            f" fake FCM on {env['FCM_API_URL']}, fake SMSC on port {ctx['smsc'].hello['port']}")  # fmt: skip
        redis.Redis.from_url(args.redis_url).delete(QUEUE, f"{QUEUE}-timers")  # nothing left from a previous run
        gunicorn = gunicorn_start(ctx)
        for n, (pool, concurrency) in enumerate(args.pools):
            worker_args = ["-P", pool, "-c", str(concurrency), "-n", f"omnibench{n}-{pool}@%h",
                           "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
            celery_start(ctx, "worker", worker_args, f"worker-{n}-{pool}-{concurrency}")
        if args.timers_worker:  # as docker-compose runs it: the timers queue has a worker of its own
            timers_args = ["-Q", f"{QUEUE}-timers", "-P", "prefork", "-c", "1", "-n", "omnibench-timers@%h",
                           "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
            celery_start(ctx, "worker", timers_args, "worker-timers")
        celery_start(ctx, "beat", [], "beat")
        log(f"{gunicorn} on 127.0.0.1:{ctx['port']}; workers {args.pools}; beat every {args.beat_seconds:g} s")
        quiet = wait_quiet(ctx, "run")
        probe = cpu_probe_ms()
        ctx["t0"], ctx["t0_wall"] = time.monotonic(), time.time()
        ctx["confirmer"] = Confirmer(ctx).start()
        sampler = HorizonSampler(ctx).start()
        meter = ctx["meter"]().start()
        log(f"POST /omni/v1/messages: {args.destinations:,} destinations in batches of {args.batch:,}")
        accept = accept_all(ctx)
        log(f"accepted {accept['accepted_destinations']:,} in {accept['seconds']} s"
            f" = {accept['destinations_per_second']:,.0f} destinations/s; latency {accept['latency']}")  # fmt: skip
        wait = outcome_wait(ctx)
        cpu = meter.stop()
        ctx["confirmer"].stop()
        sampler.stop()
        outcome = outcome_check(ctx)
        results: dict = {
            "started_at": started_at,
            "machine": machine,
            "setup": {
                "command": " ".join([".venv/bin/python", "bench/omni_bench.py", *sys.argv[1:]]),
                "gunicorn": gunicorn,
                "pools": ",".join(f"{pool}:{n}" for pool, n in args.pools)
                + (" + a timers worker prefork:1" if args.timers_worker else ""),
                "beat_seconds": args.beat_seconds,
                "timeout": args.timeout,
                "confirm_connections": args.confirm_connections,
                "confirm_fraction": args.confirm_fraction,
                "seed_seconds": ctx["seed_seconds"],
                "code": code,
            },
            "quiet_wait": quiet,
            "cpu_probe_ms": probe,
            "cpu_run": cpu,
            "accept": accept,
            "wait": wait,
            "outcome": outcome,
            "consumer": sampler.summary(),
            "ticks": ticks_read(run_dir, ctx["t0_wall"]),
            "fake_fcm": ctx["fcm"].ask("stats"),
            "fake_smsc": ctx["smsc"].ask("stats"),
        }
        results_write(args, results, report, started=started, run_dir=run_dir)
        print(summary_line(results))


if __name__ == "__main__":
    main()
