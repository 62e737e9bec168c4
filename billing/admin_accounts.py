"""Accounts in the admin, and what the other billing admin modules share.

A tenant's staff sees its own account (read-only, live balances). Platform admins change
an account's type, credit limit and threshold (through ``account_update``, with a
reason), and top it up or adjust it (a form each). Every change goes through
``billing.services``, so every one is audited. The ledger and audit trail are in
``admin_ledger``, prices in ``admin_tariffs``, type-switch requests in ``admin_switches``.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextareaWidget, UnfoldAdminTextInputWidget

from billing import money
from billing.models import BillingAccount
from billing.selectors import topup_credited
from billing.services import account_adjust, account_ensure, account_topup, account_update
from softafrik.errors import DomainError
from softafrik.tenant_admin import TenantScopedAdmin, is_platform_admin, is_tenant_staff, user_tenant

FORM_TEMPLATE = "admin/billing/form.html"


def in_unit(minor: int | None, unit: str) -> str:
    """1234 in credits -> "12.34 credits"; None -> "none"."""
    return "none" if minor is None else f"{money.amount_str(minor, unit=unit)} {unit}"


def amount_parsed(text: str, *, unit: str, allow_negative: bool = False) -> int:
    """``text`` in minor units of ``unit``; a form error saying why not."""
    try:
        return money.amount_parse(text, unit=unit, allow_negative=allow_negative)
    except money.InvalidAmount as exc:
        raise forms.ValidationError(f"{exc}.") from exc


def themed(form: forms.Form) -> forms.Form:
    """The form with the admin theme's widgets (a plain form's inputs carry no style)."""
    for field in form.fields.values():
        if type(field.widget) is forms.TextInput:
            field.widget = UnfoldAdminTextInputWidget(attrs=field.widget.attrs)
        elif type(field.widget) is forms.Textarea:
            field.widget = UnfoldAdminTextareaWidget(attrs=field.widget.attrs)
        elif type(field.widget) is forms.Select:
            field.widget = UnfoldAdminSelectWidget(attrs=field.widget.attrs, choices=field.widget.choices)
    return form


def form_page(admin_obj, request, *, title: str, form, submit: str, account=None) -> TemplateResponse:
    context = {
        **admin_obj.admin_site.each_context(request),
        "title": title,
        "form": themed(form),
        "submit": submit,
        "account": account,
        "opts": admin_obj.model._meta,
    }
    return TemplateResponse(request, FORM_TEMPLATE, context)


def refusal_on(form, exc: DomainError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


# --- Accounts --------------------------------------------------------------------------


class AccountForm(forms.ModelForm):
    """Type, credit limit and threshold, the amounts in the account's unit; a reason for
    the audit trail whenever something changes."""

    credit_limit_amount = forms.CharField(
        required=False, label="Credit limit", help_text="Postpaid: how far below zero it may go; empty: no limit"
    )
    low_balance_amount = forms.CharField(label="Low-balance threshold")
    reason = forms.CharField(max_length=300, required=False, help_text="Why: kept in the audit trail")

    class Meta:
        model = BillingAccount
        fields = ("type",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        unit = self.instance.unit
        self.initial.setdefault("credit_limit_amount", money.amount_str(self.instance.credit_limit, unit=unit) or "")
        self.initial.setdefault("low_balance_amount", money.amount_str(self.instance.low_balance_threshold, unit=unit))
        for name in ("credit_limit_amount", "low_balance_amount"):
            self.fields[name].help_text += f" (in {unit})" if self.fields[name].help_text else f"In {unit}"

    def clean_credit_limit_amount(self):
        text = self.cleaned_data["credit_limit_amount"].strip()
        return amount_parsed(text, unit=self.instance.unit) if text else None

    def clean_low_balance_amount(self):
        return amount_parsed(self.cleaned_data["low_balance_amount"], unit=self.instance.unit)

    def clean(self):
        cleaned = super().clean()
        account = self.instance  # as stored: the form's values reach it after clean()
        wanted = (
            cleaned.get("type", account.type),
            cleaned.get("credit_limit_amount", account.credit_limit),
            cleaned.get("low_balance_amount", account.low_balance_threshold),
        )
        changes = wanted != (account.type, account.credit_limit, account.low_balance_threshold)
        if changes and not cleaned.get("reason", "").strip():
            self.add_error("reason", "Say why: every change to an account is audited.")
        return cleaned


@admin.register(BillingAccount)
class BillingAccountAdmin(TenantScopedAdmin):
    form = AccountForm
    tenant_read_only = True
    change_form_template = "admin/billing/billingaccount/change_form.html"
    list_display = (
        "tenant",
        "type",
        "unit",
        "balance_shown",
        "reserved_shown",
        "credit_limit_shown",
        "low_balance",
    )
    list_filter = ("type", "unit", "tenant")
    list_select_related = ("tenant",)
    search_fields = ("tenant__name",)
    actions = ("topup_one", "adjust_one")
    _shown = (
        "balance_shown",
        "reserved_shown",
        "spent_shown",
        "credit_limit_shown",
        "threshold_shown",
        "low_balance_alerted_at",
        "updated_at",
    )

    def get_fields(self, request, obj=None):
        if is_platform_admin(request):
            return ("tenant", "type", "unit", "credit_limit_amount", "low_balance_amount", "reason", *self._shown)
        return ("type", "unit", *self._shown)

    def get_readonly_fields(self, request, obj=None):
        if is_platform_admin(request):
            return ("tenant", "unit", *self._shown)
        return ("type", "unit", *self._shown)

    @admin.display(description=_("balance"), ordering="balance")
    def balance_shown(self, obj):
        return in_unit(obj.balance, obj.unit)

    @admin.display(description=_("reserved"), ordering="reserved")
    def reserved_shown(self, obj):
        return in_unit(obj.reserved, obj.unit)

    @admin.display(description=_("spent (lifetime)"))
    def spent_shown(self, obj):
        return in_unit(obj.spent, obj.unit)

    @admin.display(description=_("credit limit"), ordering="credit_limit")
    def credit_limit_shown(self, obj):
        return in_unit(obj.credit_limit, obj.unit)

    @admin.display(description=_("low-balance threshold"))
    def threshold_shown(self, obj):
        return in_unit(obj.low_balance_threshold, obj.unit)

    @admin.display(description=_("low balance"), boolean=True)
    def low_balance(self, obj):
        return obj.low_balance_alerted_at is not None

    def changelist_view(self, request, extra_context=None):
        tenant = user_tenant(request)
        if tenant is not None and is_tenant_staff(request):
            account_ensure(tenant_id=tenant.pk)  # a tenant's dashboard shows its account from day one
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {"money_tools": is_platform_admin(request), "switch_tool": self._may_request_switch(request)}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def save_model(self, request, obj, form, change):
        """Through ``account_update``: each changed field an audit entry (never a bare save)."""
        data = form.cleaned_data
        account_update(
            account=obj,
            reason=data["reason"],
            user=request.user,
            via="admin",
            type=data["type"],
            credit_limit=data["credit_limit_amount"],
            low_balance_threshold=data["low_balance_amount"],
        )

    def has_add_permission(self, request):
        return False  # every tenant's account is created on first need (account_ensure)

    def has_delete_permission(self, request, obj=None):
        return False  # its ledger must stay

    def has_money_permission(self, request):
        return is_platform_admin(request)

    @staticmethod
    def _may_request_switch(request) -> bool:
        return is_tenant_staff(request) and not is_platform_admin(request)

    # Top-ups and adjustments: a form each, platform admins only.

    def get_urls(self):
        own = [
            path(
                "<int:object_id>/topup/",
                self.admin_site.admin_view(self.topup_view),
                name="billing_billingaccount_topup",
            ),
            path(
                "<int:object_id>/adjust/",
                self.admin_site.admin_view(self.adjust_view),
                name="billing_billingaccount_adjust",
            ),
        ]
        return own + super().get_urls()

    def _account_for_money(self, request, object_id: int) -> BillingAccount:
        if not is_platform_admin(request):
            raise PermissionDenied
        account = self.get_queryset(request).filter(pk=object_id).first()
        if account is None:
            raise Http404
        return account

    def _done(self, request, account: BillingAccount, text: str):
        messages.success(request, f"{text} Balance: {in_unit(account.balance, account.unit)}.")
        return HttpResponseRedirect(reverse("admin:billing_billingaccount_change", args=[account.pk]))

    def topup_view(self, request, object_id: int):
        account = self._account_for_money(request, object_id)
        form = TopupForm(request.POST or None, unit=account.unit)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            if data["reference"] and topup_credited(account_id=account.pk, reference=data["reference"]):
                form.add_error("reference", "This reference was credited already.")
            else:
                try:
                    account = account_topup(
                        account=account,
                        amount=data["amount"],
                        note=data["note"],
                        user=request.user,
                        via="admin",
                        reference=data["reference"],
                    )
                except DomainError as exc:
                    refusal_on(form, exc)
                else:
                    return self._done(request, account, f"Credited {in_unit(data['amount'], account.unit)}.")
        return form_page(self, request, title=f"Top up {account}", form=form, submit="Top up", account=account)

    def adjust_view(self, request, object_id: int):
        account = self._account_for_money(request, object_id)
        form = AdjustForm(request.POST or None, unit=account.unit)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                account = account_adjust(
                    account=account, amount=data["amount"], note=data["note"], user=request.user, via="admin"
                )
            except DomainError as exc:
                refusal_on(form, exc)
            else:
                return self._done(request, account, f"Adjusted by {in_unit(data['amount'], account.unit)}.")
        return form_page(self, request, title=f"Adjust {account}", form=form, submit="Adjust", account=account)

    def _one_to(self, request, queryset, view_name: str):
        if queryset.count() != 1:
            messages.warning(request, "Select one account.")
            return None
        return HttpResponseRedirect(reverse(f"admin:{view_name}", args=[queryset.get().pk]))

    @admin.action(description=_("Top up the selected account"), permissions=("money",))
    def topup_one(self, request, queryset):
        return self._one_to(request, queryset, "billing_billingaccount_topup")

    @admin.action(description=_("Adjust the selected account"), permissions=("money",))
    def adjust_one(self, request, queryset):
        return self._one_to(request, queryset, "billing_billingaccount_adjust")


class MoneyForm(forms.Form):
    amount = forms.CharField(max_length=30)
    note = forms.CharField(max_length=300, required=False, help_text="Kept in the ledger and the audit trail")

    allow_negative = False

    def __init__(self, *args, unit: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.unit = unit
        self.fields["amount"].help_text = f"In {unit}" + (", either sign" if self.allow_negative else "")

    def clean_amount(self):
        return amount_parsed(self.cleaned_data["amount"], unit=self.unit, allow_negative=self.allow_negative)


class TopupForm(MoneyForm):
    reference = forms.CharField(
        max_length=100, required=False, help_text="A payment's id: the same reference is credited once"
    )


class AdjustForm(MoneyForm):
    allow_negative = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["note"].required = True
        self.fields["note"].help_text = "Why (required): kept in the ledger and the audit trail"
