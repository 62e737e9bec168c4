"""Flat combining: callers that arrive while a batch runs are served by the next batch."""

from __future__ import annotations

import threading
import time

import pytest

from softafrik.combining import Combiner, Combiners


def _callers(combiner: Combiner, items: list) -> dict:
    results: dict = {}

    def call(item):
        try:
            results[item] = combiner.submit(item)
        except Exception as exc:  # the test looks at what each caller got
            results[item] = exc

    threads = [threading.Thread(target=call, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    return {"threads": threads, "results": results}


def _join(calls: dict) -> dict:
    for thread in calls["threads"]:
        thread.join(timeout=10)
        assert not thread.is_alive()
    return calls["results"]


def _wait_queued(combiner: Combiner, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(combiner._queued) < count:
        assert time.monotonic() < deadline, "callers never queued"
        time.sleep(0.001)


def test_a_caller_alone_runs_its_batch_of_one_at_once():
    batches = []
    combiner = Combiner(lambda items: batches.append(list(items)) or [item * 2 for item in items], max_batch=8)
    assert combiner.submit(21) == 42
    assert combiner.submit(4) == 8
    assert batches == [[21], [4]]


def test_callers_arriving_during_a_batch_are_served_together_by_the_next():
    release = threading.Event()
    batches = []

    def run(items):
        batches.append(list(items))
        if len(batches) == 1:
            release.wait(5)
        return [f"r{item}" for item in items]

    combiner = Combiner(run, max_batch=8)
    first = _callers(combiner, [0])
    while not batches:
        time.sleep(0.001)
    rest = _callers(combiner, [1, 2, 3, 4])
    _wait_queued(combiner, 4)
    release.set()
    assert _join(first) == {0: "r0"}
    assert _join(rest) == {1: "r1", 2: "r2", 3: "r3", 4: "r4"}
    assert batches[0] == [0]
    assert sorted(batches[1]) == [1, 2, 3, 4] and len(batches) == 2


def test_a_batch_takes_at_most_max_batch_and_the_rest_follow():
    release = threading.Event()
    sizes = []

    def run(items):
        sizes.append(len(items))
        if len(sizes) == 1:
            release.wait(5)
        return list(items)

    combiner = Combiner(run, max_batch=3)
    first = _callers(combiner, ["a"])
    while not sizes:
        time.sleep(0.001)
    rest = _callers(combiner, list(range(7)))
    _wait_queued(combiner, 7)
    release.set()
    _join(first)
    assert _join(rest) == {i: i for i in range(7)}
    assert sizes == [1, 3, 3, 1]


def test_an_error_reaches_every_caller_of_its_batch_and_the_next_batch_still_runs():
    release = threading.Event()
    calls = []

    def run(items):
        calls.append(list(items))
        if len(calls) == 1:
            release.wait(5)
            return ["ok"]
        if len(calls) == 2:
            raise ValueError("database gone")
        return ["later" for _ in items]

    combiner = Combiner(run, max_batch=2)
    first = _callers(combiner, ["x"])
    while not calls:
        time.sleep(0.001)
    failing = _callers(combiner, [1, 2])
    _wait_queued(combiner, 2)
    release.set()
    assert _join(first) == {"x": "ok"}
    failed = _join(failing)
    assert all(isinstance(failed[i], ValueError) for i in (1, 2))
    assert combiner.submit(3) == "later"


def test_the_leader_serves_the_batches_queued_behind_its_own_then_passes_the_lead():
    release = threading.Event()
    runners = []

    def run(items):
        runners.append((threading.get_ident(), len(items)))
        if len(runners) == 1:
            release.wait(5)
        return list(items)

    combiner = Combiner(run, max_batch=2, max_rounds=2)
    first = _callers(combiner, ["lead"])
    while not runners:
        time.sleep(0.001)
    rest = _callers(combiner, list(range(5)))
    _wait_queued(combiner, 5)
    release.set()
    assert _join(first) == {"lead": "lead"}
    assert _join(rest) == {i: i for i in range(5)}
    assert [size for _, size in runners] == [1, 2, 2, 1]
    leaders = [ident for ident, _ in runners]
    assert leaders[0] == leaders[1]  # the leader's second round: no hand-over
    assert leaders[2] != leaders[0]  # after max_rounds the next caller in the queue leads
    assert leaders[2] == leaders[3]


def test_a_wrong_number_of_results_is_an_error_not_a_wrong_answer():
    combiner = Combiner(lambda items: [], max_batch=4)
    with pytest.raises(RuntimeError, match="0 results for 1 items"):
        combiner.submit("a")


def test_combiners_make_one_combiner_per_key():
    made = []
    combiners = Combiners(lambda key: made.append(key) or Combiner(list, max_batch=1))
    assert combiners("a") is combiners("a")
    assert combiners("a") is not combiners("b")
    assert made == ["a", "b"]
