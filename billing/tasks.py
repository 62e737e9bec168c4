"""Thin, repeatable billing tasks."""

from __future__ import annotations

from celery import shared_task

from billing.consumer import billing_consume


@shared_task(name="billing.tasks.billing_tick")
def billing_tick() -> int:
    """Beat: settle and release what the status events say ended."""
    return billing_consume()


@shared_task(name="billing.tasks.invoices_close")
def invoices_close() -> int:
    """Beat, hourly: close every complete month that has no invoice or statement yet."""
    from billing.invoices import invoices_close_due  # loads fpdf2 only in the process that renders

    return invoices_close_due()
