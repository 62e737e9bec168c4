"""Prices in the admin: platform admins set them; a tenant's staff sees the platform's and
its own, read-only."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from billing import money
from billing.admin_accounts import amount_parsed
from billing.models import Tariff
from billing.pricing import tariffs_cache_clear
from softafrik.tenant_admin import is_platform_admin, is_tenant_staff, user_tenant


class TariffForm(forms.ModelForm):
    price = forms.CharField(max_length=30, help_text="Per SMS part or push delivery, in the unit (e.g. 0.05, 25)")

    class Meta:
        model = Tariff
        fields = ("tenant", "channel", "unit", "prefix", "price", "label")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["price"] = money.amount_str(self.instance.price, unit=self.instance.unit)

    def clean_unit(self):
        unit = self.cleaned_data["unit"].strip()
        unit = money.CREDITS if unit.lower() == money.CREDITS else unit.upper()
        if not money.unit_valid(unit):
            raise forms.ValidationError("credits, or an ISO 4217 code (XOF, EUR...).")
        return unit

    def clean_prefix(self):
        prefix = self.cleaned_data["prefix"].strip().lstrip("+")
        if prefix and not prefix.isdigit():
            raise forms.ValidationError('E.164 digits ("228", "22890"), or empty for any destination.')
        return prefix

    def clean(self):
        cleaned = super().clean()
        if "price" in cleaned and "unit" in cleaned:
            try:
                cleaned["price"] = amount_parsed(cleaned["price"], unit=cleaned["unit"])
            except forms.ValidationError as exc:
                self.add_error("price", exc)
        return cleaned


@admin.register(Tariff)
class TariffAdmin(ModelAdmin):
    """Platform admins set the prices; a tenant's staff sees the platform's and its own."""

    form = TariffForm
    list_display = ("channel", "prefix_shown", "label", "price_shown", "unit", "owner", "updated_at")
    list_filter = ("channel", "unit", "tenant")
    list_select_related = ("tenant",)
    search_fields = ("prefix", "label")

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if is_platform_admin(request):
            return queryset
        tenant = user_tenant(request)
        if tenant is None:
            return queryset.none()
        return queryset.filter(Q(tenant__isnull=True) | Q(tenant=tenant))

    def get_list_filter(self, request):
        return self.list_filter if is_platform_admin(request) else ("channel", "unit")

    @admin.display(description=_("prefix"), ordering="prefix")
    def prefix_shown(self, obj):
        return obj.prefix or "any"

    @admin.display(description=_("price"), ordering="price")
    def price_shown(self, obj):
        return money.amount_str(obj.price, unit=obj.unit)

    @admin.display(description=_("for"), ordering="tenant__name")
    def owner(self, obj):
        return obj.tenant or "platform"

    def get_fields(self, request, obj=None):
        if is_platform_admin(request):
            return super().get_fields(request, obj)
        return ("owner", "channel", "unit", "prefix_shown", "price_shown", "label")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        tariffs_cache_clear()  # this process at once; the others within BILLING_CACHE_SECONDS

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        tariffs_cache_clear()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        tariffs_cache_clear()

    def has_module_permission(self, request):
        return is_platform_admin(request) or is_tenant_staff(request)

    def has_view_permission(self, request, obj=None):
        return is_platform_admin(request) or is_tenant_staff(request)

    def has_change_permission(self, request, obj=None):
        return is_platform_admin(request)

    has_add_permission = has_delete_permission = has_change_permission
