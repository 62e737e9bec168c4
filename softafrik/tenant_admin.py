"""The Django admin as each tenant's dashboard.

A tenant's staff user (``user.tenant`` set) sees and changes only rows of its own
tenant; a platform superuser sees everything. Every tenant-owned ModelAdmin derives
from ``TenantScopedAdmin`` and names the path from its model to the tenant.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.widgets import UnfoldAdminPasswordWidget


def user_tenant(request):
    return getattr(request.user, "tenant", None)


def is_platform_admin(request) -> bool:
    return bool(request.user.is_active and request.user.is_superuser)


def is_tenant_staff(request) -> bool:
    return bool(request.user.is_active and request.user.is_staff and user_tenant(request) is not None)


class SecretField(forms.CharField):
    """A write-only secret: a password input that never shows the stored value back."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", _("Write-only: never shown once saved. Leave empty to keep the stored one."))
        super().__init__(widget=UnfoldAdminPasswordWidget(render_value=False), **kwargs)


class WriteOnlySecrets(forms.ModelForm):
    """A ModelForm whose ``SecretField`` fields keep the stored value when left empty
    (the form never had it to send back)."""

    def clean(self):
        cleaned = super().clean()
        for name, field in self.fields.items():
            if isinstance(field, SecretField) and not cleaned.get(name) and self.instance.pk:
                cleaned[name] = getattr(self.instance, name)
        return cleaned


class ReadOnlyPermissions:
    """A ModelAdmin or inline mixin: rows everyone allowed may look at, that nobody adds,
    changes or deletes (a ledger, delivery attempts, an engine's rows)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TenantScopedAdmin(ModelAdmin):
    tenant_field = "tenant"  # path from the model to its Tenant, e.g. "message__tenant"
    tenant_read_only = False  # staff may only look (e.g. delivery rows)
    # Actions the tenant's staff may run even on read-only rows (cancel a send, replay a webhook).
    staff_actions: tuple[str, ...] = ()

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if is_platform_admin(request):
            return queryset
        tenant = user_tenant(request)
        if tenant is None:
            return queryset.none()
        return queryset.filter(**{self.tenant_field: tenant})

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if not is_platform_admin(request) and self.tenant_field == "tenant":
            exclude.append("tenant")
        return exclude

    def get_list_filter(self, request):
        filters = super().get_list_filter(request)
        if is_platform_admin(request):
            return filters
        return [f for f in filters if f != self.tenant_field]

    def save_model(self, request, obj, form, change):
        if not is_platform_admin(request) and self.tenant_field == "tenant":
            obj.tenant = user_tenant(request)
        super().save_model(request, obj, form, change)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # A tenant's staff can only point at its own rows (its apps, its users...).
        if not is_platform_admin(request):
            tenant = user_tenant(request)
            related = db_field.related_model
            if tenant is not None and any(f.name == "tenant" for f in related._meta.fields):
                kwargs["queryset"] = related._default_manager.filter(tenant=tenant)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_actions(self, request):
        actions = super().get_actions(request)
        for name in self.staff_actions:
            if name not in actions and self.has_view_permission(request):
                actions[name] = self.get_action(name)
        return actions

    def has_module_permission(self, request):
        return is_platform_admin(request) or is_tenant_staff(request)

    def has_view_permission(self, request, obj=None):
        return is_platform_admin(request) or is_tenant_staff(request)

    def has_change_permission(self, request, obj=None):
        if is_platform_admin(request):
            return True
        return is_tenant_staff(request) and not self.tenant_read_only

    def has_add_permission(self, request):
        return self.has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request)


class TenantReadOnlyAdmin(ReadOnlyPermissions, TenantScopedAdmin):
    """A tenant's rows, read-only for everyone: its staff sees its own, platform admins all."""

    tenant_read_only = True
