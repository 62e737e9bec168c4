"""Run ``fakes.webpush.FakeWebPushServer`` (record=False) in a process of its own, for benchmarks.

    python bench/fake_webpush_server.py --subscriptions-file PATH [--subscriptions 1000] [--lean]

It subscribes ``--subscriptions`` "browsers" (their private keys must stay in the server's
process, which decrypts with them), writes their PushSubscription JSON to PATH as one
list, and prints one line ``{"url": ..., "subscriptions_file": ...}`` once listening.
Then it reads commands on stdin, one a line: ``stats`` answers one JSON line with the
server's counters and CPU (``FakeWebPushServer.stats()``: requests, push_requests,
accepted, connections, vapid_verifications, decryptions, cpu_seconds of this process...;
``GET <url>/_stats`` answers the same); ``quit`` or end of input stops it. The server's
asyncio loop is this process's main loop, and its own process means it never shares a
GIL with the senders being measured. ``--lean`` verifies each distinct VAPID header once
and does not decrypt (valid pushes get the same answers).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fake_fcm_server import stdin_commands_answer
from fakes.webpush import FakeWebPushServer


async def serve(args: argparse.Namespace) -> None:
    server = await FakeWebPushServer(record=False, lean=args.lean).start_serving()
    try:
        subscriptions = [server.new_subscription() for _ in range(args.subscriptions)]
        args.subscriptions_file.write_text(json.dumps(subscriptions))
        args.subscriptions_file.chmod(0o600)  # the auth secrets are a subscriber's credentials
        print(json.dumps({"url": server.url, "subscriptions_file": str(args.subscriptions_file)}), flush=True)
        await stdin_commands_answer(server)
    finally:
        await server.stop_serving()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions-file", required=True, type=Path)
    parser.add_argument("--subscriptions", type=int, default=1000, help="how many to subscribe (about 30 us each)")
    parser.add_argument("--lean", action="store_true", help="verify each VAPID header once, do not decrypt")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
