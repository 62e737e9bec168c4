"""Django's PostgreSQL backend, with the per-request health check skipped for a
connection that proved healthy a moment ago.

With ``CONN_HEALTH_CHECKS`` Django sends ``SELECT 1`` before the first query of every
request: a round trip, and 5-10% of the CPU of a fast endpoint such as accepting a
push. A connection whose last request ran without a database error less than
HEALTH_CHECK_TRUST_SECONDS ago is trusted without it. Anything older, or any
connection that saw an error, is checked as before, so a restarted server costs at
most the requests of that one short window (answered 503, see softafrik.api).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    verified_at = 0.0  # time.monotonic() when this connection last finished a request cleanly

    def close_if_health_check_failed(self):
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and time.monotonic() - self.verified_at < settings.DB_HEALTH_CHECK_TRUST_SECONDS
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def close_if_unusable_or_obsolete(self):
        # Called when a request ends. A connection that ran this request's queries
        # (health_check_done) without an error has just shown it works.
        healthy = self.connection is not None and self.health_check_done and not self.errors_occurred
        super().close_if_unusable_or_obsolete()
        if healthy and self.connection is not None:
            self.verified_at = time.monotonic()

    def connect(self):
        super().connect()
        self.verified_at = 0.0
