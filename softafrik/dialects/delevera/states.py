"""Delevera's states, shared by its push, SMS and omni products: 1 Sent, 2 Pending,
3 Failed, 4 Delivered (the document's "Message states")."""

from __future__ import annotations

from notifications.core.status import DeliveryStatus

SENT, PENDING, FAILED, DELIVERED = 1, 2, 3, 4
STATE = {
    DeliveryStatus.SENT: SENT,
    DeliveryStatus.PENDING: PENDING,
    DeliveryStatus.FAILED: FAILED,
    DeliveryStatus.DELIVERED: DELIVERED,
}
STATE_HELP = "1 Sent, 2 Pending, 3 Failed, 4 Delivered"
