"""Webhooks in each tenant's dashboard: endpoints (secret shown once), deliveries with
every attempt, and a replay action. Tenant staff see only their tenant's rows."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.contrib.filters.admin import RangeDateTimeFilter
from unfold.widgets import UnfoldAdminCheckboxSelectMultipleWidget

from notifications.webhooks import services
from notifications.webhooks.event_types import EVENT_TYPES
from notifications.webhooks.models import EndpointKind, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from notifications.webhooks.ssrf import url_refusal
from softafrik.tenant_admin import (
    ReadOnlyPermissions,
    TenantScopedAdmin,
    is_platform_admin,
    is_tenant_staff,
)


class EndpointForm(forms.ModelForm):
    event_types = forms.MultipleChoiceField(
        choices=[(name, f"{name}: {text}") for name, text in EVENT_TYPES.items()],
        required=False,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        help_text="None ticked: every event type.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("tenant", "url", "event_types", "is_enabled")

    def clean_url(self):
        url = self.cleaned_data["url"]
        refusal = url_refusal(url)
        if refusal:
            raise forms.ValidationError(refusal)
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(TenantScopedAdmin):
    form = EndpointForm
    list_display = ("url", "kind", "is_enabled", "event_types", "disabled_reason", "created_at")
    list_filter = ("tenant", "kind", "is_enabled")
    search_fields = ("url",)
    actions = ("enable", "disable", "rotate_secret")

    def get_readonly_fields(self, request, obj=None):
        fields = ["kind", "disabled_reason", "created_at", "updated_at"]
        if obj is not None and obj.kind == EndpointKind.LEGACY:
            # Its URL and secret are the tenant's status_callback_url and callback_secret.
            fields += ["url", "event_types"]
        return fields

    def get_fields(self, request, obj=None):
        fields = ["url", "event_types", "is_enabled", "kind", "disabled_reason", "created_at", "updated_at"]
        if is_platform_admin(request) and obj is None:
            fields.insert(0, "tenant")
        return fields

    def save_model(self, request, obj, form, change):
        secret = None if change else services.endpoint_secret_issue(endpoint=obj)
        super().save_model(request, obj, form, change)
        if secret:
            messages.warning(request, f"Signing secret (shown once, copy it now): {secret}")

    @admin.action(description=_("Enable"))
    def enable(self, request, queryset):
        n = services.endpoints_enable(endpoints=queryset)
        messages.success(request, f"{n} endpoints enabled.")

    @admin.action(description=_("Rotate the signing secret (the new one is shown once)"))
    def rotate_secret(self, request, queryset):
        for endpoint in queryset.exclude(kind=EndpointKind.LEGACY):
            secret = services.endpoint_secret_rotate(endpoint=endpoint)
            messages.warning(
                request,
                _("%(url)s: new signing secret (shown once): %(secret)s") % {"url": endpoint.url, "secret": secret},
            )
        if queryset.filter(kind=EndpointKind.LEGACY).exists():
            messages.info(request, _("The status callback signs with the tenant's callback secret: change it there."))

    @admin.action(description=_("Disable"))
    def disable(self, request, queryset):
        from notifications.webhooks.delivery import endpoints_disable

        n = endpoints_disable(endpoint_ids=list(queryset.values_list("pk", flat=True)), reason="disabled in the admin")
        messages.success(request, f"{n} endpoints disabled.")


class AttemptInline(ReadOnlyPermissions, TabularInline):
    model = WebhookAttempt
    fields = ("number", "at", "url", "status_code", "response", "error", "duration_ms")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False

    def has_view_permission(self, request, obj=None):
        return is_platform_admin(request) or is_tenant_staff(request)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(TenantScopedAdmin):
    tenant_read_only = True
    list_display = ("id", "event_type", "endpoint", "status", "attempts", "next_attempt_at", "error", "created_at")
    list_filter = ("tenant", "status", "event_type", ("created_at", RangeDateTimeFilter))
    list_filter_submit = True  # the period's two fields are sent together
    search_fields = ("=message_id",)
    raw_id_fields = ("endpoint",)
    readonly_fields = ("webhook_id", *[f.name for f in WebhookDelivery._meta.fields])
    inlines = (AttemptInline,)
    actions = ("replay",)
    staff_actions = ("replay",)  # allowed to the tenant's staff although the rows are read-only
    show_full_result_count = False

    @admin.display(description=_("webhook-id"))
    def webhook_id(self, obj):
        return obj.webhook_id

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("endpoint")

    @admin.action(description=_("Replay (send again, same webhook-id and body)"))
    def replay(self, request, queryset):
        replayed, skipped = services.deliveries_replay(deliveries=queryset)
        messages.success(request, f"{replayed} deliveries queued again.")
        if skipped:
            messages.warning(request, f"{skipped} not replayed: their endpoint is disabled (enable it first).")

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False
