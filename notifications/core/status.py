"""The one status model every channel reports in, and the send-level roll-up."""

from __future__ import annotations

from collections.abc import Mapping

from django.db import models


class DeliveryStatus(models.TextChoices):
    """The status of one recipient of one send, on any channel."""

    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"  # claimed by a worker; shown to clients as pending
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    DELIVERED = "delivered", "Delivered"


# What a recipient's status is called outside: SENDING is an internal claim.
PUBLIC_STATUS = {
    DeliveryStatus.PENDING: "pending",
    DeliveryStatus.SENDING: "pending",
    DeliveryStatus.SENT: "sent",
    DeliveryStatus.FAILED: "failed",
    DeliveryStatus.DELIVERED: "delivered",
}
# A recipient in one of these has nothing more to do (a receipt may still turn SENT
# into DELIVERED or FAILED, but nothing will be sent again).
FINAL_STATUSES = frozenset({DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.DELIVERED})
WAITING_STATUSES = frozenset({DeliveryStatus.PENDING, DeliveryStatus.SENDING})


def public_status(status: str) -> str:
    return PUBLIC_STATUS[DeliveryStatus(status)]


def send_status(counts: Mapping[str, int]) -> DeliveryStatus:
    """A whole send's status from its recipients' counts per status (internal or public
    names): the one roll-up every dialect reports. Pending while any recipient waits (or
    there is none yet), failed when all failed, delivered when all were delivered, else
    sent."""
    total = sum(counts.values())
    waiting = sum(counts.get(status, 0) for status in WAITING_STATUSES)
    if waiting or not total:
        return DeliveryStatus.PENDING
    if counts.get(DeliveryStatus.FAILED, 0) == total:
        return DeliveryStatus.FAILED
    if counts.get(DeliveryStatus.DELIVERED, 0) == total:
        return DeliveryStatus.DELIVERED
    return DeliveryStatus.SENT
