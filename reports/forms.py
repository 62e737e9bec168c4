"""The reports page's inputs: a period, what to group by, a channel, and for a platform
superuser the tenant. Bad input is a form error naming the field (a 400), never a 500."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from reports.models import DIMENSIONS
from reports.selectors import CHANNELS, REPORT_MAX_DAYS

_DIMENSION_LABELS = {
    "channel": _("Channel"),
    "app": _("App"),
    "sender": _("Sender"),
    "country": _("Country"),
    "category": _("Category"),
    "campaign": _("Campaign"),
    "scenario": _("Scenario"),
}
GROUP_CHOICES = [("day", _("Day")), *((name, _DIMENSION_LABELS[name]) for name in DIMENSIONS)]
DEFAULT_GROUP_BY = ["day", "channel"]
DEFAULT_DAYS = 30


class ReportForm(forms.Form):
    tenant = forms.TypedChoiceField(label=_("Tenant"), coerce=int, required=False)
    start = forms.DateField(
        label=pgettext_lazy("report period", "From"), widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(label=pgettext_lazy("report period", "To"), widget=forms.DateInput(attrs={"type": "date"}))
    group_by = forms.MultipleChoiceField(
        label=_("Group by"), choices=GROUP_CHOICES, widget=forms.CheckboxSelectMultiple
    )
    channel = forms.ChoiceField(
        label=_("Channel"), required=False, choices=[("", _("All")), *((c, c) for c in CHANNELS)]
    )

    def __init__(self, *args, tenants=None, **kwargs):
        """``tenants``: the superuser's choice (the field is then required); None for a
        tenant's staff, whose tenant is its own (the field is dropped)."""
        super().__init__(*args, **kwargs)
        if tenants is None:
            del self.fields["tenant"]
        else:
            self.fields["tenant"].choices = [("", "—"), *((t.pk, t.name) for t in tenants)]
            self.fields["tenant"].required = True

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                self.add_error("end", _("The end is before the start."))
            elif (end - start).days + 1 > REPORT_MAX_DAYS:
                self.add_error("end", _("A report covers at most %(days)d days.") % {"days": REPORT_MAX_DAYS})
        return data

    @staticmethod
    def defaults(today) -> dict:
        return {"start": today - timedelta(days=DEFAULT_DAYS - 1), "end": today, "group_by": DEFAULT_GROUP_BY}
