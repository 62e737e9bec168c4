"""``make run``: web, a Celery worker and beat as three real processes, stopped together.

Uses whatever the environment says (embedded SQLite + filesystem broker by default).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

PORT = os.environ.get("PORT", "8000")


def main() -> int:
    python = sys.executable
    commands = {
        "web": [python, "manage.py", "runserver", f"0.0.0.0:{PORT}", "--noreload"],
        "worker": [python, "-m", "celery", "-A", "softafrik", "worker", "-l", "INFO", "-P", "threads", "-c", "8"],
        # The database scheduler (CELERY_BEAT_SCHEDULER): no schedule file.
        "beat": [python, "-m", "celery", "-A", "softafrik", "beat", "-l", "INFO"],
    }
    procs = {name: subprocess.Popen(cmd) for name, cmd in commands.items()}
    print(
        f"SoftAfrik running on http://127.0.0.1:{PORT}/ (web, worker, beat: pids "
        + ", ".join(f"{n}={p.pid}" for n, p in procs.items())
        + "). Ctrl-C stops all.",
        flush=True,
    )

    def stop(*_):
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(proc.poll() is None for proc in procs.values()):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    stop()
    for proc in procs.values():
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
