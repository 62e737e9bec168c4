"""Thin, repeatable reports tasks."""

from __future__ import annotations

from celery import shared_task

from reports.consumer import reports_consume
from reports.services import reports_purge


@shared_task(name="reports.tasks.reports_tick")
def reports_tick() -> int:
    """Beat: fold the status events that came in into the daily aggregates."""
    return reports_consume()


@shared_task(name="reports.tasks.reports_purge")
def reports_purge_task() -> int:
    """Beat, hourly: forget counted keys and listed failures past their retention."""
    return reports_purge()
