"""One asyncio event loop per process, in a daemon thread, for every provider's transport.

Celery prefork workers call providers from synchronous code; the providers' HTTP
clients (aiohttp sessions, HTTP/2 connections) live on this loop so their keep-alive
connections and many concurrent requests cost one thread, not one per request. The
loop is started on first use and again in a process forked from one that had it
(Celery's prefork children): a child never touches its parent's loop, thread or
sockets, since none of them survive a fork in a usable state.

``run(coro, timeout=...)`` submits a coroutine from synchronous code and waits for
its result. Objects bound to a loop (an aiohttp ``ClientSession``) must be created
on it and recreated when ``get_loop()`` returns another loop than theirs: that is
how a provider built before the fork notices it is in a child.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_pid = 0


def get_loop() -> asyncio.AbstractEventLoop:
    """This process's running loop, started (or started again after a fork) if needed."""
    global _loop, _thread, _pid
    loop, thread, pid = _loop, _thread, os.getpid()
    if loop is not None and _pid == pid and thread is not None and thread.is_alive():
        return loop
    with _lock:
        if _loop is not None and _pid == pid and _thread is not None and _thread.is_alive():
            return _loop
        # After a fork the parent's loop object is here but its thread is not: drop it
        # without closing it (its selector and self-pipe are the parent's too).
        loop = asyncio.new_event_loop()
        started = threading.Event()
        thread = threading.Thread(target=_serve, args=(loop, started), name="provider-aioloop", daemon=True)
        thread.start()
        started.wait()
        _loop, _thread, _pid = loop, thread, pid
        return loop


def current_loop() -> asyncio.AbstractEventLoop | None:
    """This process's loop if it is running, without starting one."""
    loop, thread = _loop, _thread
    if loop is not None and _pid == os.getpid() and thread is not None and thread.is_alive():
        return loop
    return None


def _serve(loop: asyncio.AbstractEventLoop, started: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(started.set)
    try:
        loop.run_forever()
    finally:
        loop.close()


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Schedule ``coro`` on this process's loop; the caller waits on the future."""
    loop = get_loop()
    if in_loop_thread():
        coro.close()
        raise RuntimeError("aioloop.run/submit called from the loop's own thread: await the coroutine instead")
    return asyncio.run_coroutine_threadsafe(coro, loop)


def run(coro: Coroutine[Any, Any, T], *, timeout: float) -> T:
    """Run ``coro`` on this process's loop and return its result (or raise its exception).

    After ``timeout`` seconds the coroutine is cancelled and ``TimeoutError`` raised.
    Must not be called from the loop's thread (it would wait on itself forever).
    """
    future = submit(coro)
    try:
        return future.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise TimeoutError(f"coroutine did not finish within {timeout} s") from None


def in_loop_thread() -> bool:
    thread = _thread
    return thread is not None and _pid == os.getpid() and threading.current_thread() is thread


def stop(timeout: float = 5.0) -> None:
    """Stop this process's loop and join its thread; the next ``get_loop`` starts a new one.

    Clients still bound to the old loop are not closed here: close them first.
    """
    global _loop, _thread
    with _lock:
        loop, thread = _loop, _thread
        owned = _pid == os.getpid()
        _loop = _thread = None
    if loop is None or thread is None or not owned or not thread.is_alive():
        return
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout)
    if thread.is_alive():
        logger.warning("provider event loop did not stop within %s s", timeout)
