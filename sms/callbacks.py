"""Status callbacks: every status change of a tenant's SMS is POSTed to its callback URL.

An outbox table (``StatusCallback``) is written in the same transaction as the status
change, so no change is lost; beat and a task send them, signed with
``X-SoftAfrik-Signature: sha256=<hex HMAC-SHA256 of the body with the tenant's secret>``,
and failures retry with backoff up to CALLBACK_MAX_ATTEMPTS.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
from datetime import timedelta

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Tenant
from sms.models import CallbackState, SmsRecipient, StatusCallback

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-SoftAfrik-Signature"
SEND_BATCH = 200
_session = requests.Session()


def callback_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def callbacks_enqueue(*, recipient_changes: list[tuple[int, str, str]]) -> int:
    """Queue one callback per (recipient id, new status, reason), for tenants that set a URL."""
    if not recipient_changes:
        return 0
    changes = {pk: (status, error) for pk, status, error in recipient_changes}
    rows = list(
        SmsRecipient.objects.filter(pk__in=changes, tenant__status_callback_url__gt="").values_list(
            "pk", "message_id", "number", "tenant_id", "tenant__status_callback_url"
        )
    )
    if not rows:
        return 0
    now = timezone.now()
    callbacks = [
        StatusCallback(
            tenant_id=tenant_id,
            url=url,
            next_attempt_at=now,
            body={
                "ref": str(message_id),
                "number": number,
                "status": changes[pk][0],
                "reason": changes[pk][1],
                "at": now.isoformat(),
            },
        )
        for pk, message_id, number, tenant_id, url in rows
    ]
    StatusCallback.objects.bulk_create(callbacks, batch_size=5000)
    from sms.tasks import callbacks_send_due

    transaction.on_commit(callbacks_send_due.delay)
    return len(callbacks)


def callbacks_due_exist() -> bool:
    return StatusCallback.objects.filter(state=CallbackState.PENDING, next_attempt_at__lte=timezone.now()).exists()


def callbacks_send_due(*, limit: int = SEND_BATCH) -> int:
    """POST due callbacks (claimed by pushing their time back first, so two workers do not
    send one twice); returns how many were delivered."""
    now = timezone.now()
    with transaction.atomic():
        due = list(
            StatusCallback.objects.select_for_update(skip_locked=True)
            .filter(state=CallbackState.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")[:limit]
        )
        StatusCallback.objects.filter(pk__in=[c.pk for c in due]).update(
            next_attempt_at=now + timedelta(seconds=settings.CALLBACK_TIMEOUT * 3)
        )
    secrets = dict(Tenant.objects.filter(pk__in={c.tenant_id for c in due}).values_list("pk", "callback_secret"))
    delivered = 0
    for callback in due:
        body = json.dumps(callback.body, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        secret = secrets.get(callback.tenant_id, "")  # decrypted by the field on load
        if secret:
            headers[SIGNATURE_HEADER] = callback_signature(secret, body)
        error = ""
        try:
            response = _session.post(callback.url, data=body, headers=headers, timeout=settings.CALLBACK_TIMEOUT)
            if not 200 <= response.status_code < 300:
                error = f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        attempts = callback.attempts + 1
        if not error:
            StatusCallback.objects.filter(pk=callback.pk).update(state=CallbackState.SENT, attempts=attempts)
            delivered += 1
            continue
        final = attempts >= settings.CALLBACK_MAX_ATTEMPTS
        delay = min(3600, 5 * 2**attempts) * random.uniform(0.5, 1.0)
        StatusCallback.objects.filter(pk=callback.pk).update(
            state=CallbackState.FAILED if final else CallbackState.PENDING,
            attempts=attempts,
            last_error=error,
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
        )
    return delivered
