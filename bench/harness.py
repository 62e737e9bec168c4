"""Plumbing for the benchmarks: child processes, CPU accounting, machine description, HTTP.

Nothing here knows about SoftAfrik's models; ``push_bench.py`` uses it to run the platform
as in production (gunicorn, Celery workers, PostgreSQL, Redis) and to measure it.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- Child processes ---------------------------------------------------------------------


class Processes:
    """Every child the bench starts, each in its own process group, stopped on exit.

    ``stop_all`` sends SIGTERM to each group, then SIGKILL to what is left after a grace
    period; it runs from ``finally`` and from SIGTERM/SIGINT, so Ctrl-C or an error never
    leaves gunicorn, workers or the fake behind.
    """

    def __init__(self) -> None:
        self.children: dict[int, tuple[str, subprocess.Popen]] = {}

    def start(
        self, label: str, command: list[str], *, env: dict[str, str], log: Path | None = None, **popen
    ) -> subprocess.Popen:
        if log is not None:
            handle = log.open("ab")
            popen.setdefault("stdout", handle)
            popen.setdefault("stderr", subprocess.STDOUT)
        proc = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True, **popen)
        self.children[proc.pid] = (label, proc)
        return proc

    def pgids(self) -> dict[int, str]:
        return {pid: label for pid, (label, _) in self.children.items()}

    def stop(self, proc: subprocess.Popen, *, grace: float = 15.0) -> None:
        self.children.pop(proc.pid, None)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        # A worker's children may outlive their parent by a moment: reap the whole group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def stop_all(self) -> None:
        for _, proc in list(self.children.values())[::-1]:
            self.stop(proc, grace=10.0)


def exit_on_sigterm() -> None:
    """Turn SIGTERM (and SIGHUP) into SystemExit so ``finally`` blocks clean up, and make
    Ctrl-C raise KeyboardInterrupt even when started in the background (which ignores SIGINT)."""

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def wait_until(predicate: Callable[[], object], *, timeout: float, interval: float = 0.1, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- CPU accounting ----------------------------------------------------------------------


def cpu_probe_ms() -> float:
    """Milliseconds for a fixed pure-Python loop: how fast this vCPU is right now. On a
    shared VM it varies with neighbours the guest cannot see (about 200 ms here at best)."""
    started = time.perf_counter()
    sum(range(10_000_000))
    return round((time.perf_counter() - started) * 1000, 1)


def own_cpu_seconds() -> float:
    """User and system CPU of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU of process ``pid`` so far (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def _process_ticks() -> dict[int, tuple[str, int, int, int]]:
    """pid -> (name, process group, user+system ticks of all its threads, start time). A PostgreSQL
    backend's name is its title ("postgres: 15/main: user db host ..."), which says
    which database it serves."""
    ticks = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                data = handle.read()
            close = data.rindex(")")
            comm = data[data.index("(") + 1 : close]
            if comm.startswith("postgres"):
                with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                    title = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
                comm = title if title.startswith("postgres:") else comm
        except (OSError, ValueError):
            continue
        fields = data[close + 2 :].split()
        ticks[int(entry.name)] = (comm, int(fields[2]), int(fields[11]) + int(fields[12]), int(fields[19]))
    return ticks


def _machine_ticks() -> tuple[int, int, int, int]:
    """(busy, user+nice+system, all, steal) ticks of the whole machine, from /proc/stat.

    Steal is time the hypervisor gave this VM's vCPUs to others: on a shared host it
    slows everything measured here without any process of this machine being busy."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, values[0] + values[1] + values[2], sum(values), values[7]


class CpuMeter:
    """CPU seconds spent per component between ``start()`` and ``stop()``.

    Components are the bench's process groups (by label), PostgreSQL backends, Redis and
    the rest. A process that exits inside the interval is not seen, so the children being
    measured must outlive it (backends PostgreSQL forks inside it count from zero); CPU
    the machine spent in user/system mode that no live process accounts for (a test run
    that came and went, say) is reported as ``unattributed_cores`` and counted as
    background: the bench's own processes outlive the interval.
    """

    def __init__(self, groups: Callable[[], dict[int, str]], database: str = "") -> None:
        self.groups = groups
        self.database = database

    def start(self) -> CpuMeter:
        self.before = _process_ticks()
        self.machine_before = _machine_ticks()
        self.started = time.monotonic()
        return self

    def stop(self) -> dict:
        after = _process_ticks()
        busy_after, process_after, total_after, steal_after = _machine_ticks()
        wall = time.monotonic() - self.started
        groups = self.groups()
        seconds: dict[str, float] = {}
        for pid, (comm, pgid, ticks, start) in after.items():
            previous = self.before.get(pid)
            # A process born inside the interval (or a reused pid) counts from zero.
            delta = ticks - previous[2] if previous is not None and previous[3] == start else ticks
            if delta <= 0:
                continue
            if pgid in groups:
                label = groups[pgid]
            elif comm.startswith("postgres"):
                label = self._postgres_label(comm)
            elif comm.startswith("redis"):
                label = "redis"
            elif pid == os.getpid():
                label = "bench driver"
            else:
                label = f"{BACKGROUND} ({comm})" if delta / CLOCK_TICKS > 0.05 * wall else f"{BACKGROUND} (other)"
            seconds[label] = seconds.get(label, 0.0) + delta / CLOCK_TICKS
        busy = busy_after - self.machine_before[0]
        total = total_after - self.machine_before[2]
        seen = sum(value for label, value in seconds.items() if label.startswith(BACKGROUND))
        unattributed = max(0.0, (process_after - self.machine_before[1]) / CLOCK_TICKS - sum(seconds.values()))
        return {
            "wall_seconds": round(wall, 2),
            "machine_busy_percent": round(100 * busy / total, 1) if total else None,
            "steal_percent": round(100 * (steal_after - self.machine_before[3]) / total, 1) if total else None,
            "cores_used": {
                label: round(value / wall, 2) for label, value in sorted(seconds.items(), key=lambda kv: -kv[1])
            },
            "unattributed_cores": round(unattributed / wall, 2),
            "background_cores": round((seen + unattributed) / wall, 2),
        }

    def _postgres_label(self, title: str) -> str:
        # "postgres: 15/main: <user> <database> <host> <state>" for a client backend.
        parts = title.split()
        if len(parts) >= 5 and (parts[4].endswith(")") or parts[4] == "[local]"):
            database = parts[3]
            if database == self.database:
                return "postgresql"
            return f"{BACKGROUND} (postgresql, database {database})"
        return "postgresql (shared processes)"


BACKGROUND = "not the bench"


def wait_for_quiet(
    meter_factory: Callable[[], CpuMeter], *, limit: float, threshold: float = 0.15, settle: int = 3
) -> dict:
    """Wait (up to ``limit`` seconds) until processes outside the bench use under
    ``threshold`` cores for ``settle`` consecutive half seconds. Other work on a 2-core
    machine (a test run, say) would halve any figure measured meanwhile. Returns what was seen."""
    started = time.monotonic()
    quiet = 0
    samples = []
    while True:
        meter = meter_factory().start()
        time.sleep(0.5)
        background = meter.stop()["background_cores"]
        samples.append(background)
        quiet = quiet + 1 if background < threshold else 0
        waited = time.monotonic() - started
        if quiet >= settle or waited >= limit:
            return {
                "waited_seconds": round(waited, 1),
                "quiet": quiet >= settle,
                "last_background_cores": samples[-settle:],
            }


# --- Machine description ------------------------------------------------------------------


def machine_description(pg_cursor) -> dict:
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    import celery
    import django
    import firebase_admin
    import gunicorn

    pg_cursor.execute("SHOW server_version")
    pg_version = pg_cursor.fetchone()[0]
    settings = {}
    for name in ("shared_buffers", "synchronous_commit", "max_connections"):
        pg_cursor.execute(f"SHOW {name}")
        settings[name] = pg_cursor.fetchone()[0]
    redis_version = "unknown"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, timeout=5).stdout
        redis_version = next((p.split("=", 1)[1] for p in out.split() if p.startswith("v=")), out.strip())
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "postgresql": pg_version,
        "postgresql_settings": settings,
        "redis": redis_version,
        "gunicorn": gunicorn.__version__,
        "celery": celery.__version__,
        "firebase_admin": firebase_admin.__version__,
    }


# --- HTTP --------------------------------------------------------------------------------


class Http:
    """One keep-alive connection for sequential requests (http.client), timing each."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.headers = headers
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict, object, float]:
        """(status, headers, parsed JSON body, seconds from send to the last body byte)."""
        headers = dict(self.headers)
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=payload, headers=headers)
            response = self.conn.getresponse()
            raw = response.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()  # the server closed an idle keep-alive connection: once more
            started = time.perf_counter()
            self.conn.request(method, path, body=payload, headers=headers)
            response = self.conn.getresponse()
            raw = response.read()
        elapsed = time.perf_counter() - started
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()
        data = json.loads(raw) if raw else None
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data, elapsed

    def close(self) -> None:
        self.conn.close()


