from django.contrib import admin
from django.db.models import Count, Q
from unfold.contrib.filters.admin import RangeDateTimeFilter

from notifications.core.status import DeliveryStatus
from notifications.models import Delivery, InboxEntry, Message
from softafrik.tenant_admin import TenantReadOnlyAdmin

# Messages, deliveries and inbox entries are records of what was sent: read-only for
# everyone, platform superusers included.


@admin.register(Message)
class MessageAdmin(TenantReadOnlyAdmin):
    list_display = ("created_at", "kind", "title", "state", "total_deliveries", "sent", "failed")
    list_filter = ("tenant", "kind", "state", ("created_at", RangeDateTimeFilter))
    list_filter_submit = True  # the period's two fields are sent together
    search_fields = ("title",)
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Message._meta.fields]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_sent=Count(
                    "deliveries", filter=Q(deliveries__status__in=[DeliveryStatus.SENT, DeliveryStatus.DELIVERED])
                ),
                n_failed=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.FAILED)),
            )
        )

    @admin.display(ordering="n_sent")
    def sent(self, obj):
        return obj.n_sent

    @admin.display(ordering="n_failed")
    def failed(self, obj):
        return obj.n_failed


@admin.register(Delivery)
class DeliveryAdmin(TenantReadOnlyAdmin):
    tenant_field = "message__tenant"
    list_display = ("id", "message", "device", "status", "error", "attempts", "updated_at")
    list_filter = ("status",)
    search_fields = ("error",)
    list_select_related = ("message", "device")
    raw_id_fields = ("message", "device")
    show_full_result_count = False


@admin.register(InboxEntry)
class InboxEntryAdmin(TenantReadOnlyAdmin):
    list_display = ("id", "end_user", "title", "is_read", "created_at")
    list_filter = ("tenant", "is_read")
    search_fields = ("=end_user__puid", "title")
    raw_id_fields = ("end_user", "message")
    show_full_result_count = False
