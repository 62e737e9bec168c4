"""What every sending form shares: bound to one tenant, whose senders it offers and in
whose time zone it reads dates; the admin theme's widget classes; the one-time token.

A form checks what the services would refuse anyway (numbers, text, sender, dates) so
the error names its field; what only the send can tell (the balance) is added by the
view from the service's error.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.apps import apps
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Tenant
from sms.models import SenderName, SenderStatus
from sms.services import sender_resolve
from softafrik.errors import DomainError

INT_COLUMN_MAX = 2**31 - 1  # per_day, interval_minutes: 32-bit columns
PAST_GRACE = timedelta(minutes=1)  # a start "now" typed a minute ago is still now
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


class DateTimeLocal(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self):
        super().__init__(format="%Y-%m-%dT%H:%M")


def when_field(label: str, help_text: str = "") -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label, required=False, widget=DateTimeLocal(), input_formats=DATETIME_FORMATS, help_text=help_text
    )


def themed(form: forms.Form) -> None:
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
        themed(self)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tenant.timezone or "UTC")

    def full_clean(self):
        with timezone.override(self.zone):  # naive dates are the tenant's
            super().full_clean()

    def top_errors(self) -> list[str]:
        """The errors shown above the fields: the form's own and its hidden fields' (the token)."""
        return [*self.non_field_errors(), *(error for field in self.hidden_fields() for error in field.errors)]

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


class TenantPickForm(forms.Form):
    """A platform superuser sends as the tenant it picks first."""

    tenant = forms.ModelChoiceField(label=_("Tenant"), queryset=Tenant.objects.filter(is_active=True).order_by("name"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        themed(self)
