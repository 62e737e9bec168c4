"""Development route: logs each message instead of sending it, and always succeeds.

Every part gets an id ``log-<uuid4 hex>``; the last ``keep`` messages stay in ``sent`` so a
shell or a test can look at what would have gone out. No receipt ever arrives.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque

from sms.providers.base import SmsSubmit, SubmitOutcome, SubmitResult

logger = logging.getLogger("softafrik.sms.log_route")

# Messages kept for inspection; older ones drop off so a long-running dev server stays small.
DEFAULT_KEEP = 1000


class LogRoute:
    name = "log"

    def __init__(self, *, keep: int = DEFAULT_KEEP) -> None:
        # deque.append is atomic in CPython, so concurrent callers need no lock.
        self.sent: deque[SmsSubmit] = deque(maxlen=keep)

    def submit_batch(self, messages: list[SmsSubmit]) -> list[SubmitOutcome]:
        outcomes: list[SubmitOutcome] = []
        for message in messages:
            ids = tuple(f"log-{uuid.uuid4().hex}" for _ in range(max(1, len(message.parts))))
            logger.info(
                "SMS recipient=%s from=%s to=%s parts=%d ids=%s: %s",
                message.recipient_id,
                message.sender,
                message.destination,
                len(message.parts),
                ",".join(ids),
                message.text,
            )
            self.sent.append(message)
            outcomes.append(SubmitResult(provider_message_ids=ids))
        return outcomes

    def close(self) -> None:
        pass
