"""Scenarios in the admin: each tenant's flows with what became of their messages, and the
omni messages themselves (read-only: the engine's rows) down to each destination's steps.

"Delivered by push", "by SMS" and "not delivered" count destinations, computed for the
whole page in the list's one query (``selectors.destination_outcomes``)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import RangeDateTimeFilter

from scenarios.flows import flow_validate
from scenarios.models import OmniDestination, OmniMessage, OmniStep, Scenario
from scenarios.selectors import destination_outcomes
from softafrik.errors import DomainError
from softafrik.tenant_admin import TenantReadOnlyAdmin, TenantScopedAdmin, is_platform_admin, user_tenant


class OutcomeColumns:
    """The three outcome columns, read from ``destination_outcomes``' annotations."""

    @admin.display(description=_("delivered by push"), ordering="delivered_push")
    def delivered_by_push(self, obj):
        return obj.delivered_push

    @admin.display(description=_("delivered by SMS"), ordering="delivered_sms")
    def delivered_by_sms(self, obj):
        return obj.delivered_sms

    @admin.display(description=_("not delivered"), ordering="undelivered")
    def not_delivered(self, obj):
        return obj.undelivered


class ScenarioForm(forms.ModelForm):
    """Checks the flow by the API's rules (``flow_validate``) and saves it as the API
    would (normalized)."""

    staff_tenant = None  # the tenant of the staff user editing; None for a platform admin

    class Meta:
        model = Scenario
        fields = ("tenant", "name", "flow")

    def clean(self):
        cleaned = super().clean()
        tenant = self.staff_tenant or cleaned.get("tenant")
        if tenant is None and self.instance.tenant_id:
            tenant = self.instance.tenant
        if tenant is not None and "flow" in cleaned:
            try:
                cleaned["flow"] = flow_validate(tenant=tenant, flow=cleaned["flow"])
            except DomainError as exc:
                self.add_error("flow", exc.message)
        return cleaned


@admin.register(Scenario)
class ScenarioAdmin(OutcomeColumns, TenantScopedAdmin):
    form = ScenarioForm
    list_display = ("name", "key", "steps", "delivered_by_push", "delivered_by_sms", "not_delivered", "updated_at")
    list_filter = ("tenant",)
    search_fields = ("name", "key")
    readonly_fields = ("key", "created_at", "updated_at")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(**destination_outcomes(to="message__scenario"))

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        staff_tenant = None if is_platform_admin(request) else user_tenant(request)
        return type(form.__name__, (form,), {"staff_tenant": staff_tenant})

    @admin.display(description=_("flow"))
    def steps(self, obj):
        return " → ".join(str(step.get("channel")) for step in obj.flow if isinstance(step, dict))


class ReadOnlyAdmin(TenantReadOnlyAdmin):
    """The engine's rows: everyone may look, nobody may add, change or delete."""


def _rows_link(model, message: OmniMessage, label: str) -> str:
    url = reverse(f"admin:scenarios_{model._meta.model_name}_changelist")
    return format_html('<a href="{}?message={}">{}</a>', url, message.pk, label)


@admin.register(OmniMessage)
class OmniMessageAdmin(OutcomeColumns, ReadOnlyAdmin):
    list_display = (
        "created_at",
        "product",
        "scenario",
        "state",
        "destinations_count",
        "delivered_by_push",
        "delivered_by_sms",
        "not_delivered",
    )
    list_filter = ("tenant", "product", "state", ("created_at", RangeDateTimeFilter))
    list_filter_submit = True  # the period's two fields are sent together
    list_select_related = ("scenario",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = (
        "delivered_by_push",
        "delivered_by_sms",
        "not_delivered",
        "destination_rows",
        "step_rows",
        *[f.name for f in OmniMessage._meta.fields],
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(**destination_outcomes(to="message"))

    @admin.display(description=_("destinations"))
    def destination_rows(self, obj):
        return _rows_link(OmniDestination, obj, f"{obj.destinations_count} destinations")

    @admin.display(description=_("steps"))
    def step_rows(self, obj):
        return _rows_link(OmniStep, obj, "the steps that ran")


@admin.register(OmniDestination)
class OmniDestinationAdmin(ReadOnlyAdmin):
    list_display = ("id", "message", "given", "end_user", "device", "phone", "step", "channel", "status", "updated_at")
    list_filter = ("status", "channel")
    search_fields = ("phone",)
    list_select_related = ("message", "end_user", "device")
    raw_id_fields = ("message", "end_user", "device")
    show_full_result_count = False


@admin.register(OmniStep)
class OmniStepAdmin(ReadOnlyAdmin):
    list_display = ("id", "message", "destination", "index", "channel", "state", "started_at", "sent_at", "ended_at")
    list_filter = ("state", "channel")
    list_select_related = ("message", "destination")
    raw_id_fields = ("message", "destination")
    show_full_result_count = False
