"""The SMS form: one number, a pasted list or a CSV file; now, at a date or spread."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from console.forms.base import INT_COLUMN_MAX, ConsoleForm, SenderMixin, when_field
from console.lists import CSV_MAX_BYTES, NUMBERS_MAX, csv_entries, numbers_check, pasted_entries
from sms.services import text_segment
from softafrik.errors import DomainError


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
    scheduled_at = when_field(_("Send at"), _("In your account's time zone."))
    window_start = when_field(_("Spread from"), _("Empty: now."))
    window_end = when_field(_("Spread until"), _("Numbers not sent by then end failed."))
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
