"""The cyclic garbage collector, tuned for long-running server processes.

CPython runs a young collection every 700 net allocations of container objects and,
every so often, a full one that walks every object the process holds. A Django
process holds about 160,000 of them once started (modules, classes, the URL
resolver, the ORM's metadata), none of which ever becomes garbage, so a full
collection mostly re-walks them. Hot paths that keep many objects alive at once
multiply this: a 500-message push batch has hundreds of requests, futures and
answers in flight, which trips young collections dozens of times per batch and full
ones every few batches. Profiling a broadcast's worker found about 8% of its CPU in
collections attributed to aiohttp's header handling alone.

So, once a process has started (and, for a Celery worker, again in each forked child),
``heap_settle`` freezes what exists (``gc.freeze``: the collector never looks at
those objects again, and a forked child does not write to their pages either) and
raises the young-generation threshold (``GC_GEN0_THRESHOLD``), so a batch's
short-lived objects are freed by reference counting before a collection looks at
them. Cycles are still collected, only less often. ``GC_FREEZE=0`` and
``GC_GEN0_THRESHOLD=0`` restore Python's defaults.
"""

from __future__ import annotations

import gc

from django.conf import settings


def heap_settle() -> None:
    """Freeze the objects this process holds now and apply the collector's threshold."""
    if settings.GC_FREEZE:
        gc.collect()  # what is garbage now is not frozen with the rest
        gc.freeze()
    if settings.GC_GEN0_THRESHOLD:
        _, gen1, gen2 = gc.get_threshold()
        gc.set_threshold(settings.GC_GEN0_THRESHOLD, gen1, gen2)
