"""The event types a webhook endpoint can ask for: ``<channel>.<subject>.<status>``, and
the account's own ``account.<what>``.

They are the status events' own types (``notifications.core.events.event_type``;
``billing.alerts`` for the account's); each is documented in docs/webhooks.md. An
endpoint that names none receives them all.
"""

from __future__ import annotations

EVENT_TYPES: dict[str, str] = {
    "push.delivery.sent": "the push provider (FCM, APNs, Web Push) accepted the push for one device",
    "push.delivery.failed": "the push to one device failed for good (dead token, rejected, retries exhausted)",
    "push.delivery.delivered": "the app reported that it displayed the push (POST /api/push/delivered)",
    "sms.recipient.sent": "an SMS route accepted the message for one number",
    "sms.recipient.failed": "the message to one number failed (rejected, undelivered, blacklisted, cancelled, "
    "not released before a campaign window closed)",
    "sms.recipient.delivered": "a delivery receipt says the handset received the message",
    "omni.step.delivered": "a scenario step delivered its destination (a device's receipt, an SMS receipt)",
    "omni.step.failed": "a scenario step failed for its destination (no device, every device failed, no phone, "
    "the number refused); the next step starts",
    "omni.step.timed_out": "nothing was delivered within the step's timeout; the next step starts",
    "omni.destination.delivered": "the destination of an omni message was delivered (by the step named)",
    "omni.destination.failed": "every step of the flow failed or timed out for the destination",
    "account.balance_low": "the account's balance fell below its low-balance threshold (once per crossing: "
    "again only after a top-up lifted it back above)",
}

# What the tenant's legacy status_callback_url receives: SMS status changes only, as before.
LEGACY_EVENT_TYPES: tuple[str, ...] = ("sms.recipient.sent", "sms.recipient.failed", "sms.recipient.delivered")


def wants(event_types: list[str], event_type: str) -> bool:
    """Whether an endpoint subscribed to ``event_types`` (empty: all) wants ``event_type``."""
    return not event_types or event_type in event_types
