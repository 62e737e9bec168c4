"""Thin, repeatable omni tasks: beat's tick runs the engine (events, timers, schedules)."""

from __future__ import annotations

from celery import shared_task

from scenarios import engine


@shared_task(name="scenarios.tasks.omni_tick")
def omni_tick() -> dict[str, int]:
    """Beat: apply waiting status events to the steps, time out the due steps and start
    their next one, start the scheduled messages whose time has come."""
    return engine.omni_tick()
