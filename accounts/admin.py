from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin

from accounts.models import ApiKey, Tenant, User
from accounts.scopes import SCOPES
from accounts.selectors import api_key_cache_clear
from accounts.services import api_key_issue_for, api_key_regenerate, api_key_revoke
from notifications.webhooks.ssrf import url_refusal
from softafrik.tenant_admin import TenantScopedAdmin, is_platform_admin, user_tenant


class TenantForm(forms.ModelForm):
    class Meta:
        model = Tenant
        fields = ("status_callback_url",)  # the admin adds the others (get_fields)

    def clean_status_callback_url(self):
        """The callback URL is a webhook endpoint: the webhooks' address rule applies."""
        url = self.cleaned_data["status_callback_url"]
        refusal = url_refusal(url) if url else None
        if refusal:
            raise forms.ValidationError(refusal)
        return url


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    """Platform admins manage tenants; a tenant's staff may set its own callback URL."""

    form = TenantForm
    list_display = ("id", "name", "default_region", "timezone", "is_active", "created_at")
    search_fields = ("name",)

    def get_fields(self, request, obj=None):
        if is_platform_admin(request):
            return ("name", "default_region", "timezone", "is_active", "status_callback_url", "callback_secret")
        return ("name", "default_region", "timezone", "status_callback_url", "callback_secret")

    def get_readonly_fields(self, request, obj=None):
        return () if is_platform_admin(request) else ("name", "default_region", "timezone")

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if is_platform_admin(request):
            return queryset
        tenant = user_tenant(request)
        return queryset.filter(pk=tenant.pk) if tenant else queryset.none()

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    def has_change_permission(self, request, obj=None):
        if is_platform_admin(request):
            return True
        tenant = user_tenant(request)
        return tenant is not None and request.user.is_staff and (obj is None or obj.pk == tenant.pk)

    has_add_permission = has_delete_permission = lambda self, request, obj=None: is_platform_admin(request)


@admin.register(User)
class SoftAfrikUserAdmin(UserAdmin):
    fieldsets = (*UserAdmin.fieldsets, ("Tenant", {"fields": ("tenant",)}))
    list_display = ("username", "email", "tenant", "is_staff", "is_superuser")
    list_filter = ("tenant", "is_staff", "is_superuser")


class ApiKeyAddForm(forms.ModelForm):
    """A new key's scopes, chosen from the registry; none ticked: every right."""

    scopes = forms.MultipleChoiceField(
        choices=list(SCOPES.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Limit the key to these rights (e.g. a key an app ships in its binary: deliveries only). "
        "None ticked: every right. Fixed once the key is issued.",
    )

    class Meta:
        model = ApiKey
        fields = ("tenant", "name", "expires_at", "scopes")


@admin.register(ApiKey)
class ApiKeyAdmin(TenantScopedAdmin):
    list_display = ("name", "masked", "rights", "created_at", "expires_at", "revoked_at", "last_used_at")
    list_filter = ("tenant",)
    readonly_fields = ("prefix", "rights", "created_at", "revoked_at", "last_used_at")
    actions = ("regenerate_keys", "revoke_keys")

    def get_fields(self, request, obj=None):
        # A key's scopes are chosen when it is issued and fixed after (issue another key
        # to change them): a key already shipped in an app must not gain rights.
        fields = ["tenant", "name", "expires_at", "scopes" if obj is None else "rights"]
        fields += ["prefix", "created_at", "revoked_at", "last_used_at"]
        return [f for f in fields if f not in self.get_exclude(request, obj)]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, **kwargs)

    @admin.display(description="key")
    def masked(self, obj):
        return f"sk_{obj.prefix}_…"

    @admin.display(description="scopes")
    def rights(self, obj):
        return ", ".join(obj.scopes) if obj.scopes else "every right"

    def save_model(self, request, obj, form, change):
        plaintext = None
        if not change:
            plaintext = api_key_issue_for(api_key=obj)
        super().save_model(request, obj, form, change)
        if change:
            api_key_cache_clear()  # a new expiry takes effect at once in this process
        if plaintext:
            messages.warning(request, f"New API key (shown once, copy it now): {plaintext}")

    @admin.action(description="Regenerate (revoke and issue a replacement)")
    def regenerate_keys(self, request, queryset):
        for api_key in queryset.filter(revoked_at__isnull=True):
            issued = api_key_regenerate(api_key=api_key)
            messages.warning(request, f"{issued.api_key.name}: new key (shown once): {issued.plaintext}")

    @admin.action(description="Revoke")
    def revoke_keys(self, request, queryset):
        for api_key in queryset:
            api_key_revoke(api_key=api_key)
        messages.success(request, "Revoked.")
