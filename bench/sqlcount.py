"""A per-process count of SQL statements and Celery tasks, installed only by ``bench.counted_settings``.

``push_bench.py`` starts its Celery workers with ``DJANGO_SETTINGS_MODULE=bench.counted_settings``
and ``SQLCOUNT_DIR`` set; every process then wraps each new database connection with
``count_statement`` (Django's ``execute_wrappers``: one integer increment per statement,
under a microsecond against the statement's own hundreds) and, after each task
(``task_postrun``), writes its totals to ``SQLCOUNT_DIR/<pid>.json``: statements sent
(an ``executemany`` counts each parameter set), ``execute`` calls, and tasks run by name.
``counts_read`` sums the files. The platform's own settings never load this module.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from django.apps import AppConfig

_counts = {"statements": 0, "calls": 0}
_tasks: dict[str, int] = {}


def count_statement(execute, sql, params, many, context):
    _counts["calls"] += 1
    _counts["statements"] += len(params) if many and params is not None and hasattr(params, "__len__") else 1
    return execute(sql, params, many, context)


def _on_connection(sender, connection, **kwargs) -> None:
    if count_statement not in connection.execute_wrappers:
        connection.execute_wrappers.append(count_statement)


def _write(directory: Path) -> None:
    path = directory / f"{os.getpid()}.json"
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps({**_counts, "tasks": _tasks}))
    os.replace(scratch, path)


def counts_read(directory: Path) -> dict:
    """The totals of every process that wrote to ``directory``: statements, calls, tasks by name."""
    total: dict = {"statements": 0, "calls": 0, "tasks": {}, "processes": 0}
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text())
        total["processes"] += 1
        total["statements"] += data["statements"]
        total["calls"] += data["calls"]
        for name, count in data["tasks"].items():
            total["tasks"][name] = total["tasks"].get(name, 0) + count
    total["tasks_total"] = sum(total["tasks"].values())
    return total


class SqlCountConfig(AppConfig):
    name = "bench.sqlcount"
    label = "bench_sqlcount"

    def ready(self) -> None:
        from celery.signals import task_postrun
        from django.db.backends.signals import connection_created

        directory = Path(os.environ["SQLCOUNT_DIR"])
        connection_created.connect(_on_connection, weak=False)

        def after_task(sender=None, **kwargs) -> None:
            name = getattr(sender, "name", str(sender))
            _tasks[name] = _tasks.get(name, 0) + 1
            _write(directory)

        task_postrun.connect(after_task, weak=False)
