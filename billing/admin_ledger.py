"""The ledger and the audit trail in the admin: read-only for everyone, a tenant's staff
seeing its own account's only."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import RangeDateTimeFilter

from billing.admin_accounts import in_unit
from billing.models import AccountChange, LedgerEntry
from softafrik.tenant_admin import TenantReadOnlyAdmin, is_platform_admin


class ReadOnlyAdmin(TenantReadOnlyAdmin):
    tenant_field = "account__tenant"

    def get_list_filter(self, request):
        filters = super().get_list_filter(request)
        # Another tenant's account is not even a filter choice.
        return filters if is_platform_admin(request) else [f for f in filters if f != "account"]

    @admin.display(description=_("tenant"), ordering="account__tenant__name")
    def tenant(self, obj):
        return obj.account.tenant


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "tenant",
        "book",
        "kind",
        "amount_shown",
        "balance_after_shown",
        "reference",
        "quantity",
        "note",
    )
    list_filter = ("book", "kind", "account", ("created_at", RangeDateTimeFilter))
    list_filter_submit = True  # the period's two fields are sent together
    list_select_related = ("account__tenant",)
    search_fields = ("reference",)
    show_full_result_count = False  # a ledger grows with every send
    fields = (
        "account",
        "transfer",
        "book",
        "kind",
        "amount_shown",
        "balance_after_shown",
        "reference",
        "quantity",
        "note",
        "created_by",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description=_("amount"), ordering="amount")
    def amount_shown(self, obj):
        return in_unit(obj.amount, obj.account.unit)

    @admin.display(description=_("balance after"))
    def balance_after_shown(self, obj):
        return in_unit(obj.balance_after, obj.account.unit)


@admin.register(AccountChange)
class AccountChangeAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "tenant", "field", "old_value", "new_value", "reason", "changed_by", "via")
    list_filter = ("field", "via", "account")
    list_select_related = ("account__tenant", "changed_by")
    fields = ("account", "field", "old_value", "new_value", "reason", "changed_by", "via", "created_at")
    readonly_fields = fields
