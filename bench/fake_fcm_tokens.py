"""``bench/fake_fcm_server.py`` whose fake also counts each registration token once.

    python bench/fake_fcm_tokens.py --account-file PATH [--lean]

The same runner, arguments, stdin commands and ``/_stats`` as ``bench/fake_fcm_server.py``,
serving ``TokenCountingFakeFcm``: every message that reaches the fake's per-token step
(after the Bearer and body checks) adds its token's hash to a set, so ``stats()`` also
reports ``distinct_tokens`` and ``repeated_tokens`` (sends of a token already seen):
a broadcast that lost or doubled a delivery shows it here, independently of the
platform's own rows. ``GET /_tokens/reset`` empties the set (between two broadcasts to
the same devices). Cost: one hash and one set insertion per message, well under a
microsecond against the fake's ~40 us a request; memory ~60 bytes a token (60 MB for a
million). Python's string hash is 64-bit: a collision among a million tokens has odds
of about 3e-8.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench.fake_fcm_server as runner
from fakes.fcm import FakeFcmServer

RESET_PATH = "/_tokens/reset"


class TokenCountingFakeFcm(FakeFcmServer):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._token_hashes: set[int] = set()
        self.repeated_tokens = 0

    def _handle(self, request):
        if request.method == "GET" and request.target == RESET_PATH:
            self._token_hashes = set()
            self.repeated_tokens = 0
            return 200, "application/json", {}, b"{}"
        return super()._handle(request)

    def _injected_failure(self, token: str) -> str | None:
        hashed = hash(token)
        if hashed in self._token_hashes:
            self.repeated_tokens += 1
        else:
            self._token_hashes.add(hashed)
        return super()._injected_failure(token)

    def stats(self) -> dict:
        stats = super().stats()
        stats["distinct_tokens"] = len(self._token_hashes)
        stats["repeated_tokens"] = self.repeated_tokens
        return stats


if __name__ == "__main__":
    runner.FakeFcmServer = TokenCountingFakeFcm  # the runner's serve() builds its server from this name
    runner.main()
