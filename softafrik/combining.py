"""Flat combining: concurrent callers' work done as one batch by one of them.

Threads of one process that want the same kind of work done at the same moment (the
accepts of one prepaid account, which all update that account's row) queue their items;
whichever finds no batch running runs every queued item as one batch, hands each caller
its result, and passes the lead to the first caller that queued meanwhile (Hendler,
Incze, Shavit and Tzafrir, "Flat combining", SPAA 2010). Nobody waits for a timer: a
caller that arrives alone runs its batch of one at once, and batches grow only while
one is running, that is exactly when callers would otherwise queue on a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Slot(Generic[Item, Result]):
    __slots__ = ("done", "error", "item", "lead", "result")

    def __init__(self, item: Item) -> None:
        self.item = item
        self.done = threading.Event()
        self.lead = False  # woken to run the next batch rather than with a result
        self.result: Result | None = None
        self.error: BaseException | None = None


class Combiner(Generic[Item, Result]):
    """Runs ``run_batch(items) -> results`` (one result per item, in order) for the items
    of concurrent ``submit`` calls, at most ``max_batch`` at a time. An exception from
    ``run_batch`` is raised in every caller of that batch. A leader runs at most
    ``max_rounds`` batches (its own and those queued meanwhile) before the next caller
    in the queue leads."""

    def __init__(
        self, run_batch: Callable[[Sequence[Item]], Sequence[Result]], *, max_batch: int, max_rounds: int = 4
    ) -> None:
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._max_rounds = max_rounds
        self._lock = threading.Lock()
        self._queued: list[_Slot[Item, Result]] = []
        self._running = False

    def submit(self, item: Item) -> Result:
        slot: _Slot[Item, Result] = _Slot(item)
        with self._lock:
            self._queued.append(slot)
            leads = not self._running
            self._running = True
        if not leads:
            slot.done.wait()
            if not slot.lead:
                return self._outcome(slot)
        self._lead(slot)
        return self._outcome(slot)

    def _lead(self, own: _Slot[Item, Result]) -> None:
        # The leader runs the batches that queued behind its own as well, up to
        # max_rounds in all, before it passes the lead: a woken follower would first
        # have to win the GIL back from the process's other request threads (up to its
        # switch interval, 5 ms), and every such wait lies on the account's one path.
        for rounds in range(1, self._max_rounds + 1):
            with self._lock:
                batch, self._queued = self._queued[: self._max_batch], self._queued[self._max_batch :]
            try:
                results = self._run_batch([slot.item for slot in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"run_batch answered {len(results)} results for {len(batch)} items")
                for slot, result in zip(batch, results, strict=True):
                    slot.result = result
            except BaseException as exc:  # every caller of the batch sees it, the leader included
                for slot in batch:
                    slot.error = exc
            for slot in batch:
                if slot is not own:
                    slot.done.set()
            with self._lock:
                if self._queued and rounds < self._max_rounds:
                    continue
                following = self._queued[0] if self._queued else None
                self._running = following is not None
            if following is not None:
                following.lead = True
                following.done.set()
            return

    @staticmethod
    def _outcome(slot: _Slot[Item, Result]) -> Result:
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]


class Combiners(Generic[Item, Result]):
    """One Combiner per key (an account, say), made on first use."""

    def __init__(self, make: Callable[[object], Combiner[Item, Result]]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._by_key: dict[object, Combiner[Item, Result]] = {}

    def __call__(self, key: object) -> Combiner[Item, Result]:
        combiner = self._by_key.get(key)
        if combiner is None:
            with self._lock:
                combiner = self._by_key.get(key)
                if combiner is None:
                    combiner = self._by_key[key] = self._make(key)
        return combiner
