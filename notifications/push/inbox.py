"""The inbox: every push sent to a user, kept whether the phone was on or off."""

from __future__ import annotations

from accounts.models import Tenant
from devices.models import EndUser
from notifications.models import InboxEntry
from softafrik.errors import NotFound


def inbox_mark_read(*, tenant: Tenant, entry_id: int) -> None:
    if not InboxEntry.objects.filter(pk=entry_id, tenant=tenant).update(is_read=True):
        raise NotFound("Unknown inbox entry id.", field="id")


def inbox_mark_all_read(*, tenant: Tenant, end_user: EndUser) -> int:
    return InboxEntry.objects.filter(tenant=tenant, end_user=end_user, is_read=False).update(is_read=True)
