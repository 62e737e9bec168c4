"""Run ``fakes.apns.FakeApnsServer`` in a process of its own, for benchmarks.

    python bench/fake_apns_server.py --credentials-file PATH [--lean]

It makes an APNs signing key registered with the server (key id, team id), writes
``{"url", "ca_file", "key_pem", "key_id", "team_id", "topic"}`` to PATH (mode 0600) and
prints one line ``{"url": ..., "ca_file": ...}`` once listening (TLS with the fake's own
CA, ALPN h2, every provider token and request checked as ``fakes.apns`` does). Then it
reads commands on stdin, one a line: ``stats`` answers one JSON line (``accepted``:
notifications answered 200; ``distinct_tokens`` and ``repeated_tokens``: each device
token counted once; ``connections``; ``cpu_seconds`` of this process; ``requests`` and
``loop_cpu_seconds`` from the fake's ``stats()``); ``reset`` empties the token set;
``quit`` or end of input stops it. ``--lean`` runs the fake with ``lean=True`` (h2's
per-request header validation skipped, same answers to valid requests: see
``fakes.apns``), what the benchmark should use; ``bench/fake_apns_cost.py`` measures both.

The fake records every accepted notification in ``received``; a thread here takes that
list every 0.2 s and keeps only the counts (a token's hash in a set), so memory stays
bounded however many notifications a broadcast sends. Its CPU (under 1% of the fake's)
is in ``cpu_seconds``.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fakes.apns import FakeApnsServer, make_apns_key, silence_hpack_logging

KEY_ID, TEAM_ID, TOPIC = "BENCHKEY01", "BENCHTEAM1", "com.softafrik.bench"
DRAIN_SECONDS = 0.2


class Counts:
    """What the fake accepted, folded from its ``received`` list."""

    def __init__(self, server: FakeApnsServer) -> None:
        self.server = server
        self.lock = threading.Lock()
        self.accepted = 0
        self.hashes: set[int] = set()
        self.repeated = 0

    def drain(self) -> None:
        with self.server._lock:
            received, self.server.received = self.server.received, []
        with self.lock:
            self.accepted += len(received)
            for notification in received:
                hashed = hash(notification.token)
                if hashed in self.hashes:
                    self.repeated += 1
                else:
                    self.hashes.add(hashed)

    def reset(self) -> None:
        self.drain()
        with self.lock:
            self.hashes = set()
            self.repeated = 0

    def stats(self) -> dict:
        self.drain()
        server_stats = self.server.stats()
        with self.lock:
            return {
                "accepted": self.accepted,
                "distinct_tokens": len(self.hashes),
                "repeated_tokens": self.repeated,
                "connections": self.server.connections,
                "jwts_seen": self.server.jwts_seen,
                "cpu_seconds": round(time.process_time(), 4),
                "requests": server_stats["requests"],
                "loop_cpu_seconds": server_stats["loop_cpu_seconds"],
                "lean": server_stats["lean"],
                "server": "h2-asyncio-tls",
            }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--credentials-file", required=True, type=Path)
    parser.add_argument("--lean", action="store_true", help="skip the per-request checks a benchmark does not need")
    args = parser.parse_args()
    silence_hpack_logging()  # this process runs the fake alone
    server = FakeApnsServer(lean=args.lean).start()
    try:
        key_pem, public_key = make_apns_key()
        server.add_key(KEY_ID, TEAM_ID, public_key)
        args.credentials_file.write_text(
            json.dumps(
                {
                    "url": server.url,
                    "ca_file": server.ca_file,
                    "key_pem": key_pem,
                    "key_id": KEY_ID,
                    "team_id": TEAM_ID,
                    "topic": TOPIC,
                }
            )
        )
        args.credentials_file.chmod(0o600)
        counts = Counts(server)
        stop = threading.Event()

        def drain_loop() -> None:
            while not stop.wait(DRAIN_SECONDS):
                counts.drain()

        threading.Thread(target=drain_loop, name="drain", daemon=True).start()
        print(json.dumps({"url": server.url, "ca_file": server.ca_file}), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                print(json.dumps(counts.stats()), flush=True)
            elif command == "reset":
                counts.reset()
                print("{}", flush=True)
            elif command == "quit":
                break
        stop.set()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
