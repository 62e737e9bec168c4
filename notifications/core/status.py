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


class SendState(models.TextChoices):
    """A whole send, rolled up from its recipients' statuses."""

    PENDING = "pending", "Pending"  # nothing has gone out yet
    SENDING = "sending", "Sending"  # some recipients are still waiting
    DONE = "done", "Done"  # every recipient reached a final status
    FAILED = "failed", "Failed"  # done, and every recipient failed


def send_rollup(counts: Mapping[str, int]) -> SendState:
    """The state of a send whose recipients count ``counts`` per status.

    Every dialect reports a send's state from this one rule: an empty send is done;
    a send with any recipient waiting is pending (nothing out yet) or sending; a send
    whose recipients are all final is done, or failed when none of them got out.
    """
    total = sum(counts.values())
    waiting = sum(counts.get(status, 0) for status in WAITING_STATUSES)
    if total == 0:
        return SendState.DONE
    if waiting:
        return SendState.PENDING if waiting == total else SendState.SENDING
    if counts.get(DeliveryStatus.FAILED, 0) == total:
        return SendState.FAILED
    return SendState.DONE
