"""Delivery receipts of push: the app confirms it displayed a message on a device."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import Tenant
from devices.models import Device
from notifications.core.events import events_record
from notifications.core.status import DeliveryStatus
from notifications.models import Delivery
from softafrik.errors import NotFound


def delivery_confirm(*, tenant: Tenant, message_id: str, device: Device) -> None:
    """The app reports it displayed the message on ``device``: mark it delivered, with its
    status event (once: a repeated confirmation changes nothing). A failed delivery
    stays failed; none at all (or another tenant's): NotFound."""
    with transaction.atomic():
        deliveries = list(
            Delivery.objects.select_for_update()
            .filter(message_id=message_id, message__tenant=tenant, device=device)
            .exclude(status=DeliveryStatus.FAILED)
            .values_list("pk", "status")
        )
        if not deliveries:
            raise NotFound("No delivery of this message to this device.", field="id")
        confirmed = [pk for pk, status in deliveries if status != DeliveryStatus.DELIVERED]
        if not confirmed:
            return
        now = timezone.now()
        Delivery.objects.filter(pk__in=confirmed).update(status=DeliveryStatus.DELIVERED, error="", updated_at=now)
        events_record(
            channel="push",
            changes=[(tenant.pk, message_id, pk, DeliveryStatus.DELIVERED, "") for pk in confirmed],
            occurred_at=now,
        )
