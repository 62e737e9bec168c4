"""What the dashboard's result pages read: a send of the tenant and its progress, counted
per status from its recipients (SMS numbers, push deliveries, omni destinations).

One aggregate per poll, whatever the send's size: the page asks every second or two.
"""

from __future__ import annotations

from django.db.models import Count

from accounts.models import Tenant
from notifications.core.status import DeliveryStatus, public_status, send_status
from notifications.models import Delivery, Message, MessageState
from scenarios.models import OmniDestination, OmniMessage, OmniState, OmniStep, StepState
from sms.campaigns import campaign_progress
from sms.models import SmsKind, SmsMessage, SmsRecipient
from sms.selectors import sms_counts

SEND_MODELS = {"sms": SmsMessage, "push": Message, "omni": OmniMessage}


def send_tenant(*, channel: str, send_id) -> Tenant | None:
    """The tenant a send belongs to, for a platform superuser's view of any send (a
    tenant's staff reads its own tenant's only, with that tenant)."""
    row = SEND_MODELS[channel].objects.filter(pk=send_id).select_related("tenant").first()
    return row.tenant if row else None


def _public_counts(rows) -> dict[str, int]:
    counts = dict.fromkeys(("pending", "sent", "delivered", "failed"), 0)
    for status, n in rows:
        counts[public_status(status)] += n
    return counts


def sms_progress(*, message: SmsMessage) -> dict:
    """Numbers per status; final once none waits (a receipt may still turn sent into
    delivered). A spread campaign also counts the numbers it has not released yet."""
    counts = sms_counts(message=message)
    progress = {"counts": counts, "total": sum(counts.values()), "final": counts["pending"] == 0}
    if message.kind == SmsKind.CAMPAIGN:
        progress["scheduled"] = campaign_progress(message=message)["scheduled"]
    progress["status"] = send_status(counts).value
    return progress


def sms_failures(*, message: SmsMessage, limit: int) -> list[tuple[str, str]]:
    """The send's first ``limit`` failed numbers and why."""
    failed = SmsRecipient.objects.filter(message=message, status=DeliveryStatus.FAILED).order_by("pk")
    return list(failed.values_list("number", "error")[:limit])


def push_progress(*, message: Message) -> dict:
    """Deliveries per status; final once the fan-out wrote them all and none waits."""
    rows = Delivery.objects.filter(message=message).values_list("status").annotate(n=Count("pk")).order_by()
    counts = _public_counts(rows)
    fanned_out = Message.objects.filter(pk=message.pk, state=MessageState.DISPATCHED).exists()
    return {
        "counts": counts,
        "total": sum(counts.values()),
        "final": fanned_out and counts["pending"] == 0,
        "status": send_status(counts).value if fanned_out else "pending",
    }


def omni_progress(*, message: OmniMessage) -> dict:
    """Destinations per status, and steps per channel and state; final once no
    destination waits and no step waits on its timer (a step without a timeout only
    waits for a receipt)."""
    rows = OmniDestination.objects.filter(message=message).values_list("status").annotate(n=Count("pk")).order_by()
    counts = _public_counts(rows)
    steps: dict[str, dict[str, int]] = {}
    for channel, state, n in (
        OmniStep.objects.filter(message=message).values_list("channel", "state").annotate(n=Count("pk")).order_by()
    ):
        steps.setdefault(channel, {})[state] = n
    timers = OmniStep.objects.filter(message=message, state=StepState.STARTED, due_at__isnull=False).exists()
    started = OmniMessage.objects.filter(pk=message.pk).exclude(state=OmniState.SCHEDULED).exists()
    return {
        "counts": counts,
        "total": sum(counts.values()),
        "steps": steps,
        "final": started and counts["pending"] == 0 and not timers,
        "status": send_status(counts).value,
    }
