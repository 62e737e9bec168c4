"""Run ``fakes.fcm.FakeFcmServer`` (record=False) in a process of its own, for benchmarks.

    python bench/fake_fcm_server.py --account-file PATH [--project bench-project] [--lean]

It makes a service account registered with the server (``make_service_account`` must run
in the server's process, which holds the public key), writes its JSON to PATH, and prints
one line ``{"url": ..., "account_file": ...}`` once listening. Then it reads commands on
stdin, one a line: ``stats`` answers one JSON line with the server's counters and CPU
(``FakeFcmServer.stats()``: requests, send_requests, token_requests, accepted,
cpu_seconds of this process...; ``GET <url>/_stats`` answers the same); ``quit`` or end
of input stops it. The server's asyncio loop is this process's main loop, and its own
process means it never shares a GIL with the senders being measured. ``--lean`` skips
the per-message body validation (valid messages get the same answers).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fakes.fcm import FakeFcmServer, make_service_account


def stdin_lines(loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str]:
    """stdin's lines ("" at its end), read by a daemon thread: a blocked read never holds the exit."""
    lines: asyncio.Queue[str] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, "")

    threading.Thread(target=read, name="stdin", daemon=True).start()
    return lines


async def stdin_commands_answer(server) -> None:
    """Answer stdin's commands until "quit" or its end: "stats" prints ``server.stats()``
    as one JSON line."""
    lines = stdin_lines(asyncio.get_running_loop())
    while line := await lines.get():
        command = line.strip()
        if command == "stats":
            print(json.dumps(server.stats()), flush=True)
        elif command == "quit":
            break


async def serve(args: argparse.Namespace) -> None:
    server = await FakeFcmServer(record=False, lean=args.lean).start_serving()
    try:
        account = make_service_account(server, project_id=args.project)
        args.account_file.write_text(json.dumps(account))
        args.account_file.chmod(0o600)
        print(json.dumps({"url": server.url, "account_file": str(args.account_file)}), flush=True)
        await stdin_commands_answer(server)
    finally:
        await server.stop_serving()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--account-file", required=True, type=Path)
    parser.add_argument("--project", default="bench-project")
    parser.add_argument("--lean", action="store_true", help="skip the per-message body validation")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
