"""The send-level roll-up every dialect reports."""

import pytest

from notifications.core.status import DeliveryStatus, public_status, send_status


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({}, DeliveryStatus.PENDING),
        ({"pending": 0, "sent": 0, "failed": 0, "delivered": 0}, DeliveryStatus.PENDING),
        ({"pending": 1, "delivered": 3}, DeliveryStatus.PENDING),
        ({"sending": 1, "failed": 3}, DeliveryStatus.PENDING),
        ({"failed": 2}, DeliveryStatus.FAILED),
        ({"delivered": 2, "failed": 0}, DeliveryStatus.DELIVERED),
        ({"delivered": 1, "failed": 1}, DeliveryStatus.SENT),
        ({"sent": 1, "delivered": 1}, DeliveryStatus.SENT),
    ],
)
def test_a_sends_status_rolls_up_from_its_recipients(counts, expected):
    assert send_status(counts) == expected


def test_sending_is_shown_as_pending():
    assert public_status(DeliveryStatus.SENDING) == "pending"
    assert public_status("delivered") == "delivered"
