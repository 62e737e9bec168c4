"""Thin, repeatable account tasks."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from softafrik.idempotency import idempotency_purge as _purge


@shared_task(name="accounts.tasks.idempotency_purge")
def idempotency_purge() -> int:
    """Beat, hourly: Idempotency-Key records past their retention (already ignored)."""
    return _purge(older_than=timedelta(hours=settings.IDEMPOTENCY_RETENTION_HOURS))
