"""Thin, repeatable omni tasks: beat's tick runs the engine (events, timers, schedules)."""

from __future__ import annotations

import uuid

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from scenarios import engine

TICK_LOCK = "scenarios:omni-tick"


@shared_task(name="scenarios.tasks.omni_tick")
def omni_tick() -> dict[str, int]:
    """Beat: apply waiting status events to the steps, time out the due steps and start
    their next one, start the scheduled messages whose time has come.

    One tick at a time (a lock in the cache, Redis in production): a slow tick and the
    next one would otherwise wait on each other's rows, the consumer's step updates
    against the sweeper's locked timers. A tick killed mid-way holds the lock at most
    ``OMNI_TICK_LOCK_SECONDS``; its transactions rolled back, the next tick redoes them."""
    token = uuid.uuid4().hex
    if not cache.add(TICK_LOCK, token, timeout=settings.OMNI_TICK_LOCK_SECONDS):
        return {"skipped": 1}
    try:
        return engine.omni_tick()
    finally:
        if cache.get(TICK_LOCK) == token:
            cache.delete(TICK_LOCK)
