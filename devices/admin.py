from django import forms
from django.contrib import admin

from devices.models import App, Device, EndUser
from devices.services import apns_key_validate, app_identity_init, fcm_service_account_validate
from softafrik.errors import DomainError
from softafrik.tenant_admin import TenantScopedAdmin


class AppForm(forms.ModelForm):
    """Credentials are write-only: the form never shows a stored secret back."""

    fcm_service_account_file = forms.FileField(required=False, help_text="Replaces the stored service account.")
    apns_key_file = forms.FileField(required=False, help_text="The .p8 key; replaces the stored one.")

    class Meta:
        model = App
        fields = ("tenant", "name", "apns_key_id", "apns_team_id", "apns_topic", "apns_sandbox")

    def clean_fcm_service_account_file(self):
        upload = self.cleaned_data.get("fcm_service_account_file")
        if not upload:
            return None
        try:
            return fcm_service_account_validate(upload.read().decode())
        except (DomainError, UnicodeDecodeError) as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean_apns_key_file(self):
        upload = self.cleaned_data.get("apns_key_file")
        if not upload:
            return None
        try:
            return apns_key_validate(upload.read().decode())
        except (DomainError, UnicodeDecodeError) as exc:
            raise forms.ValidationError(str(exc)) from exc

    def save(self, commit=True):
        app = super().save(commit=False)
        if self.cleaned_data.get("fcm_service_account_file"):
            app.fcm_service_account = self.cleaned_data["fcm_service_account_file"]
        if self.cleaned_data.get("apns_key_file"):
            app.apns_key = self.cleaned_data["apns_key_file"]
        if not app.code:
            app_identity_init(app=app)
        if commit:
            app.save()
        return app


@admin.register(App)
class AppAdmin(TenantScopedAdmin):
    form = AppForm
    list_display = ("name", "code", "fcm_ready", "apns_ready", "apns_sandbox", "created_at")
    list_filter = ("tenant",)
    readonly_fields = ("code", "vapid_public_key")

    def get_fields(self, request, obj=None):
        fields = ["tenant", "name", "code", "fcm_service_account_file", "apns_key_file"]
        fields += ["apns_key_id", "apns_team_id", "apns_topic", "apns_sandbox", "vapid_public_key"]
        return [f for f in fields if f not in self.get_exclude(request, obj)]

    @admin.display(boolean=True, description="FCM")
    def fcm_ready(self, obj):
        return obj.has_fcm

    @admin.display(boolean=True, description="APNs")
    def apns_ready(self, obj):
        return obj.has_apns


@admin.register(EndUser)
class EndUserAdmin(TenantScopedAdmin):
    list_display = ("puid", "external_user_ref", "phone", "email", "username", "lang", "created_at")
    list_filter = ("tenant", "lang")
    search_fields = ("puid", "external_user_ref", "phone", "email", "username")
    # Contact points are shown, not edited here: they change through /api/users/register
    # (end_user_register), which reads the phone into E.164, lower-cases the email and
    # refuses one another user of the tenant has.
    readonly_fields = ("puid", "phone", "email", "username", "lang", "created_at", "updated_at")


@admin.register(Device)
class DeviceAdmin(TenantScopedAdmin):
    list_display = ("id", "app", "end_user", "platform", "country", "lang", "is_active", "deactivated_reason")
    list_filter = ("tenant", "platform", "is_active", "country")
    search_fields = ("end_user__puid", "device_uid")
    readonly_fields = ("token", "token_hash", "created_at", "updated_at")
    raw_id_fields = ("end_user",)
    list_select_related = ("app", "end_user")
