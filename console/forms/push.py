"""The push form: to one user, or a broadcast to an app's devices."""

from __future__ import annotations

import json

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from console.forms.base import ConsoleForm
from devices.models import App, EndUser, Platform


class PushTarget:
    USER = "user"
    BROADCAST = "broadcast"
    CHOICES = [(USER, _("One user (every device of the user)")), (BROADCAST, _("Every device of an app (a broadcast)"))]


class PushForm(ConsoleForm):
    """A push to one user (by puid) or a broadcast to an app's devices (optionally one
    country or platform). Cleaned: ``end_user`` or ``app``."""

    target = forms.ChoiceField(
        label=_("To"), choices=PushTarget.CHOICES, initial=PushTarget.USER, widget=forms.RadioSelect
    )
    puid = forms.CharField(required=False, max_length=40, label=_("User (puid)"))
    app = forms.TypedChoiceField(label=_("App"), required=False, coerce=int, empty_value=None)
    country = forms.RegexField(
        r"^[A-Za-z]{2}$", label=_("Country"), required=False, help_text=_("ISO code, e.g. TG; empty: all.")
    )
    platform = forms.ChoiceField(label=_("Platform"), choices=[("", _("All")), *Platform.choices], required=False)
    title = forms.CharField(label=_("Title"), max_length=500)
    body = forms.CharField(label=_("Body"), max_length=4000, widget=forms.Textarea(attrs={"rows": 3}))
    data = forms.CharField(
        label=_("Data"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_('Optional JSON object the app receives, e.g. {"order": "42"}.'),
    )

    service_fields = {"puid": "puid", "app_name": "app"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        apps_of = App.objects.filter(tenant=self.tenant).order_by("name").values_list("pk", "name")
        self.fields["app"].choices = [("", "---------"), *apps_of]

    def clean_data(self) -> dict:
        raw = (self.cleaned_data.get("data") or "").strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError:
            raise forms.ValidationError(gettext("Not valid JSON.")) from None
        if not isinstance(value, dict):
            raise forms.ValidationError(gettext("Give a JSON object ({...})."))
        return value

    def clean(self):
        data = super().clean()
        if data.get("target") == PushTarget.USER:
            puid = (data.get("puid") or "").strip()
            user = EndUser.objects.filter(tenant=self.tenant, puid=puid).first() if puid else None
            if not puid:
                self.add_error("puid", gettext("Give the user's puid."))
            elif user is None:
                self.add_error("puid", gettext("Unknown puid %(puid)r.") % {"puid": puid})
            data["end_user"] = user
        elif data.get("target") == PushTarget.BROADCAST:
            app = App.objects.filter(tenant=self.tenant, pk=data.get("app")).first() if data.get("app") else None
            if app is None and "app" not in self.errors:
                self.add_error("app", gettext("Choose the app to broadcast to."))
            data["app_row"] = app
            data["country"] = (data.get("country") or "").upper()
        return data

    def send_values(self) -> dict:
        values = super().send_values()
        values["end_user"] = values["end_user"].pk if values.get("end_user") else None
        values["app_row"] = values["app_row"].pk if values.get("app_row") else None
        return values
