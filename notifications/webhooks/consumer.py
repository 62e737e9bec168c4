"""Status events -> webhook deliveries: the "webhooks" consumer of the core's events.

Each batch of events becomes one delivery row per (enabled endpoint that wants the
event's type, event), written in bulk in the transaction that moves the consumer's
cursor (``events_consume``): a consumer that dies mid-batch wrote nothing and starts the
batch again; a batch handled is never handled again. The unique (endpoint, event)
constraint makes a repeat harmless all the same. A batch costs a fixed number of
queries whatever its size: the tenants' endpoints, their legacy callback URLs, and one
query per channel for the recipients' details (``channels``).
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime

from django.utils import timezone

from accounts.models import Tenant
from notifications.core.events import CONSUME_BATCH, events_drain
from notifications.core.models import StatusEvent
from notifications.core.status import DeliveryStatus
from notifications.webhooks.channels import CHANNELS, details_load
from notifications.webhooks.event_types import EVENT_TYPES, LEGACY_EVENT_TYPES, wants
from notifications.webhooks.legacy import callback_body
from notifications.webhooks.models import EndpointKind, WebhookDelivery, WebhookEndpoint
from softafrik.bulk import rows_insert

CONSUMER = "webhooks"
CONSUME_MAX_BATCHES = 20  # batches one beat tick consumes before it dispatches what they made
PENDING = DeliveryStatus.PENDING.value
# Every column of a new delivery, in the order rows_insert gets them.
DELIVERY_COLUMNS = [
    ("status", "varchar"),
    ("error", "varchar"),
    ("attempts", "smallint"),
    ("next_attempt_at", "timestamptz"),
    ("claim", "uuid"),
    ("claimed_at", "timestamptz"),
    ("updated_at", "timestamptz"),
    ("endpoint_id", "uuid"),
    ("tenant_id", "bigint"),
    ("event_id", "bigint"),
    ("event_type", "varchar"),
    ("message_id", "uuid"),
    ("payload", "text"),
    ("created_at", "timestamptz"),
]


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def webhooks_consume(*, max_batches: int = CONSUME_MAX_BATCHES, limit: int = CONSUME_BATCH) -> int:
    """Consume waiting events into deliveries, up to ``max_batches`` batches; returns how
    many events were handled."""
    # The handler is looked up at each call, so a test can stand in for it (killed mid-batch).
    return events_drain(consumer=CONSUMER, handle=deliveries_create_for_events, max_batches=max_batches, limit=limit)[0]


def legacy_endpoints_sync(*, tenant_ids: set[int]) -> dict[int, uuid.UUID]:
    """The enabled legacy endpoint of each tenant among ``tenant_ids`` that has a
    status_callback_url, created on first use. A tenant whose URL changed gets it on its
    row, enabled again (a new URL is a new receiver, even if the old one answered 410)."""
    urls = dict(
        Tenant.objects.filter(pk__in=tenant_ids, status_callback_url__gt="").values_list("pk", "status_callback_url")
    )
    if not urls:
        return {}
    legacy = WebhookEndpoint.objects.filter(kind=EndpointKind.LEGACY, tenant_id__in=urls)
    known = {tenant_id: url for tenant_id, url in legacy.values_list("tenant_id", "url")}
    WebhookEndpoint.objects.bulk_create(
        [
            WebhookEndpoint(
                tenant_id=tenant_id, kind=EndpointKind.LEGACY, url=url, event_types=list(LEGACY_EVENT_TYPES)
            )
            for tenant_id, url in urls.items()
            if tenant_id not in known
        ],
        ignore_conflicts=True,
    )
    for tenant_id, url in known.items():
        if urls[tenant_id] != url:  # rare: a tenant changed its callback URL
            legacy.filter(tenant_id=tenant_id).update(
                url=urls[tenant_id], is_enabled=True, disabled_reason="", updated_at=timezone.now()
            )
    return dict(legacy.filter(is_enabled=True).values_list("tenant_id", "pk"))


def _standard_body(event: StatusEvent, details: dict) -> str:
    plug = CHANNELS[event.channel]
    fields = (
        json.loads(event.reason) if plug.data_in_reason else {**details, "status": event.status, "reason": event.reason}
    )
    data = {"channel": event.channel, plug.send_key: str(event.send_id), **fields, "at": iso(event.occurred_at)}
    return json.dumps({"type": event.type, "timestamp": iso(event.occurred_at), "data": data}, separators=(",", ":"))


def _legacy_body(event: StatusEvent, details: dict) -> str:
    body = callback_body(
        ref=str(event.send_id),
        number=details["number"],
        status=event.status,
        reason=event.reason,
        at=event.occurred_at,
    )
    return json.dumps(body, separators=(",", ":"))


def deliveries_create_for_events(events: list[StatusEvent]) -> int:
    """Write the deliveries of ``events`` (the caller's transaction); returns how many."""
    events = [e for e in events if e.type in EVENT_TYPES and e.channel in CHANNELS]
    if not events:
        return 0
    tenant_ids = {e.tenant_id for e in events}
    endpoints: dict[int, list[tuple[uuid.UUID, list[str]]]] = defaultdict(list)
    for pk, tenant_id, event_types in WebhookEndpoint.objects.filter(
        tenant_id__in=tenant_ids, kind=EndpointKind.STANDARD, is_enabled=True
    ).values_list("pk", "tenant_id", "event_types"):
        endpoints[tenant_id].append((pk, event_types))
    legacy = legacy_endpoints_sync(tenant_ids={e.tenant_id for e in events if e.type in LEGACY_EVENT_TYPES})

    targets: list[tuple[StatusEvent, list[uuid.UUID], uuid.UUID | None]] = []
    for event in events:
        standard = [pk for pk, types in endpoints.get(event.tenant_id, ()) if wants(types, event.type)]
        legacy_pk = legacy.get(event.tenant_id) if event.type in LEGACY_EVENT_TYPES else None
        if standard or legacy_pk:
            targets.append((event, standard, legacy_pk))
    if not targets:
        return 0

    wanted: dict[str, set[int]] = defaultdict(set)
    for event, _, _ in targets:
        wanted[event.channel].add(event.recipient_id)
    details = {channel: details_load(channel, ids) for channel, ids in wanted.items()}

    now = timezone.now()
    rows: list[tuple] = []  # in DELIVERY_COLUMNS order
    for event, standard, legacy_pk in targets:
        detail = details[event.channel][event.recipient_id]
        new = (PENDING, "", 0, now, None, None, now)  # due at once, unclaimed
        head = (event.tenant_id, event.id, event.type, uuid.uuid4())  # one webhook-id per event
        if standard:
            body = _standard_body(event, detail)
            rows += [(*new, endpoint_id, *head, body, now) for endpoint_id in standard]
        if legacy_pk:
            rows.append((*new, legacy_pk, *head, _legacy_body(event, detail), now))
    rows_insert(table=WebhookDelivery._meta.db_table, columns=DELIVERY_COLUMNS, rows=rows, ignore_conflicts=True)
    return len(rows)
