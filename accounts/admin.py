from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm
from unfold.widgets import UnfoldAdminCheckboxSelectMultipleWidget, UnfoldAdminTextareaWidget

from accounts.models import ApiKey, Tenant, User
from accounts.networks import networks_clean
from accounts.ratelimit import key_limits
from accounts.scopes import SCOPES
from accounts.selectors import api_key_cache_clear
from accounts.services import api_key_issue_for, api_key_regenerate, api_key_revoke
from notifications.webhooks.ssrf import url_refusal
from softafrik.tenant_admin import SecretField, TenantScopedAdmin, WriteOnlySecrets, is_platform_admin, user_tenant


class TenantForm(WriteOnlySecrets):
    callback_secret = SecretField(label=_("Callback secret"))

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
class TenantAdmin(ModelAdmin):
    """Platform admins manage tenants; a tenant's staff may set its own callback URL."""

    form = TenantForm
    list_display = ("id", "name", "default_region", "timezone", "is_active", "created_at")
    list_filter = ("is_active", "default_region")
    search_fields = ("name",)

    def get_fields(self, request, obj=None):
        fields = ["name", "default_region", "timezone", "is_active", "status_callback_url", "callback_secret"]
        if any(f.name == "logo" for f in Tenant._meta.fields):
            fields.insert(1, "logo")  # the admin header's (softafrik.dashboard)
        return fields if is_platform_admin(request) else [f for f in fields if f != "is_active"]

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
class SoftAfrikUserAdmin(UserAdmin, ModelAdmin):
    form = UserChangeForm  # unfold's, styled like the rest of the admin
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    fieldsets = (*UserAdmin.fieldsets, ("Tenant", {"fields": ("tenant",)}))
    list_display = ("username", "email", "tenant", "is_staff", "is_superuser")
    list_filter = ("tenant", "is_staff", "is_superuser")


admin.site.unregister(Group)


@admin.register(Group)
class SoftAfrikGroupAdmin(GroupAdmin, ModelAdmin):
    """Django's groups (django.contrib.auth registers them on the plain admin), in the theme."""


class NetworksField(forms.CharField):
    """CIDRs, one a line (or comma separated) -> the normalized list; empty: anywhere."""

    widget = UnfoldAdminTextareaWidget(attrs={"rows": 3})

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "help_text",
            "Accept calls only from these networks, IPv4 or IPv6, one a line (e.g. 203.0.113.0/24, "
            "2001:db8::/32). Empty: from anywhere.",
        )
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        text = super().to_python(value)
        try:
            return networks_clean(text.replace(",", "\n").split())
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc


class ApiKeyChangeForm(forms.ModelForm):
    """What may change on an issued key: its name, expiry, networks and rate limits.

    ``capped`` (a tenant's staff): the rate limits may only be lowered below the
    platform's, never lifted (the limits protect the platform from its tenants);
    platform admins set any, as the command line does."""

    allowed_networks = NetworksField()
    capped = False

    def _rate(self, name: str, platform: int, window: str) -> int | None:
        value = self.cleaned_data.get(name)
        if self.capped and platform and value is not None and not 0 < value <= platform:
            raise forms.ValidationError(
                f"At most the platform's {platform} requests a {window} (empty: that limit); "
                "a platform administrator can set more."
            )
        return value

    def clean_rate_per_second(self):
        return self._rate("rate_per_second", settings.API_RATE_PER_SECOND, "second")

    def clean_rate_per_minute(self):
        return self._rate("rate_per_minute", settings.API_RATE_PER_MINUTE, "minute")

    class Meta:
        model = ApiKey
        fields = ("name", "expires_at", "allowed_networks", "rate_per_second", "rate_per_minute")


class ApiKeyAddForm(ApiKeyChangeForm):
    """A new key: also its scopes, chosen from the registry; none ticked: every right."""

    scopes = forms.MultipleChoiceField(
        choices=list(SCOPES.items()),
        required=False,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        help_text="Limit the key to these rights (e.g. a key an app ships in its binary: deliveries only). "
        "None ticked: every right. Fixed once the key is issued.",
    )

    class Meta(ApiKeyChangeForm.Meta):
        fields = ("tenant", *ApiKeyChangeForm.Meta.fields, "scopes")


@admin.register(ApiKey)
class ApiKeyAdmin(TenantScopedAdmin):
    """A tenant's keys: issued (and shown) once, then regenerated or revoked; their
    networks, rate limits and expiry may change (within API_KEY_CACHE_SECONDS in every
    web process), their scopes may not."""

    form = ApiKeyChangeForm
    list_display = ("name", "masked", "rights", "networks", "limits", "expires_at", "revoked_at", "last_used_at")
    list_filter = ("tenant",)
    readonly_fields = ("prefix", "rights", "created_at", "revoked_at", "last_used_at")
    actions = ("regenerate_keys", "revoke_keys")

    def get_fields(self, request, obj=None):
        # A key's scopes are chosen when it is issued and fixed after (issue another key
        # to change them): a key already shipped in an app must not gain rights.
        fields = ["tenant", "name", "expires_at", "scopes" if obj is None else "rights"]
        fields += ["allowed_networks", "rate_per_second", "rate_per_minute"]
        fields += ["prefix", "created_at", "revoked_at", "last_used_at"]
        return [f for f in fields if f not in self.get_exclude(request, obj)]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        form = super().get_form(request, obj, **kwargs)  # a class made for this request
        form.capped = not is_platform_admin(request)
        return form

    @admin.display(description="networks")
    def networks(self, obj):
        return ", ".join(obj.allowed_networks) if obj.allowed_networks else "anywhere"

    @admin.display(description="rate limits")
    def limits(self, obj):
        limits = key_limits(obj)
        second = f"{limits.per_second}/s" if limits.per_second else "no limit a second"
        minute = f"{limits.per_minute}/min" if limits.per_minute else "no limit a minute"
        default = "" if obj.rate_per_second is not None or obj.rate_per_minute is not None else " (default)"
        return f"{second}, {minute}{default}"

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
            api_key_cache_clear()  # a new expiry, networks or limits take effect at once in this process
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
