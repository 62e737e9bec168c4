"""The dashboard's sending forms: what a tenant's staff types, checked field by field.

Each form is bound to one tenant: the senders, apps and scenarios it offers are that
tenant's own (approved senders only), so another tenant's is not a valid choice. Dates
without an offset are read in the tenant's time zone. A form checks what the services
would refuse anyway (numbers, text, sender, dates) so the error names its field; what
only the send can tell (the balance) is added by the view from the service's error.
"""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.apps import apps
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Tenant
from console.lists import CSV_MAX_BYTES, NUMBERS_MAX, csv_entries, numbers_check, pasted_entries
from devices.models import App, EndUser, Platform
from scenarios.accept import CONTACT_KEYS
from scenarios.models import FlowChannel, Scenario
from sms.models import SenderName, SenderStatus
from sms.services import sender_resolve, text_segment
from softafrik.errors import DomainError

INT_COLUMN_MAX = 2**31 - 1  # per_day, interval_minutes: 32-bit columns
PAST_GRACE = timedelta(minutes=1)  # a start "now" typed a minute ago is still now
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


class DateTimeLocal(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self):
        super().__init__(format="%Y-%m-%dT%H:%M")


def _when_field(label: str, help_text: str = "") -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label, required=False, widget=DateTimeLocal(), input_formats=DATETIME_FORMATS, help_text=help_text
    )


def _themed(form: forms.Form) -> None:
    """Give the widgets the admin theme's classes when the theme is django-unfold (plain
    Django admin forms need none)."""
    if not apps.is_installed("unfold"):
        return
    from unfold import widgets as unfold

    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.HiddenInput | forms.RadioSelect | forms.FileInput):
            continue
        if isinstance(widget, forms.Textarea):
            classes = unfold.TEXTAREA_CLASSES
        elif isinstance(widget, forms.CheckboxInput):
            classes = unfold.CHECKBOX_CLASSES
        elif isinstance(widget, forms.Select):
            classes = unfold.SELECT_CLASSES
        else:
            classes = unfold.INPUT_CLASSES
        widget.attrs["class"] = " ".join(classes)


def approved_senders(tenant: Tenant) -> list[tuple[str, str]]:
    """The sender choices: the tenant's default first (as ""), then every approved name."""
    names = list(
        SenderName.objects.filter(tenant=tenant, status=SenderStatus.APPROVED)
        .order_by("-is_default", "name")
        .values_list("name", "is_default")
    )
    default = next((name for name, is_default in names if is_default), None)
    first = (
        "",
        gettext("Default (%(name)s)") % {"name": default} if default else gettext("Default (none approved yet)"),
    )
    return [first, *((name, name) for name, _default in names)]


class ConsoleForm(forms.Form):
    """A form of one tenant. ``token`` is the one-time token of the confirmation step
    (``console.once``); the rest is the send."""

    token = forms.CharField(required=False, widget=forms.HiddenInput, max_length=64)

    # Field names of the services' DomainErrors, mapped to this form's fields.
    service_fields: dict[str, str] = {}

    def __init__(self, *args, tenant: Tenant, **kwargs):
        self.tenant = tenant
        super().__init__(*args, **kwargs)
        _themed(self)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tenant.timezone or "UTC")

    def full_clean(self):
        with timezone.override(self.zone):  # naive dates are the tenant's
            super().full_clean()

    def add_domain_error(self, exc: DomainError) -> None:
        """A service's refusal, on the field it names (on the form when it names none of them)."""
        self.add_error(self.service_fields.get(exc.field or "", None), exc.message)

    def _future(self, name: str) -> None:
        at = self.cleaned_data.get(name)
        if at is not None and at < timezone.now() - PAST_GRACE:
            self.add_error(name, gettext("This date is in the past."))

    def send_values(self) -> dict:
        """What the send asks for (every cleaned value but the token): its fingerprint."""
        return {name: value for name, value in self.cleaned_data.items() if name != "token"}


class SenderMixin(forms.Form):
    sender = forms.ChoiceField(label=_("Sender"), required=False, help_text=_("An approved sender name of yours."))

    def _senders(self) -> None:
        self.fields["sender"].choices = approved_senders(self.tenant)

    def clean_sender(self) -> str:
        sender = self.cleaned_data.get("sender") or ""
        try:
            return sender_resolve(tenant=self.tenant, sender=sender or None)
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from None


# --- SMS -------------------------------------------------------------------------------


class SmsWhen:
    NOW = "now"
    SCHEDULED = "scheduled"
    SPREAD = "spread"
    CHOICES = [
        (NOW, _("Now")),
        (SCHEDULED, _("At a date")),
        (SPREAD, _("Spread over a window (a batch every few minutes, a daily cap)")),
    ]


