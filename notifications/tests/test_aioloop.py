"""The per-process event loop the provider transports share."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest

from notifications.push.providers import aioloop


async def _whoami() -> tuple[int, int]:
    await asyncio.sleep(0)
    return os.getpid(), threading.get_ident()


def test_run_returns_the_coroutine_result_from_the_loop_thread():
    pid, thread_id = aioloop.run(_whoami(), timeout=5)

    assert pid == os.getpid()
    assert thread_id != threading.get_ident()
    assert aioloop.current_loop() is aioloop.get_loop()


def test_every_call_in_a_process_uses_the_same_loop():
    async def running_loop():
        return asyncio.get_running_loop()

    first = aioloop.run(running_loop(), timeout=5)
    second = aioloop.run(running_loop(), timeout=5)

    assert first is second is aioloop.get_loop()


def test_run_raises_the_coroutine_exception():
    async def fail():
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        aioloop.run(fail(), timeout=5)


def test_run_times_out_and_cancels_the_coroutine():
    cancelled = threading.Event()

    async def slow():
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        aioloop.run(slow(), timeout=0.1)

    assert time.monotonic() - started < 2
    assert cancelled.wait(2)


def test_concurrent_callers_share_the_loop_and_run_at_once():
    async def nap():
        await asyncio.sleep(0.3)
        return asyncio.get_running_loop()

    loops = []
    threads = [threading.Thread(target=lambda: loops.append(aioloop.run(nap(), timeout=5))) for _ in range(5)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(loops) == 5 and all(loop is aioloop.get_loop() for loop in loops)
    assert time.monotonic() - started < 1.2  # five 0.3 s naps one after the other would take 1.5 s


def test_run_from_the_loop_thread_refuses_instead_of_deadlocking():
    async def nested():
        aioloop.run(_whoami(), timeout=1)

    with pytest.raises(RuntimeError, match="loop's own thread"):
        aioloop.run(nested(), timeout=5)


def test_stop_ends_the_thread_and_the_next_call_starts_a_new_loop():
    old = aioloop.get_loop()
    old_thread = aioloop._thread

    aioloop.stop()

    assert not old_thread.is_alive()
    assert aioloop.current_loop() is None
    assert old.is_closed()
    assert aioloop.run(_whoami(), timeout=5)[0] == os.getpid()
    assert aioloop.get_loop() is not old


def test_a_forked_child_gets_a_working_loop_of_its_own():
    parent_loop = aioloop.get_loop()
    parent_pid, parent_thread = aioloop.run(_whoami(), timeout=5)
    read_end, write_end = os.pipe()

    pid = os.fork()
    if pid == 0:  # the child: the parent's loop thread did not survive the fork
        try:
            inherited = aioloop.current_loop()
            child_pid, _ = aioloop.run(_whoami(), timeout=5)
            answer = f"{inherited is None}|{aioloop.get_loop() is not parent_loop}|{child_pid}"
        except BaseException as exc:
            answer = f"error|{exc!r}|"
        os.write(write_end, answer.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        answer = pipe.read()
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert answer == f"True|True|{pid}"
    # the parent's loop is untouched
    assert aioloop.get_loop() is parent_loop
    assert aioloop.run(_whoami(), timeout=5) == (parent_pid, parent_thread)
