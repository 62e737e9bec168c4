"""SoftAfrik SMS benchmark: a MULDES to 100,000 numbers over one SMPP route, against the bare client.

    .venv/bin/python bench/sms_bench.py                    # full run, ~5 min on a quiet 2-core box
    .venv/bin/python bench/sms_bench.py --numbers 2000     # smoke, < 1 min

The platform runs as in production on a PostgreSQL database created fresh for the run
(``--db-name``, dropped at the end unless ``--keep-db``): gunicorn serving
``softafrik.wsgi``, Redis as broker, ``celery -A softafrik worker`` and ``beat`` processes,
and one SmsRoute of kind smpp to the fake SMSC (``fakes.smsc``, receipts on) in a process
of its own (``bench/fake_smsc_server.py``). Tenant, approved sender and route are made
through the ORM and services. For each worker pool in ``--pools``:

1. Platform: ``POST /api/V1/sms/muldes`` with ``--numbers`` valid Togo and Côte d'Ivoire
   numbers and a one-part GSM text (the first pool; later pools send ``--compare-numbers``),
   then one COUNT query every 0.5 s until every number is sent (parts/s = parts / seconds
   from the POST), and on until every receipt is applied (all 'delivered').
2. Raw: the same smpp34 client and bind with nothing around it, carrying the exchange the
   platform's bind carries: each submit_sm asks for a receipt (registered_delivery=1), as the
   platform's do, and a reader takes and acknowledges every deliver_sm; its clock runs to the
   last receipt, and the platform's rate it is compared with runs from the POST to the last
   number delivered. The parallelism the
   platform had: prefork -c N is N processes with a bind each, a thread pool is one process
   and one bind; each bind has the route's window. The same number of submits in all.
   Targets: platform >= 1,000 parts/s and >= 60% of raw.
3. Diagnostics, same processes and submits: ``sms.providers.smpp.raw_submit_rate``, the bare
   client asking for no receipts (half the PDUs on the link and at the SMSC: an upper bound
   no receipt-tracking sender reaches), and ``SmppRoute.submit_batch`` alone in chunks of
   ``SMS_CHUNK`` with receipts on, the pool's threads per process and no database (what the
   adapter costs). Between them and the platform lies what Django, PostgreSQL and Celery cost.

``--profile SECONDS`` adds a platform run (``--compare-numbers``) with py-spy sampling the
worker, and prints where the worker's CPU goes. ``--settings MODULE`` runs every process on
another settings module (to try a setting: PYTHONPATH=DIR for a module outside the
project) and ``--platform-only`` skips the clients, for A/B runs. Prints the machine, a table with targets
and PASS/MISS, and writes everything to ``bench/results/sms.json``. Every process it starts
is stopped on exit, on Ctrl-C and on error.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    ROOT,
    CpuMeter,
    Http,
    Processes,
    bench_platform,
    exit_on_sigterm,
    free_port,
    python,
    results_write,
    wait_for_quiet,
    wait_until,
)

RESULTS = ROOT / "bench" / "results"
QUEUE = "softafrik_smsbench"  # a queue of its own: no other worker on this Redis takes our tasks
POLL_SECONDS = 0.5
SENDER = "SoftAfrik"
TEXT = "SoftAfrik: -20% sur votre forfait ce week-end avec le code PROMO20. Infos au 8080."  # GSM-7, 1 part
TARGET_RATE = 1000.0  # parts/s
TARGET_RATIO = 0.60  # platform / raw
CLIENT_CHUNK = 500  # sms.delivery.SMS_CHUNK: what one send task hands the route


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def numbers_make(count: int, offset: int = 0) -> list[str]:
    """``count`` distinct E.164 numbers, alternately Togolese (+2289x xx xx xx) and Ivorian
    mobile (+225 07 xx xx xx xx), all valid for phonenumbers."""
    out = []
    for index in range(offset, offset + count):
        half = index // 2
        out.append(f"+2289{half % 4}{half // 4:06d}" if index % 2 == 0 else f"+22507{half:08d}")
    return out


def numbers_check(numbers: list[str]) -> None:
    import phonenumbers

    bad = [n for n in numbers if not phonenumbers.is_valid_number(phonenumbers.parse(n, None))]
    if bad or len(set(numbers)) != len(numbers):
        raise SystemExit(f"bench numbers: {len(bad)} invalid (e.g. {bad[:3]}), or duplicates")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--numbers", type=int, default=100_000, help="numbers in the MULDES of the first pool")
    parser.add_argument("--compare-numbers", type=int, default=20_000, help="numbers for the pools after the first")
    parser.add_argument(
        "--pools",
        default="prefork:4,prefork:2,threads:4",
        help="worker pools, pool:concurrency,... (first at full size)",
    )
    parser.add_argument("--window", type=int, default=10, help="the route's SMPP window (its production default)")
    parser.add_argument("--receipt-delay", type=float, default=0.0, help="the SMSC's seconds from submit to receipt")
    parser.add_argument("--smsc-front-door", action="store_true", help="fake SMSC checks credentials (~2x its CPU)")
    parser.add_argument("--no-beat", action="store_true", help="run no beat (receipts then rely on the send path)")
    parser.add_argument(
        "--platform-only", action="store_true", help="skip the raw and route-alone clients (A/B of a platform setting)"
    )
    parser.add_argument(
        "--settings", default="softafrik.settings", help="DJANGO_SETTINGS_MODULE of every process (to try a setting)"
    )
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--gunicorn-threads", type=int, default=4)
    parser.add_argument("--profile", type=float, default=0.0, help="seconds of py-spy on the worker in an extra run")
    parser.add_argument("--py-spy", default="py-spy", help="the py-spy executable, for --profile")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        help="seconds in all to wait for other CPU users (default: 10 + numbers/1,000, <= 120)",
    )
    parser.add_argument("--run-timeout", type=float, default=600.0, help="give up on one platform run after this")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432", help="server, without database")
    parser.add_argument("--db-name", default="softafrik_smsbench", help="dropped and created for the run")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--keep-db", action="store_true", help="leave the bench database after the run")
    parser.add_argument("--output", type=Path, default=RESULTS / "sms.json")
    parser.add_argument("--client-child", help=argparse.SUPPRESS)  # internal: raw|route client process
    args = parser.parse_args()
    if args.wait_quiet is None:
        args.wait_quiet = min(120.0, 10 + args.numbers / 1000)
    args.pools = [(pool, int(n)) for pool, n in (item.split(":") for item in args.pools.split(","))]
    return args


# --- Client processes (raw smpp34 / SmppRoute alone) ---------------------------------------


def client_child(spec: dict) -> None:
    """One client process: ``ready`` once set up, waits for ``go`` on stdin, prints a JSON report."""
    from sms import encoding
    from sms.providers.base import SmsSubmit
    from sms.providers.smpp import SmppRoute, raw_submit_rate

    part = encoding.encode_parts(TEXT, 0)[0]
    numbers = numbers_make(spec["n"], spec["offset"])
    report: dict = {"n": spec["n"]}
    if spec["mode"] in ("raw", "raw-receipts"):
        print("ready", flush=True)
        sys.stdin.readline()
        report["started"] = time.time()
        report["rate"] = raw_submit_rate(
            spec["host"], spec["port"], spec["system_id"], spec["password"], spec["n"], spec["window"],
            destination=numbers[0][1:], payload=part.payload, receipts=spec["mode"] == "raw-receipts",
        )  # fmt: skip
        report["finished"] = time.time()
        print(json.dumps(report), flush=True)
        return
    receipts = Counter()
    lock = threading.Lock()

    def on_receipt(receipt) -> None:
        with lock:
            receipts[receipt.state] += 1

    route = SmppRoute(
        host=spec["host"], port=spec["port"], system_id=spec["system_id"], password=spec["password"],
        window=spec["window"], on_receipt=on_receipt,
    )  # fmt: skip
    submits = [
        SmsSubmit(recipient_id=i, sender=SENDER, destination=n, text=TEXT, parts=(part,)) for i, n in enumerate(numbers)
    ]
    route.submit_batch(submits[:1])  # bind before the clock starts, as a warm worker is
    submits = submits[1:]
    outcomes: list = []

    def submitter(share: list) -> None:
        for start in range(0, len(share), CLIENT_CHUNK):
            outcomes.extend(route.submit_batch(share[start : start + CLIENT_CHUNK]))

    threads = [
        threading.Thread(target=submitter, args=(submits[i :: spec["threads"]],)) for i in range(spec["threads"])
    ]
    print("ready", flush=True)
    sys.stdin.readline()
    report["started"] = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report["finished"] = time.time()
    report["n"] = len(submits)
    report["ok"] = sum(1 for o in outcomes if not isinstance(o, Exception))
    deadline = time.monotonic() + 30
    while sum(receipts.values()) < len(submits) + 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    report["receipts_done"] = time.time()
    report["receipts"] = dict(receipts)
    route.close()
    print(json.dumps(report), flush=True)


def clients_once(ctx: dict, *, mode: str, processes: int, threads: int, total: int) -> dict:
    """``processes`` client processes with ``total`` submits between them, started together."""
    smsc, args, procs = ctx["smsc"], ctx["args"], ctx["procs"]
    shares = [total // processes + (1 if i < total % processes else 0) for i in range(processes)]
    children = []
    try:
        offset = 0
        for share in shares:
            spec = {
                "mode": mode, "host": smsc.host, "port": smsc.port, "system_id": smsc.system_id,
                "password": smsc.password, "window": args.window, "threads": threads, "n": share, "offset": offset,
            }  # fmt: skip
            offset += share
            command = [python(), "bench/sms_bench.py", "--client-child", json.dumps(spec)]
            children.append(
                procs.start(
                    f"smpp client ({mode})",
                    command,
                    env=ctx["env"],
                    text=True,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=(ctx["run_dir"] / f"client-{mode}.log").open("ab"),
                )
            )
        for child in children:
            if child.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a {mode} client failed to start; see {ctx['run_dir']}/client-{mode}.log")
        before = smsc.stats()
        meter = ctx["meter"]().start()
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        reports = [json.loads(child.stdout.readline()) for child in children]
        cpu = meter.stop()
        after = smsc.stats()
    finally:
        for child in children:
            procs.stop(child, grace=5)
    elapsed = max(r["finished"] for r in reports) - min(r["started"] for r in reports)
    sent = sum(r.get("ok", r["n"]) for r in reports)
    result = {
        "mode": mode,
        "processes": processes,
        "threads": threads,
        "window": args.window,
        "submits": sent,
        "seconds": round(elapsed, 2),
        "parts_per_second": round(sent / elapsed, 1),
        "smsc_received": after["received"] - before["received"],
        "cpu": cpu,
    }
    if mode in ("raw", "raw-receipts"):  # raw_submit_rate: every receipt arrived, or it raised
        # Its own clock, first submit_sm to last submit_sm_resp, per process; summed, as the
        # binds ran side by side. Bind, unbind and the wait for the last receipt stay out.
        result["per_process_rates"] = [round(r["rate"], 1) for r in reports]
        result["parts_per_second"] = round(sum(r["rate"] for r in reports), 1)
        result["seconds"] = round(sent / result["parts_per_second"], 2)
    else:  # receipts: the time until the last one arrived, from the first submit
        receipts = Counter()
        for r in reports:
            receipts.update(r["receipts"])
        result["receipts"] = dict(receipts)
        result["receipts_done_seconds"] = round(
            max(r["receipts_done"] for r in reports) - min(r["started"] for r in reports), 2
        )
    return result


# --- Platform -----------------------------------------------------------------------------


class FakeSmscProcess:
    """bench/fake_smsc_server.py as a child; ``stats()`` asks it for its counters."""

    def __init__(self, procs: Processes, env: dict, run_dir: Path, *, front_door: bool, receipt_delay: float):
        command = [python(), "bench/fake_smsc_server.py", "--receipt-delay", str(receipt_delay)]
        if front_door:
            command.append("--front-door")
        self.proc = procs.start(
            "fake SMSC", command, env=env, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=(run_dir / "fake-smsc.log").open("ab"),
        )  # fmt: skip
        hello = json.loads(self.proc.stdout.readline())
        self.host, self.port = hello["host"], hello["port"]
        self.system_id, self.password, self.front_door = hello["system_id"], hello["password"], hello["front_door"]

    def stats(self) -> dict:
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())


def seed_platform(smsc: FakeSmscProcess, *, window: int) -> tuple[object, str, object]:
    """A tenant with its API key and an approved default sender; one SMPP route to the fake."""
    from accounts.services import tenant_create
    from sms.models import RouteKind, SenderName, SenderStatus, SmsRoute

    tenant, issued = tenant_create(name="Bench Telecom", default_region="TG")
    SenderName.objects.create(tenant=tenant, name=SENDER, status=SenderStatus.APPROVED, is_default=True)
    route = SmsRoute.objects.create(
        name="bench-smsc", kind=RouteKind.SMPP, host=smsc.host, port=smsc.port, system_id=smsc.system_id,
        secret=smsc.password, window=window, callback_token=secrets.token_urlsafe(24),
    )  # fmt: skip
    return tenant, issued.plaintext, route


def gunicorn_start(ctx: dict) -> str:
    args = ctx["args"]
    ctx["port"] = port = free_port()
    command = [
        python(), "-m", "gunicorn", "softafrik.wsgi:application", "--bind", f"127.0.0.1:{port}",
        "--workers", str(args.gunicorn_workers), "--worker-class", "gthread", "--threads", str(args.gunicorn_threads),
        "--keep-alive", "30", "--log-level", "warning",
    ]  # fmt: skip
    ctx["procs"].start("gunicorn", command, env=ctx["env"], log=ctx["run_dir"] / "gunicorn.log")
    probe = "/api/V1/sms/00000000-0000-0000-0000-000000000000"  # authenticated, then 404

    def ready() -> bool:
        http = Http(port, {"X-API-KEY": ctx["key"]})
        try:
            return http.request("GET", probe)[0] == 404
        except OSError:
            return False
        finally:
            http.close()

    wait_until(ready, timeout=60, interval=0.2, what="gunicorn to answer")
    for _ in range(4 * args.gunicorn_workers):  # import the app in every worker before timing
        ready()
    return f"gunicorn -w {args.gunicorn_workers} -k gthread --threads {args.gunicorn_threads}"


def celery_start(ctx: dict, kind: str, args: list[str], label: str) -> subprocess.Popen:
    log_path = ctx["run_dir"] / f"{label.replace(' ', '-')}.log"
    log_path.write_text("")
    command = [python(), "-m", "celery", "-A", "softafrik", kind, "-l", "INFO", *args]
    proc = ctx["procs"].start(f"celery {kind}", command, env=ctx["env"], log=log_path)
    marker = " ready." if kind == "worker" else "maxinterval"
    wait_until(
        lambda: proc.poll() is not None or marker in log_path.read_text(errors="replace"),
        timeout=60, interval=0.2, what=f"celery {kind}",
    )  # fmt: skip
    if proc.poll() is not None:
        raise RuntimeError(f"celery {kind} exited: {log_path.read_text()[-2000:]}")
    return proc


def wait_quiet(ctx: dict, what: str) -> dict:
    """Before a measurement: wait for processes outside the bench to stop using the CPU
    (on 2 cores a concurrent test run halves every figure)."""
    if ctx["quiet_budget"] <= 0:
        return {"waited_seconds": 0.0, "quiet": None}
    started = time.monotonic()
    seen = wait_for_quiet(ctx["meter"], limit=ctx["quiet_budget"])
    ctx["quiet_budget"] -= time.monotonic() - started
    if not seen["quiet"]:
        log(f"{what}: other processes still busy ({seen['last_background_cores']} cores); measuring anyway")
    elif seen["waited_seconds"] > 2:
        log(f"{what}: waited {seen['waited_seconds']:.0f} s for other processes to go quiet")
    return seen


def _when(timeline: list, index: int, fraction: float, total: int) -> float | None:
    """Seconds at which column ``index`` of the timeline first reached ``fraction`` of ``total``."""
    for t, *counts in timeline:
        if counts[index] >= fraction * total:
            return t
    return None


def muldes_once(ctx: dict, numbers: list[str]) -> dict:
    """POST the MULDES; one COUNT query per 0.5 s until all sent, then until all delivered.
    The timeline also records the broker queue's length (tasks waiting)."""
    import redis
    from django.db import connection

    from sms.models import SmsRecipient

    total, table = len(numbers), SmsRecipient._meta.db_table
    body = {"emetteur": SENDER, "numeros": numbers, "corps": TEXT}
    http = Http(ctx["port"], {"X-API-KEY": ctx["key"]})
    started = time.monotonic()
    status, _, data, post_seconds = http.request("POST", "/api/V1/sms/muldes", body)
    http.close()
    if status != 201 or data["rejets"] or data["nbDestinataires"] != total:
        raise RuntimeError(f"MULDES answered {status}: {str(data)[:500]}")
    ref, timeline, sent_at, last_change = data["ref"], [], None, time.monotonic()
    broker = redis.Redis.from_url(ctx["args"].redis_url)
    deadline = started + ctx["args"].run_timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            cursor.execute(
                f"SELECT count(*) FILTER (WHERE status IN ('sent', 'delivered')),"  # noqa: S608 (our table name)
                f" count(*) FILTER (WHERE status = 'delivered'), count(*) FILTER (WHERE status = 'failed')"
                f" FROM {table} WHERE message_id = %s",
                [ref],
            )
            sent, delivered, failed = cursor.fetchone()
            now = time.monotonic()
            if timeline and (sent, delivered, failed) != tuple(timeline[-1][1:4]):
                last_change = now
            timeline.append((round(now - started, 2), sent, delivered, failed, broker.llen(QUEUE)))
            if sent_at is None and sent + failed >= total:
                sent_at = now - started
            if delivered + failed >= total or (sent_at is not None and now - last_change > 30):
                break  # all final, or receipts stalled for 30 s
        cursor.execute(f"SELECT status, count(*) FROM {table} WHERE message_id = %s GROUP BY status", [ref])  # noqa: S608
        by_status = dict(cursor.fetchall())
    # Send tasks still queued once every number is final are repeats: beat's sweep re-dispatched
    # numbers whose first task was still waiting in the queue.
    left = Counter(json.loads(raw)["headers"]["task"].rsplit(".", 1)[-1] for raw in broker.lrange(QUEUE, 0, -1))
    sent, delivered, failed, _ = timeline[-1][1:]
    delivered_at = timeline[-1][0] if delivered + failed >= total else None
    t10, t90 = _when(timeline, 0, 0.1, total), _when(timeline, 0, 0.9, total)
    return {
        "ref": ref,
        "numbers": total,
        "post_status": status,
        "post_seconds": round(post_seconds, 2),
        "first_sent_seconds": _when(timeline, 0, 1 / total, total),
        "all_sent_seconds": None if sent_at is None else round(sent_at, 2),
        "complete": sent_at is not None and not failed,
        "parts_per_second": None if sent_at is None else round(total / sent_at, 1),
        "steady_parts_per_second": round(0.8 * total / (t90 - t10), 1) if t10 and t90 and t90 > t10 else None,
        "all_delivered_seconds": delivered_at,
        "delivered_per_second": None if not delivered_at else round(delivered / delivered_at, 1),
        "by_status": by_status,
        "max_tasks_queued": max(row[4] for row in timeline),
        "tasks_queued_at_end": dict(left),
        "timeline_columns": ["seconds", "sent or delivered", "delivered", "failed", "tasks queued"],
        "timeline": timeline,
    }


