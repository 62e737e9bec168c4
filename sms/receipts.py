"""Delivery receipts: stored as they arrive, applied to their recipients in bulk.

SMPP receipts arrive on the bind's reader thread, hundreds a second during a campaign;
``ReceiptSink`` buffers them and a flusher thread writes them in batches. HTTP provider
callbacks store and apply theirs directly. A receipt whose submit id is not written yet
(the SMSC answered faster than our bulk write) waits unapplied; the sender applies it
right after writing the ids, and beat's sweep catches any that slipped through.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from datetime import timedelta

from django.db import close_old_connections, transaction
from django.utils import timezone

from notifications.models import DeliveryStatus
from sms.callbacks import callbacks_enqueue
from sms.models import SmsProviderId, SmsReceipt, SmsRecipient
from sms.providers.base import Receipt
from softafrik.bulk import rows_insert, values_update

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 0.2
STALE_WINDOW = timedelta(days=2)  # receipts older than this with no match are given up on
SWEEP_LIMIT = 5000


def receipts_store(*, items: list[tuple[int, Receipt]]) -> list[SmsReceipt]:
    now = timezone.now()
    receipts = [
        SmsReceipt(
            route_id=route_id,
            provider_message_id=r.provider_message_id[:100],
            state=r.state,
            error=(r.error or "")[:100],
            applied=False,
            received_at=now,
        )
        for route_id, r in items
    ]
    ids = rows_insert(
        table=SmsReceipt._meta.db_table,
        columns=[
            ("route_id", "bigint"),
            ("provider_message_id", "varchar"),
            ("state", "varchar"),
            ("error", "varchar"),
            ("applied", "boolean"),
            ("received_at", "timestamptz"),
        ],
        rows=[(r.route_id, r.provider_message_id, r.state, r.error, False, now) for r in receipts],
        returning="id",
    )
    for receipt, pk in zip(receipts, ids, strict=True):
        receipt.pk = receipt.id = pk
        receipt._state.adding = False
    return receipts


def receipt_record(*, route_id: int, receipt: Receipt) -> None:
    """Store one receipt and apply it (HTTP provider callbacks)."""
    receipts_apply(receipts=receipts_store(items=[(route_id, receipt)]))


def receipts_apply(*, receipts: list[SmsReceipt]) -> int:
    """Apply receipts to their recipients: a delivered part counts towards the
    recipient's parts (all delivered: 'delivered'); a failed part fails it. Receipts
    whose recipient is not yet 'sent' stay unapplied for a later pass."""
    receipts = [r for r in receipts if r.state in ("delivered", "failed")]
    if not receipts:
        return 0
    by_route: dict[int, list[str]] = defaultdict(list)
    for r in receipts:
        by_route[r.route_id].append(r.provider_message_id)
    owner: dict[tuple[int, str], int] = {}
    for route_id, pmids in by_route.items():
        for pmid, recipient_id in SmsProviderId.objects.filter(
            route_id=route_id, provider_message_id__in=pmids
        ).values_list("provider_message_id", "recipient_id"):
            owner[(route_id, pmid)] = recipient_id
    matched = [r for r in receipts if (r.route_id, r.provider_message_id) in owner]
    if not matched:
        return 0
    with transaction.atomic():
        recipients = {
            pk: [status, parts, delivered, error]
            for pk, status, parts, delivered, error in SmsRecipient.objects.select_for_update()
            .filter(pk__in={owner[(r.route_id, r.provider_message_id)] for r in matched})
            .values_list("pk", "status", "parts", "parts_delivered", "error")
        }
        applied: list[int] = []
        touched: set[int] = set()
        for r in matched:
            pk = owner[(r.route_id, r.provider_message_id)]
            state = recipients[pk]
            if state[0] not in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.FAILED):
                continue  # still being sent: try again once the submit is recorded
            applied.append(r.pk)
            if state[0] != DeliveryStatus.SENT:
                continue  # final already; keep the first verdict
            if r.state == "failed":
                state[0], state[3] = DeliveryStatus.FAILED, r.error or "undelivered"
            else:
                state[2] += 1
                if state[2] >= state[1]:
                    state[0] = DeliveryStatus.DELIVERED
            touched.add(pk)
        values_update(
            table=SmsRecipient._meta.db_table,
            key="id",
            columns=[("id", "bigint"), ("status", "varchar"), ("parts_delivered", "smallint"), ("error", "varchar")],
            rows=[(pk, *(recipients[pk][i] for i in (0, 2, 3))) for pk in touched],
            extra_set="updated_at = %s",
            set_params=[timezone.now()],
        )
        SmsReceipt.objects.filter(pk__in=applied).update(applied=True)
        callbacks_enqueue(
            recipient_changes=[
                (pk, recipients[pk][0], recipients[pk][3]) for pk in touched if recipients[pk][0] != DeliveryStatus.SENT
            ]
        )
    return len(applied)


def receipts_apply_pending(*, provider_message_ids: list[tuple[int, str]]) -> int:
    """Apply receipts that arrived before their submit's ids were written."""
    by_route: dict[int, list[str]] = defaultdict(list)
    for route_id, pmid in provider_message_ids:
        by_route[route_id].append(pmid)
    waiting: list[SmsReceipt] = []
    for route_id, pmids in by_route.items():
        waiting += SmsReceipt.objects.filter(route_id=route_id, applied=False, provider_message_id__in=pmids)
    return receipts_apply(receipts=waiting)


def receipts_sweep() -> int:
    """Beat: apply receipts still waiting (their submit was recorded after they came)."""
    since = timezone.now() - STALE_WINDOW
    waiting = list(SmsReceipt.objects.filter(applied=False, received_at__gte=since).order_by("pk")[:SWEEP_LIMIT])
    return receipts_apply(receipts=waiting)


class ReceiptSink:
    """Buffers receipts from SMPP reader threads and writes them in batches."""

    def __init__(self) -> None:
        self._items: list[tuple[int, Receipt]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sms-receipts", daemon=True)
        self._thread.start()

    def put(self, route_id: int, receipt: Receipt) -> None:
        with self._lock:
            self._items.append((route_id, receipt))

    def flush(self) -> int:
        with self._lock:
            items, self._items = self._items, []
        if not items:
            return 0
        try:
            close_old_connections()
            stored = receipts_store(items=items)
            receipts_apply(receipts=stored)
        except Exception:
            logger.exception("storing %d SMS receipts failed; they are kept for the next flush", len(items))
            with self._lock:
                self._items[:0] = items
            return 0
        return len(items)

    def discard(self) -> None:
        """Drop what is buffered (tests, between databases)."""
        with self._lock:
            self._items.clear()

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            try:
                self.flush()
            except Exception:  # the flusher must outlive any one bad batch
                logger.exception("SMS receipt flusher failed")


_sink: ReceiptSink | None = None
_sink_lock = threading.Lock()


def receipt_sink() -> ReceiptSink:
    global _sink
    with _sink_lock:
        if _sink is None:
            _sink = ReceiptSink()
        return _sink
