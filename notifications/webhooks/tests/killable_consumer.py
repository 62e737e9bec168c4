"""Run by test_consumer: the webhooks consumer, stalled inside its first batch (its
deliveries written, its transaction open) until the test SIGKILLs it.

    python -m notifications.webhooks.tests.killable_consumer MARKER_FILE
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "softafrik.settings")

import django

django.setup()

from notifications.webhooks import consumer  # noqa: E402


def main(marker: Path) -> None:
    write = consumer.deliveries_create_for_events

    def stall(events):
        marker.write_text(json.dumps({"written": write(events)}))
        time.sleep(600)  # killed here, mid-transaction

    consumer.deliveries_create_for_events = stall
    while True:  # until the events are visible (PostgreSQL)
        consumer.webhooks_consume()
        time.sleep(0.05)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
