"""The omni form: a message through one of the tenant's scenarios."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from console.forms.base import ConsoleForm, SenderMixin, when_field
from console.lists import numbers_check, pasted_entries
from devices.models import App
from scenarios.accept import CONTACT_KEYS
from scenarios.models import FlowChannel, Scenario
from sms.services import sender_resolve, text_segment
from softafrik.errors import DomainError

DESTINATION_KINDS = [
    ("phone", _("Phone numbers")),
    ("userId", _("User ids (your reference)")),
    ("username", _("Usernames")),
    ("email", _("Emails")),
    ("uid", _("Device uids")),
]


class OmniForm(SenderMixin, ConsoleForm):
    """A message through one of the tenant's scenarios (push first, then SMS...) to a
    list of people. Cleaned: ``scenario_row`` and ``entries`` (the omni engine's
    destinations)."""

    scenario = forms.ChoiceField(label=_("Scenario"))
    destination_kind = forms.ChoiceField(choices=DESTINATION_KINDS, label=_("Destinations are"))
    destinations = forms.CharField(
        label=_("Destinations"), widget=forms.Textarea(attrs={"rows": 4}), help_text=_("One a line.")
    )
    app = forms.TypedChoiceField(
        label=_("App"),
        required=False,
        coerce=int,
        empty_value=None,
        help_text=_("For a push step whose scenario names no app."),
    )
    push_title = forms.CharField(required=False, max_length=100, label=_("Push title"))
    push_text = forms.CharField(
        label=_("Push text"), required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2})
    )
    sms_text = forms.CharField(
        required=False, strip=False, widget=forms.Textarea(attrs={"rows": 2}), label=_("SMS text")
    )
    start_at = when_field(_("Start at"), _("Empty: now. In your account's time zone."))

    service_fields = {
        "appCode": "app",
        "pushContent.text": "push_text",
        "smsContent.text": "sms_text",
        "smsContent.from": "sender",
        "from": "sender",
        "destinations": "destinations",
        "number": "destinations",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._senders()
        self.fields["sender"].help_text = _("For the SMS steps; empty: the scenario's own sender, else your default.")
        scenarios = Scenario.objects.filter(tenant=self.tenant).order_by("name").values_list("key", "name")
        self.fields["scenario"].choices = [("", "---------"), *scenarios]
        apps_of = App.objects.filter(tenant=self.tenant).order_by("name").values_list("pk", "name")
        self.fields["app"].choices = [("", "---------"), *apps_of]

    def clean_sender(self) -> str:
        return self.cleaned_data.get("sender") or ""  # needed (and resolved) by an SMS step only: see clean

    def clean(self):
        data = super().clean()
        scenario = Scenario.objects.filter(tenant=self.tenant, key=data.get("scenario")).first()
        data["scenario_row"] = scenario
        if scenario is not None:
            channels = {step.get("channel") for step in scenario.flow}
            if FlowChannel.PUSH in channels and not data.get("push_text"):
                self.add_error("push_text", gettext("This scenario has a push step: give its text."))
            if FlowChannel.SMS in channels and not data.get("sms_text"):
                self.add_error("sms_text", gettext("This scenario has an SMS step: give its text."))
            own_sender = all(s.get("from") for s in scenario.flow if s.get("channel") == FlowChannel.SMS)
            if FlowChannel.SMS in channels and not own_sender and "sender" in data:
                try:
                    sender_resolve(tenant=self.tenant, sender=data["sender"] or None)
                except DomainError as exc:
                    self.add_error("sender", exc.message)
        if data.get("sms_text"):
            try:
                text_segment(text=data["sms_text"])
            except DomainError as exc:
                self.add_error("sms_text", exc.message)
        self._clean_destinations(data)
        self._future("start_at")
        return data

    def _clean_destinations(self, data: dict) -> None:
        kind = data.get("destination_kind")
        entries = pasted_entries(data.get("destinations") or "")
        if not entries or kind not in CONTACT_KEYS:
            if "destinations" not in self.errors:
                self.add_error("destinations", gettext("Give at least one destination."))
            return
        if kind == "phone":
            checked = numbers_check(tenant=self.tenant, entries=entries)
            if checked.invalid:
                self.add_error(
                    "destinations", gettext("Invalid numbers: %(lines)s.") % {"lines": checked.invalid_summary()}
                )
                return
            data["entries"] = [{"phone": number} for number in checked.valid]
        else:
            data["entries"] = [{kind: value} for value in dict.fromkeys(value for _, value in entries)]

    def send_values(self) -> dict:
        values = super().send_values()
        values["scenario_row"] = values["scenario_row"].pk if values.get("scenario_row") else None
        return values
