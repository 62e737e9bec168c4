from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Tenant
from softafrik.crypto import EncryptedTextField


class Platform(models.TextChoices):
    ANDROID = "android", "Android (FCM)"
    IOS = "ios", "iOS (APNs)"
    WEB = "web", "Web Push"


class App(models.Model):
    """A tenant's app with its own provider credentials (encrypted at rest, never
    returned by the API)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="apps")
    name = models.CharField(max_length=100)
    code = models.CharField(max_length=32, unique=True)
    fcm_service_account = EncryptedTextField(blank=True, default="", help_text="Service-account JSON")
    apns_key = EncryptedTextField(blank=True, default="", help_text="Token signing key (.p8)")
    apns_key_id = models.CharField(max_length=20, blank=True, default="")
    apns_team_id = models.CharField(max_length=20, blank=True, default="")
    apns_topic = models.CharField(max_length=200, blank=True, default="", help_text="Bundle id")
    apns_sandbox = models.BooleanField(default=False)
    vapid_public_key = models.CharField(max_length=200, blank=True, default="")
    vapid_private_key = EncryptedTextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    # Bumped on every credential change so worker processes rebuild their provider clients.
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("app")
        verbose_name_plural = _("apps")
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="app_unique_name_per_tenant")]

    def __str__(self) -> str:
        return self.name

    @property
    def has_fcm(self) -> bool:
        return bool(self.fcm_service_account)

    @property
    def has_apns(self) -> bool:
        return bool(self.apns_key and self.apns_key_id and self.apns_team_id and self.apns_topic)

    @property
    def has_webpush(self) -> bool:
        return bool(self.vapid_private_key)


class EndUser(models.Model):
    """A tenant's customer, known to the API by its PUID (``sa_<tenant>_<8 chars>``)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="end_users")
    puid = models.CharField(max_length=40, unique=True)
    external_user_ref = models.CharField(max_length=200)
    meta = models.JSONField(default=dict, blank=True)
    # Contact points (each unique per tenant when set): how an omni destination names a
    # person (Delevera's username, email, phone; its userId is external_user_ref), and
    # the number an SMS step of a scenario goes to.
    phone = models.CharField(max_length=32, blank=True, default="", help_text="E.164")
    email = models.EmailField(max_length=254, blank=True, default="")
    username = models.CharField(max_length=150, blank=True, default="")
    lang = models.CharField(max_length=16, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "external_user_ref"], name="enduser_unique_ref_per_tenant"),
            *(
                models.UniqueConstraint(
                    fields=["tenant", contact],
                    name=f"enduser_unique_{contact}_per_tenant",
                    condition=~models.Q(**{contact: ""}),
                )
                for contact in ("phone", "email", "username")
            ),
        ]

    def __str__(self) -> str:
        return self.puid


class Device(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="devices")
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="devices")
    end_user = models.ForeignKey(EndUser, null=True, blank=True, on_delete=models.SET_NULL, related_name="devices")
    platform = models.CharField(max_length=10, choices=Platform.choices)
    # FCM/APNs token, or the Web Push subscription as canonical JSON.
    token = models.TextField()
    # SHA-256 of the token's identity (for Web Push: the endpoint), the unique lookup key.
    token_hash = models.CharField(max_length=64)
    device_uid = models.CharField(max_length=200, blank=True, default="")
    lang = models.CharField(max_length=16, blank=True, default="")
    country = models.CharField(max_length=2, blank=True, default="")
    is_active = models.BooleanField(default=True)
    deactivated_reason = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("device")
        verbose_name_plural = _("devices")
        constraints = [models.UniqueConstraint(fields=["tenant", "token_hash"], name="device_unique_token_per_tenant")]
        indexes = [
            # Broadcast fan-out walks an app's active devices in id order (keyset pages).
            models.Index(fields=["app", "id"], name="device_app_active_id", condition=models.Q(is_active=True)),
            models.Index(fields=["end_user", "is_active"], name="device_user_active"),
        ]

    def __str__(self) -> str:
        return f"{self.platform}:{self.token[:16]}…"
