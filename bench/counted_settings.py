"""Bench settings plus a per-process SQL statement and task counter (``bench.sqlcount``),
for the benchmark's Celery workers only."""

from bench.settings import *  # noqa: F403
from bench.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench.sqlcount.SqlCountConfig"]
