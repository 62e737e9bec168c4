"""What the push benchmark's parts share: the running bench, the fakes in their own
processes, Celery workers and what is read from them (peak RSS, SQL and task counts).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import CpuMeter, Http, Processes, cpu_probe_ms, python, wait_for_quiet, wait_until
from bench.sqlcount import counts_read

QUEUE = "softafrik_bench"  # a queue of its own: no other worker on this Redis picks our tasks
# Celery workers run these settings: the platform's, plus a per-process SQL statement
# and task counter (``bench.sqlcount``); gunicorn serves ``bench.settings`` (the floor view).
WORKER_SETTINGS = "bench.counted_settings"
WEB_SETTINGS = "bench.settings"


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def delta(before: dict, after: dict, key: str) -> int | float | None:
    if before.get(key) is None or after.get(key) is None:
        return None
    return round(after[key] - before[key], 4)


class _FakeProcess:
    """A fake in its own process answering ``stats`` on stdin with one JSON line."""

    proc: subprocess.Popen

    def stats(self) -> dict:
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())


class FakeFcm(_FakeProcess):
    """bench/fake_fcm_tokens.py (the fake FCM counting each token once) as a child."""

    label = "fake FCM"

    def __init__(self, procs: Processes, env: dict[str, str], run_dir: Path, *, lean: bool = False) -> None:
        account_file = run_dir / "fcm-service-account.json"
        command = [python(), "bench/fake_fcm_tokens.py", "--account-file", str(account_file)]
        self.proc = procs.start(
            self.label,
            [*command, "--lean"] if lean else command,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=(run_dir / "fake-fcm.log").open("ab"),
            text=True,
        )
        hello = json.loads(self.proc.stdout.readline())
        self.url = hello["url"]
        self.lean = lean
        self.account = json.loads(account_file.read_text())
        account_file.unlink()  # a throwaway key, but a private key all the same

    def tokens_reset(self) -> None:
        host, port = self.url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", "/_tokens/reset")
        conn.getresponse().read()
        conn.close()


class FakeApns(_FakeProcess):
    """bench/fake_apns_server.py as a child: its URL, CA file and the APNs key it trusts."""

    label = "fake APNs"

    def __init__(self, procs: Processes, env: dict[str, str], run_dir: Path, *, lean: bool) -> None:
        credentials_file = run_dir / "apns-credentials.json"
        command = [python(), "bench/fake_apns_server.py", "--credentials-file", str(credentials_file)]
        self.proc = procs.start(
            self.label,
            [*command, "--lean"] if lean else command,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=(run_dir / "fake-apns.log").open("ab"),
            text=True,
        )
        json.loads(self.proc.stdout.readline())
        self.credentials = json.loads(credentials_file.read_text())
        credentials_file.unlink()
        self.url, self.ca_file = self.credentials["url"], self.credentials["ca_file"]

    def tokens_reset(self) -> None:
        self.proc.stdin.write("reset\n")
        self.proc.stdin.flush()
        self.proc.stdout.readline()


@dataclass
class Bench:
    args: argparse.Namespace
    procs: Processes
    env: dict[str, str]
    run_dir: Path
    fake: FakeFcm
    apns: FakeApns | None = None
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


# --- Celery workers -----------------------------------------------------------------------


@dataclass
class Worker:
    proc: subprocess.Popen
    label: str
    sqlcount_dir: Path

    def counts(self) -> dict:
        """SQL statements and tasks of every process of this worker so far (``bench.sqlcount``)."""
        return counts_read(self.sqlcount_dir)


def worker_start(bench: Bench, pool: str, concurrency: int, *, name: str = "", env: dict | None = None) -> Worker:
    """``celery -A softafrik worker`` on the bench queue, with the counting settings."""
    tag = name or f"{pool}-{concurrency}"
    log_path = bench.run_dir / f"worker-{tag}.log"
    log_path.write_text("")
    sqlcount_dir = bench.run_dir / f"sqlcount-{tag}"
    shutil.rmtree(sqlcount_dir, ignore_errors=True)
    sqlcount_dir.mkdir()
    command = [
        python(), "-m", "celery", "-A", "softafrik", "worker", "-P", pool, "-c", str(concurrency),
        "-n", f"bench-{tag}@%h", "-l", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    worker_env = {
        **bench.env,
        "FCM_API_URL": bench.fake.url,
        "DJANGO_SETTINGS_MODULE": WORKER_SETTINGS,
        "SQLCOUNT_DIR": str(sqlcount_dir),
    }
    if bench.apns is not None:
        worker_env.update({"APNS_URL": bench.apns.url, "APNS_CA_FILE": bench.apns.ca_file})
    worker_env.update(env or {})
    label = f"celery worker -P {pool}"
    proc = bench.procs.start(label, command, env=worker_env, log=log_path)
    wait_until(
        lambda: proc.poll() is not None or " ready." in log_path.read_text(errors="replace"),
        timeout=60,
        interval=0.2,
        what="the Celery worker",
    )
    if proc.poll() is not None:
        raise RuntimeError(f"worker exited: {log_path.read_text()[-2000:]}")
    return Worker(proc=proc, label=label, sqlcount_dir=sqlcount_dir)


def _status_kib(pid: int, *names: str) -> dict[str, int]:
    values = {}
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                key, _, rest = line.partition(":")
                if key in names:
                    values[key] = int(rest.split()[0])
    except OSError:
        pass
    return values


def group_pids(pgid: int) -> list[int]:
    """Live processes of process group ``pgid`` (a worker and its pool children)."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                data = handle.read()
        except OSError:
            continue
        fields = data[data.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:
            pids.append(int(entry.name))
    return sorted(pids)


def worker_memory(worker: Worker) -> list[dict]:
    """Peak (VmHWM) and current (VmRSS) resident memory of each process of the worker, MiB:
    the main process first, then its pool children."""
    rows = []
    for pid in group_pids(worker.proc.pid):
        kib = _status_kib(pid, "VmHWM", "VmRSS")
        if kib:
            rows.append(
                {
                    "pid": pid,
                    "role": "main" if pid == worker.proc.pid else "child",
                    "peak_rss_mib": round(kib.get("VmHWM", 0) / 1024, 1),
                    "rss_mib": round(kib.get("VmRSS", 0) / 1024, 1),
                }
            )
    return rows


def children_rss_mib(worker: Worker, pids: list[int]) -> float:
    """Largest current RSS among ``pids`` (the pool children), MiB: cheap enough to sample."""
    return round(max((_status_kib(pid, "VmRSS").get("VmRSS", 0) for pid in pids), default=0) / 1024, 1)


def cpu_ms_per_item(cpu: dict, items: int) -> dict[str, float]:
    """CPU milliseconds per item of each process group a CpuMeter saw (cores x wall / items)."""
    if not items:
        return {}
    wall = cpu["wall_seconds"]
    return {label: round(cores * wall * 1000 / items, 4) for label, cores in cpu["cores_used"].items()}
