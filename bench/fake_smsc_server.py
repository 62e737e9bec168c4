"""Run ``fakes.smsc.FakeSmsc`` in a process of its own, for benchmarks.

    python bench/fake_smsc_server.py [--front-door] [--receipt-delay SECONDS]

Prints one JSON line ``{"host", "port", "system_id", "password", "front_door"}`` once
listening, then reads commands on stdin, one a line: ``stats`` answers one JSON line with
the SMSC's counters (submits answered, receipts the ESMEs acknowledged, binds); ``quit`` or
end of input stops it. Its own process means the SMSC's Python (it answers every
submit_sm and sends every receipt from an asyncio loop) never shares a GIL with the
client being measured.

Without ``--front-door`` ESMEs talk to the smpp34 engine directly (any credentials bind):
the fake then costs about half the CPU per submit, which on a small machine is CPU left
for the platform, as with a real SMSC on another host.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fakes.smsc import FakeSmsc


def stats(smsc: FakeSmsc) -> dict:
    with smsc._lock:  # the fake's own lock; len() of its lists without copying 100,000 rows
        return {
            "received": len(smsc._received),
            "receipts": len(smsc._receipts),
            "pending_receipts": len(smsc._pending_receipts),
            "binds": smsc.binds if smsc.front_door else None,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # SMPP 3.4 caps system_id at 16 octets and password at 9, the NUL included.
    parser.add_argument("--system-id", default="bench")
    parser.add_argument("--password", default="bench8pw")
    parser.add_argument("--receipt-delay", type=float, default=0.0, help="seconds between submit_sm_resp and receipt")
    parser.add_argument("--front-door", action="store_true", help="check credentials (costs the fake ~2x CPU)")
    args = parser.parse_args()

    smsc = FakeSmsc(
        system_id=args.system_id,
        password=args.password,
        receipt_delay=args.receipt_delay,
        front_door=args.front_door,
    ).start()
    hello = {
        "host": smsc.host,
        "port": smsc.port,
        "system_id": smsc.system_id,
        "password": smsc.password,
        "front_door": smsc.front_door,
    }
    print(json.dumps(hello), flush=True)
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                print(json.dumps(stats(smsc)), flush=True)
            elif command == "quit":
                break
    except KeyboardInterrupt:
        pass
    finally:
        smsc.stop()


if __name__ == "__main__":
    main()
