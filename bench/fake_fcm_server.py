"""Run ``fakes.fcm.FakeFcmServer`` (record=False) in a process of its own, for benchmarks.

    python bench/fake_fcm_server.py --account-file PATH [--project bench-project]

It makes a service account registered with the server (``make_service_account`` must run
in the server's process, which holds the public key), writes its JSON to PATH, and prints
one line ``{"url": ..., "account_file": ...}`` once listening. Then it reads commands on
stdin, one a line: ``stats`` answers one JSON line with the server's counters; ``quit``
or end of input stops it. Its own process means its handler threads never share a GIL
with the senders being measured.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fakes.fcm import FakeFcmServer, make_service_account


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--account-file", required=True, type=Path)
    parser.add_argument("--project", default="bench-project")
    args = parser.parse_args()

    server = FakeFcmServer(record=False).start()
    account = make_service_account(server, project_id=args.project)
    args.account_file.write_text(json.dumps(account))
    args.account_file.chmod(0o600)
    print(json.dumps({"url": server.url, "account_file": str(args.account_file)}), flush=True)
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                stats = {
                    "accepted": getattr(server, "accepted", None),
                    "send_requests": server.send_requests,
                    "token_requests": server.token_requests,
                }
                print(json.dumps(stats), flush=True)
            elif command == "quit":
                break
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
