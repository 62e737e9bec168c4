import secrets

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import RangeDateTimeFilter

from sms.campaigns import campaign_progress
from sms.models import BlacklistedNumber, SenderName, SenderStatus, SmsMessage, SmsRecipient, SmsRoute
from sms.numbers import InvalidSender, validate_sender
from sms.services import sms_cancel
from softafrik.errors import DomainError
from softafrik.tenant_admin import (
    SecretField,
    TenantReadOnlyAdmin,
    TenantScopedAdmin,
    WriteOnlySecrets,
    is_platform_admin,
)


class SenderNameForm(forms.ModelForm):
    """A sender name by the operators' rules (``validate_sender``), as the API asks them."""

    class Meta:
        model = SenderName
        fields = ("tenant", "name", "status", "is_default")

    def clean_name(self):
        try:
            return validate_sender(self.cleaned_data["name"])
        except InvalidSender as exc:
            raise forms.ValidationError(_("Invalid sender: %(reason)s.") % {"reason": exc}) from exc


@admin.register(SenderName)
class SenderNameAdmin(TenantScopedAdmin):
    """Tenants ask for sender names and see their status; only platform admins approve them."""

    form = SenderNameForm
    list_display = ("name", "tenant", "status", "is_default", "created_at")
    list_filter = ("status", "is_default", "tenant")
    search_fields = ("name",)
    actions = ("approve", "reject")

    def get_readonly_fields(self, request, obj=None):
        return () if is_platform_admin(request) else ("status",)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not is_platform_admin(request):
            actions.pop("approve", None)
            actions.pop("reject", None)
        return actions

    @admin.action(description=_("Approve"))
    def approve(self, request, queryset):
        n = queryset.update(status=SenderStatus.APPROVED)
        messages.success(request, _("%(n)d sender name(s) approved.") % {"n": n})

    @admin.action(description=_("Reject"))
    def reject(self, request, queryset):
        n = queryset.update(status=SenderStatus.REJECTED, is_default=False)
        messages.success(request, _("%(n)d sender name(s) rejected.") % {"n": n})


class SmsRouteForm(WriteOnlySecrets):
    secret = SecretField(
        label=_("Secret"),
        help_text=_("Password / API key / auth token, write-only. Leave empty to keep the stored one."),
    )

    class Meta:
        model = SmsRoute
        fields = "__all__"


@admin.register(SmsRoute)
class SmsRouteAdmin(ModelAdmin):
    """Platform-level routes: platform admins only. The secret is write-only."""

    form = SmsRouteForm
    list_display = ("name", "kind", "countries", "priority", "is_active", "tps", "window")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "countries")
    readonly_fields = ("callback_token",)

    def save_model(self, request, obj, form, change):
        if not obj.callback_token:
            obj.callback_token = secrets.token_urlsafe(24)
        super().save_model(request, obj, form, change)

    def has_module_permission(self, request):
        return is_platform_admin(request)

    def has_view_permission(self, request, obj=None):
        return is_platform_admin(request)

    has_change_permission = has_add_permission = has_delete_permission = has_view_permission


class RecipientInline(TabularInline):
    model = SmsRecipient
    fields = ("number", "status", "error", "parts", "route", "attempts", "updated_at")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    classes = ("collapse",)


@admin.register(SmsMessage)
class SmsMessageAdmin(TenantScopedAdmin):
    tenant_read_only = True
    list_display = (
        "created_at",
        "kind",
        "dialect",
        "sender",
        "campaign_name",
        "category",
        "state",
        "total_recipients",
        "credits",
    )
    list_filter = ("tenant", "kind", "state", "dialect", "category", ("created_at", RangeDateTimeFilter))
    list_filter_submit = True  # the period's two fields are sent together
    search_fields = ("campaign_name", "category", "text")
    date_hierarchy = "created_at"
    readonly_fields = ("progress", *[f.name for f in SmsMessage._meta.fields])
    actions = ("cancel",)
    staff_actions = ("cancel",)  # allowed to the tenant's staff although the rows are read-only

    @admin.display(description=_("progress"))
    def progress(self, obj):
        counts = campaign_progress(message=obj)
        return ", ".join(f"{k}: {v}" for k, v in counts.items())

    @admin.action(description=_("Cancel what has not gone out yet"))
    def cancel(self, request, queryset):
        for message in queryset:
            try:
                n = sms_cancel(message=message)
                messages.success(request, f"{message.pk}: {n} numbers cancelled.")
            except DomainError as exc:
                messages.warning(request, f"{message.pk}: {exc.message}")

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SmsRecipient)
class SmsRecipientAdmin(TenantReadOnlyAdmin):
    """Each number of a send: a record, read-only for everyone."""

    list_display = ("id", "message", "number", "status", "error", "parts", "route", "attempts", "updated_at")
    list_filter = ("status",)
    search_fields = ("number",)
    raw_id_fields = ("message",)
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("route")


@admin.register(BlacklistedNumber)
class BlacklistedNumberAdmin(TenantScopedAdmin):
    list_display = ("number", "tenant", "created_at")
    list_filter = ("tenant",)
    search_fields = ("number",)