def platform_once(ctx: dict, pool: str, concurrency: int, numbers: list[str], *, profile: float = 0.0) -> dict:
    import redis
    from django.db import connection

    args, label = ctx["args"], f"worker-{pool}-{concurrency}" + ("-profiled" if profile else "")
    redis.Redis.from_url(args.redis_url).delete(QUEUE)  # nothing left from a previous run
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE sms_smsrecipient")
    worker_args = [
        "-P", pool, "-c", str(concurrency), "-n", f"smsbench-{pool}@%h",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    worker = celery_start(ctx, "worker", worker_args, label)
    beat = None
    if not args.no_beat:
        beat = celery_start(ctx, "beat", ["-s", str(ctx["run_dir"] / "beat-schedule")], f"beat-{label}")
    spy = None
    try:
        quiet = wait_quiet(ctx, f"platform ({pool}:{concurrency})")
        log(f"platform: worker -P {pool} -c {concurrency}; POST /api/V1/sms/muldes with {len(numbers):,} numbers")
        before = ctx["smsc"].stats()
        if profile:
            spy = py_spy_start(ctx, worker.pid, profile, label)
        meter = ctx["meter"]().start()
        result = muldes_once(ctx, numbers)
        result["cpu"] = meter.stop()
        after = ctx["smsc"].stats()
    finally:
        if spy is not None:
            spy.wait(timeout=profile + 60)
        ctx["procs"].stop(worker)
        if beat is not None:
            ctx["procs"].stop(beat)
    result.update(
        pool=pool,
        concurrency=concurrency,
        quiet_wait=quiet,
        smsc_received=after["received"] - before["received"],
        smsc_receipts_acknowledged=after["receipts"] - before["receipts"],
    )
    if profile:
        result["profile"] = py_spy_summary(ctx["run_dir"] / f"{label}.pyspy.txt")
    log(
        f"platform: {result['by_status']} after {result['timeline'][-1][0]} s; all sent after"
        f" {result['all_sent_seconds']} s = {result['parts_per_second']} parts/s (POST {result['post_seconds']} s);"
        f" all delivered after {result['all_delivered_seconds']} s"
    )
    return result


# --- Profiling ------------------------------------------------------------------------------


def py_spy_start(ctx: dict, pid: int, seconds: float, label: str) -> subprocess.Popen:
    spy = shutil.which(ctx["args"].py_spy)
    if spy is None:
        raise SystemExit("--profile needs py-spy: pip install py-spy, then --py-spy PATH if not on PATH")
    command = [
        spy, "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--rate", "100", "--format", "raw",
        "--duration", str(int(seconds)), "--output", str(ctx["run_dir"] / f"{label}.pyspy.txt"),
    ]  # fmt: skip
    env = {**ctx["env"], "PYTHONPATH": ""}
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


PROJECT_FRAME = re.compile(r"\((accounts|notifications|sms|softafrik)/")
# Leaves of a thread that waits (py-spy cannot always tell): the SMPP loop's select, the
# receipt dispatcher's queue get, the receipt flusher's sleep.
WAITING = ("EpollSelector.select", "Condition.wait", "SimpleQueue.get", "_ReceiptDispatcher._run", "ReceiptSink._run")


def py_spy_summary(path: Path, top: int = 20) -> dict:
    """Where the worker's busy samples go: per function of the platform, the share of samples
    with it on the stack; and the leaf functions (self time). Samples of threads waiting
    (event loop select, queue gets, sleeps) are left out."""
    if not path.exists():
        return {"error": "py-spy wrote nothing"}
    inclusive, leaves, busy = Counter(), Counter(), 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        frames = [re.sub(r"\(/.*?/(site-packages|main)/", "(", f) for f in frames]
        if not frames or frames[-1].startswith(WAITING):
            continue
        busy += int(count)
        leaves[frames[-1]] += int(count)
        for frame in set(frames):
            if PROJECT_FRAME.search(frame):
                inclusive[frame] += int(count)

    def share(counter: Counter) -> list:
        return [(frame, round(100 * n / busy, 1)) for frame, n in counter.most_common(top)]

    return {"busy_samples": busy, "inclusive_percent": share(inclusive), "self_percent": share(leaves)}


# --- Report -----------------------------------------------------------------------------------


def verdict(value: float | None, target: float) -> str:
    return "PASS" if value is not None and value >= target else "MISS"


def _bg(cpu: dict | None) -> str:
    """Machine busy %, cores of live processes outside the bench, cores no live process accounts for."""
    if not cpu or "background_cores" not in cpu:
        return ""
    unattributed = cpu.get("unattributed_cores", 0.0)
    steal = cpu.get("steal_percent")
    return f"{cpu['machine_busy_percent']:.0f}% / {cpu['background_cores'] - unattributed:.2f} / {unattributed:.2f}" + (
        "" if steal is None else f" / {steal:.0f}%"
    )


def report(results: dict) -> str:
    machine, setup = results["machine"], results["setup"]
    pg = machine["postgresql_settings"]
    lines = [
        "",
        "Machine: {cores} cores, {cpu_model}, {ram_gib} GiB RAM, Linux {kernel}".format(**machine),
        f"Software: Python {machine['python']}, Django {machine['django']}, PostgreSQL {machine['postgresql']}"
        f" (shared_buffers {pg['shared_buffers']}, synchronous_commit {pg['synchronous_commit']}),"
        f" Redis {machine['redis']}, gunicorn {machine['gunicorn']}, Celery {machine['celery']}, smpp34 {setup['smpp34']}",
        f"Set-up: {setup['gunicorn']}; one SMPP route, window {setup['window']}; fake SMSC in its own process"
        f" ({'front door' if setup['smsc_front_door'] else 'direct'}), receipts after {setup['receipt_delay']:g} s;"
        f" beat {'off' if setup['no_beat'] else 'on'}; settings {setup['settings']}",
        f"Command: {setup['command']}",
        "",
    ]
    rows = [("measurement", "result", "target", "", "busy / other / gone / steal*")]
    for run in results["runs"]:
        p, raw = run["platform"], run["raw"]
        name = f"MULDES {p['numbers']:,}, worker -P {run['pool']} -c {run['concurrency']}"
        done = "" if p["complete"] else f", INCOMPLETE: {p['by_status']}"
        rate = p["parts_per_second"]
        rows.append(
            (name, f"{rate or 0:,.0f} parts/s ({p['all_sent_seconds']} s{done})", f">= {TARGET_RATE:,.0f}/s",
             verdict(rate if p["complete"] else None, TARGET_RATE), _bg(p["cpu"]))
        )  # fmt: skip
        rows.append(("  POST /api/V1/sms/muldes answered", f"{p['post_seconds']} s", "", "", ""))
        left = p.get("tasks_queued_at_end", {})
        rows.append(
            ("  send tasks still queued when all were final",
             f"{left.get('sms_send_chunk', 0)} (of {sum(left.values())} tasks queued)", "", "", "")
        )  # fmt: skip
        steady = p["steady_parts_per_second"]
        rows.append(("  sending, 10% -> 90% sent", "n/a" if steady is None else f"{steady:,.0f} parts/s", "", "", ""))
        delivered = p["all_delivered_seconds"]
        rows.append(
            ("  all delivered (receipts applied)",
             "not all" if delivered is None else f"{delivered} s from the POST ({p['delivered_per_second']:,.0f}/s)", "", "", "")
        )  # fmt: skip
        if raw is None:
            continue  # --platform-only
        rows.append(
            (f"  raw: bare smpp34, receipts asked, {raw['processes']} proc x 1 bind, window {raw['window']}",
             f"{raw['parts_per_second']:,.0f} parts/s ({raw['seconds']} s)", "", "", _bg(raw["cpu"]))
        )  # fmt: skip
        rows.append(
            ("  platform / raw (both clocks to the last receipt)", "n/a" if run["ratio"] is None else f"{100 * run['ratio']:.0f}%",
             f">= {100 * TARGET_RATIO:.0f}%", verdict(run["ratio"], TARGET_RATIO), "")
        )  # fmt: skip
        bare, alone = run["raw_no_receipts"], run["route_alone"]
        for label, client, ratio in (
            ("raw_submit_rate: bare smpp34, no receipts asked", bare, run["ratio_raw_no_receipts"]),
            (
                f"SmppRoute.submit_batch alone, {alone['threads']} thr/proc, receipts on",
                alone,
                run["ratio_route_alone"],
            ),
        ):
            rows.append(
                (f"  {label}", f"{client['parts_per_second']:,.0f} parts/s ({client['seconds']} s)"
                 f"; platform = {'n/a' if ratio is None else f'{100 * ratio:.0f}%'}", "(diagnostic)", "", _bg(client["cpu"]))
            )  # fmt: skip
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        lines.append("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    lines.append(
        "* while measuring: % of the machine's CPU in use / cores used by live processes outside the bench"
        " (0.00 = a quiet machine) / cores used by processes that exited meanwhile (in platform runs"
        " mostly PostgreSQL backends of connections closed meanwhile) / the share of CPU time the"
        " hypervisor gave to other VMs (steal)"
    )
    for run in results["runs"]:
        cores = run["platform"]["cpu"]["cores_used"]
        top = ", ".join(f"{label} {value:.2f}" for label, value in list(cores.items())[:7] if value >= 0.01)
        top += f", exited processes {run['platform']['cpu'].get('unattributed_cores', 0.0):.2f}"
        lines.append(f"Cores used, {run['pool']}:{run['concurrency']} platform run: {top}")
    profiled = results.get("profiled")
    if profiled and "inclusive_percent" in profiled["platform"]["profile"]:
        prof = profiled["platform"]["profile"]
        lines.append(
            f"\nWorker profile (py-spy, {prof['busy_samples']} busy samples; % with the function on the stack):"
        )
        lines += [f"  {pct:5.1f}%  {frame}" for frame, pct in prof["inclusive_percent"]]
        lines.append("Leaf functions (self):")
        lines += [f"  {pct:5.1f}%  {frame}" for frame, pct in prof["self_percent"][:12]]
    return "\n".join(lines)


# --- Main -------------------------------------------------------------------------------------


def main() -> None:
    args = parse_args()
    if args.client_child:
        client_child(json.loads(args.client_child))
        return
    exit_on_sigterm()
    run_dir = RESULTS / "sms-run"
    started = time.monotonic()
    with bench_platform(args, run_dir=run_dir, queue=QUEUE, settings=args.settings) as (procs, env, machine):
        ctx: dict = {"args": args, "procs": procs, "env": env, "run_dir": run_dir, "quiet_budget": args.wait_quiet}
        ctx["meter"] = lambda: CpuMeter(procs.pgids, args.db_name)
        smsc = ctx["smsc"] = FakeSmscProcess(
            procs, env, run_dir, front_door=args.smsc_front_door, receipt_delay=args.receipt_delay
        )
        _, ctx["key"], _ = seed_platform(smsc, window=args.window)
        log(f"fake SMSC on {smsc.host}:{smsc.port}; tenant, approved sender {SENDER!r} and SMPP route created")
        gunicorn = gunicorn_start(ctx)
        log(f"{gunicorn} on 127.0.0.1:{ctx['port']}")
        results: dict = {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine,
            "setup": {
                "command": " ".join([".venv/bin/python", "bench/sms_bench.py", *sys.argv[1:]]),
                "gunicorn": gunicorn,
                "window": args.window,
                "smsc_front_door": args.smsc_front_door,
                "receipt_delay": args.receipt_delay,
                "no_beat": args.no_beat,
                "settings": args.settings,
                "text": TEXT,
                "smpp34": importlib.metadata.version("smpp34"),
            },
            "runs": [],
        }
        offset = 0
        for index, (pool, concurrency) in enumerate(args.pools):
            size = args.numbers if index == 0 else min(args.numbers, args.compare_numbers)
            numbers = numbers_make(size, offset)
            offset += size  # every run sends to fresh numbers
            numbers_check(numbers)
            platform = platform_once(ctx, pool, concurrency, numbers)
            processes, threads = (concurrency, 1) if pool == "prefork" else (1, concurrency)
            clients: dict = {"raw": None, "raw-receipts": None, "route": None}
            for mode, what, thr in (
                ("raw-receipts", "bare smpp34 asking for receipts", 1),
                ("raw", "raw_submit_rate, no receipts asked", 1),
                ("route", "SmppRoute.submit_batch alone, receipts on", threads),
            ):
                if args.platform_only:
                    break
                wait_quiet(ctx, mode)
                log(
                    f"{mode}: {what}, {processes} process(es) x {thr} thread(s), window {args.window}, {size:,} submits"
                )
                clients[mode] = clients_once(ctx, mode=mode, processes=processes, threads=thr, total=size)
                log(f"{mode}: {clients[mode]['parts_per_second']:,.0f} parts/s")
            rate = platform["parts_per_second"] if platform["complete"] else None
            # Against raw with receipts, whose clock runs to its last receipt: the platform's
            # to its last number delivered (the text is one part: numbers = parts).
            done_rate = platform["delivered_per_second"] if platform["complete"] else None

            def ratio(client: dict | None, rate: float | None = rate) -> float | None:
                return None if rate is None or client is None else round(rate / client["parts_per_second"], 3)

            results["runs"].append(
                {
                    "pool": pool,
                    "concurrency": concurrency,
                    "platform": platform,
                    "raw": clients["raw-receipts"],
                    "raw_no_receipts": clients["raw"],
                    "route_alone": clients["route"],
                    "ratio": ratio(clients["raw-receipts"], done_rate),
                    "ratio_raw_no_receipts": ratio(clients["raw"]),
                    "ratio_route_alone": ratio(clients["route"]),
                }
            )
        if args.profile:
            pool, concurrency = args.pools[0]
            numbers = numbers_make(min(args.numbers, args.compare_numbers), offset)
            log(f"profile: py-spy on the worker for {args.profile:g} s (this run's figures are not reported)")
            results["profiled"] = {"platform": platform_once(ctx, pool, concurrency, numbers, profile=args.profile)}
        results_write(args, results, report, started=started, run_dir=run_dir)


if __name__ == "__main__":
    main()