class SmsForm(SenderMixin, ConsoleForm):
    """One SMS, a pasted list or a CSV file of numbers; now, at a date, or spread (ION's
    MULDESP). Cleaned: ``recipients`` (E.164), ``single`` (one number typed)."""

    numbers = forms.CharField(
        label=_("Numbers"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "One number, or a list: one a line, or separated by commas. National numbers are read in your region."
        ),
    )
    numbers_file = forms.FileField(
        required=False,
        label=_("Or a CSV file of numbers"),
        help_text=_("One number a row (the first column that holds one)."),
    )
    skip_invalid = forms.BooleanField(required=False, label=_("Skip invalid numbers and send to the others"))
    text = forms.CharField(label=_("Text"), strip=False, widget=forms.Textarea(attrs={"rows": 4}))
    when = forms.ChoiceField(label=_("When"), choices=SmsWhen.CHOICES, initial=SmsWhen.NOW, widget=forms.RadioSelect)
    scheduled_at = _when_field(_("Send at"), _("In your account's time zone."))
    window_start = _when_field(_("Spread from"), _("Empty: now."))
    window_end = _when_field(_("Spread until"), _("Numbers not sent by then end failed."))
    per_day = forms.IntegerField(required=False, min_value=1, max_value=INT_COLUMN_MAX, label=_("At most a day"))
    interval_minutes = forms.IntegerField(
        required=False, min_value=1, max_value=INT_COLUMN_MAX, label=_("A batch every (minutes)")
    )

    service_fields = {"sender": "sender", "number": "numbers", "text": "text"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._senders()
        self.file_entries: list[tuple[str, str]] = []  # (where, number) read from the CSV file

    def clean_numbers_file(self):
        upload = self.cleaned_data.get("numbers_file")
        if not upload:
            return None
        if upload.size > CSV_MAX_BYTES:
            raise forms.ValidationError(
                gettext("The file is too large: at most %(mb)s MB.") % {"mb": CSV_MAX_BYTES // (1024 * 1024)}
            )
        try:
            self.file_entries = csv_entries(upload.read())
        except ValueError as exc:
            raise forms.ValidationError(gettext("Unreadable file: %(reason)s.") % {"reason": exc}) from None
        if not self.file_entries:
            raise forms.ValidationError(gettext("No phone number found in this file."))
        return upload.name

    def clean_text(self) -> str:
        text = self.cleaned_data["text"]
        try:
            text_segment(text=text)
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from None
        return text

    def clean(self):
        data = super().clean()
        self._clean_numbers(data)
        when = data.get("when")
        if when == SmsWhen.SCHEDULED:
            if not data.get("scheduled_at"):
                self.add_error("scheduled_at", gettext("Give the date to send at."))
            self._future("scheduled_at")
        elif when == SmsWhen.SPREAD:
            self._clean_spread(data)
        return data

    def _clean_numbers(self, data: dict) -> None:
        if "numbers_file" in self.errors:
            return
        pasted = pasted_entries(data.get("numbers") or "")
        entries = pasted + self.file_entries
        if not entries:
            self.add_error("numbers", gettext("Give at least one number, or a CSV file of numbers."))
            return
        if len(entries) > NUMBERS_MAX:
            self.add_error(
                "numbers",
                gettext("At most %(max)s numbers per send (%(given)s given).")
                % {"max": NUMBERS_MAX, "given": len(entries)},
            )
            return
        checked = numbers_check(tenant=self.tenant, entries=entries)
        if checked.invalid and not data.get("skip_invalid"):
            in_file = {text for _where, text in self.file_entries} & {text for _where, text, _why in checked.invalid}
            self.add_error(
                "numbers_file" if in_file and not pasted else "numbers",
                gettext("Invalid numbers: %(lines)s.") % {"lines": checked.invalid_summary()},
            )
            return
        if not checked.valid:
            self.add_error("numbers", gettext("No valid number: %(lines)s.") % {"lines": checked.invalid_summary()})
            return
        data["recipients"] = checked.valid
        data["skipped"] = len(checked.invalid)
        data["single"] = len(entries) == 1

    def _clean_spread(self, data: dict) -> None:
        for name in ("window_end", "per_day", "interval_minutes"):
            if not data.get(name) and name not in self.errors:
                self.add_error(name, gettext("Required for a spread send."))
        self._future("window_start")
        start, end = data.get("window_start") or timezone.now(), data.get("window_end")
        if end is not None and "window_start" not in self.errors:
            if end <= start:
                self.add_error("window_end", gettext("Must be after the start."))
            elif end <= timezone.now():
                self.add_error("window_end", gettext("This date is in the past."))
        data["window_start"] = start


# --- Push ------------------------------------------------------------------------------


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


# --- Omni ------------------------------------------------------------------------------

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
    start_at = _when_field(_("Start at"), _("Empty: now. In your account's time zone."))

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
        self.fields["sender"].help_text = _("For the SMS steps, unless the scenario names one.")
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


class TenantPickForm(forms.Form):
    """A platform superuser sends as the tenant it picks first."""

    tenant = forms.ModelChoiceField(label=_("Tenant"), queryset=Tenant.objects.filter(is_active=True).order_by("name"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _themed(self)