def python() -> str:
    return sys.executable


# --- One benchmark run's platform -------------------------------------------------------


def _database_drop(pg_url: str, db_name: str) -> None:
    import psycopg

    with psycopg.connect(f"{pg_url}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def platform_env(*, db_url: str, redis_url: str, queue: str, run_dir: Path, settings: str) -> dict[str, str]:
    """Production-like settings for every process: PostgreSQL, Redis, DEBUG off."""
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_TASK_ALWAYS_EAGER", "FCM_API_URL", "DEBUG")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": settings,
            "DATABASE_URL": db_url,
            "REDIS_URL": redis_url,
            "CELERY_QUEUE": queue,
            # One for all processes: provider credentials are encrypted with it.
            "SECRET_KEY": secrets.token_urlsafe(48),
            "SOFTAFRIK_LOCAL_DIR": str(run_dir / "local"),
            "DEBUG": "0",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            # The platform's ceiling is measured, not a key's rate limit (accounts.ratelimit).
            "API_RATE_PER_SECOND": "0",
            "API_RATE_PER_MINUTE": "0",
        }
    )
    return env


@contextlib.contextmanager
def bench_platform(
    args, *, run_dir: Path, queue: str, settings: str = "softafrik.settings"
) -> Iterator[tuple[Processes, dict[str, str], dict]]:
    """Set up one run: a fresh ``run_dir``, the database ``args.db_name`` dropped, created
    and migrated, Django set up on it in this process. Yields (processes, the children's
    environment, the machine's description). On the way out, however it ends: every child
    stopped and the database dropped (unless ``args.keep_db``)."""
    shutil.rmtree(run_dir, ignore_errors=True)
    (run_dir / "local").mkdir(parents=True)
    procs = Processes()
    db_created = False
    try:
        print(f"[{time.strftime('%H:%M:%S')}] database {args.db_name}: drop, create, migrate", flush=True)
        _database_drop(args.pg_url, args.db_name)
        import psycopg

        with psycopg.connect(f"{args.pg_url}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{args.db_name}"')
        db_created = True
        db_url = f"{args.pg_url}/{args.db_name}"
        env = platform_env(db_url=db_url, redis_url=args.redis_url, queue=queue, run_dir=run_dir, settings=settings)
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0, interactive=False)
        with connection.cursor() as cursor:
            machine = machine_description(cursor)
        yield procs, env, machine
    finally:
        procs.stop_all()
        if db_created and not args.keep_db:
            with contextlib.suppress(Exception):
                from django.db import connections

                connections.close_all()
            with contextlib.suppress(Exception):
                _database_drop(args.pg_url, args.db_name)


def results_write(args, results: dict, report: Callable[[dict], str], *, started: float, run_dir: Path) -> None:
    """Total time, the JSON to ``args.output``, the printed report."""
    results["total_seconds"] = round(time.monotonic() - started, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=str))
    print(report(results))
    print(f"\nTotal {results['total_seconds']} s. Results: {args.output}; logs: {run_dir}/")


def module_at(ref: str, path: str, *, name: str, directory: Path) -> ModuleType:
    """The file ``path`` as it was at git ``ref``, written to ``directory`` and imported as
    ``name`` (registered in sys.modules: dataclasses and typing look a module up by name),
    so a benchmark can measure the code before a change beside the code after it."""
    source = subprocess.run(
        ["git", "show", f"{ref}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    file = directory / f"{name}.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
