"""A dashboard send goes out once, however often its form is submitted.

The confirmation form carries a one-time token, used as an idempotency key of the
tenant (``softafrik.idempotency``, the API's own records): the first submission claims
it, sends, and stores the address of its result page in the send's transaction; a
repeated one (a double click, a reload, the back button) finds that address and sends
nothing. A repetition that arrives while the first is still sending waits for its
answer.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable

from django.db import transaction

from softafrik.idempotency import (
    IdempotencyKeyInUse,
    StoredAnswer,
    idempotency_claim,
    idempotency_release,
    idempotency_store,
)

KEY_PREFIX = "console:"  # keeps dashboard tokens apart from the keys API clients choose
WAIT_SECONDS = 10  # how long a repeated submission waits for the first one's answer
WAIT_STEP = 0.25


class AlreadySending(Exception):
    """The first submission of this form is still sending after WAIT_SECONDS."""


def form_fingerprint(data: dict) -> str:
    """SHA-256 of what a submission asks for (the form's cleaned values)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def send_once(*, tenant_id: int, token: str, fingerprint: str, send: Callable[[], str]) -> str:
    """Run ``send`` (which sends and returns its result page's path) once per token and
    return that path; a repeated token returns the first path without sending. Raises
    what ``send`` raises (the token stays unused: the form may be sent again once
    corrected), IdempotencyKeyReused for a token submitted with other values, and
    AlreadySending."""
    key = KEY_PREFIX + token
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            claimed = idempotency_claim(tenant_id=tenant_id, key=key, fingerprint=fingerprint)
            break
        except IdempotencyKeyInUse:
            if time.monotonic() > deadline:
                raise AlreadySending() from None
            time.sleep(WAIT_STEP)
    if isinstance(claimed, StoredAnswer):
        return claimed.body.decode()
    try:
        with transaction.atomic():
            path = send()
            if not idempotency_store(claim=claimed, status_code=303, content_type="text/plain", body=path.encode()):
                raise AlreadySending()  # taken over past its lease: this send is rolled back
    except BaseException:
        idempotency_release(claim=claimed)
        raise
    return path
