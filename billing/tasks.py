"""Thin, repeatable billing tasks."""

from __future__ import annotations

from celery import shared_task

from billing.consumer import billing_consume


@shared_task(name="billing.tasks.billing_tick")
def billing_tick() -> int:
    """Beat: settle and release what the status events say ended."""
    return billing_consume()
