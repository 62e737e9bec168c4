"""The garbage collector's tuning for server processes (softafrik.heap)."""

from __future__ import annotations

import gc

import pytest

from softafrik.heap import heap_settle


@pytest.fixture
def collector():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_a_settled_process_freezes_what_it_holds_and_collects_young_objects_less_often(collector, settings):
    settings.GC_FREEZE, settings.GC_GEN0_THRESHOLD = True, 10_000
    gen1, gen2 = gc.get_threshold()[1:]

    heap_settle()

    assert gc.get_freeze_count() > 10_000  # a Django process's modules, classes and metadata
    assert gc.get_threshold() == (10_000, gen1, gen2)


def test_zero_settings_keep_pythons_defaults(collector, settings):
    settings.GC_FREEZE, settings.GC_GEN0_THRESHOLD = False, 0
    before = gc.get_threshold()

    heap_settle()

    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
