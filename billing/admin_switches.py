"""Account type switches in the admin: a tenant's staff asks (``switch_request``), platform
admins approve or refuse (``switch_decide``: an approval switches the type, audited)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from billing.admin_accounts import form_page, refusal_on
from billing.admin_ledger import ReadOnlyAdmin
from billing.models import AccountType, SwitchRequest, SwitchStatus
from billing.services import account_ensure, switch_decide, switch_request
from softafrik.errors import DomainError
from softafrik.tenant_admin import is_platform_admin, is_tenant_staff, user_tenant


class SwitchRequestForm(forms.Form):
    requested_type = forms.ChoiceField(choices=AccountType.choices, label="Switch to")
    reason = forms.CharField(max_length=300, required=False, widget=forms.Textarea(attrs={"rows": 3}))


@admin.register(SwitchRequest)
class SwitchRequestAdmin(ReadOnlyAdmin):
    """A tenant's staff asks (``switch_request``); platform admins approve or refuse
    (``switch_decide``: an approval switches the type, audited)."""

    list_display = (
        "created_at",
        "tenant",
        "current_type",
        "requested_type",
        "reason",
        "status",
        "requested_by",
        "decided_by",
        "decided_at",
    )
    list_filter = ("status", "requested_type")
    list_select_related = ("account__tenant", "requested_by", "decided_by")
    fields = list_display
    readonly_fields = fields
    actions = ("approve", "refuse")

    @admin.display(description=_("account type now"))
    def current_type(self, obj):
        return obj.account.type

    def has_add_permission(self, request):
        return is_tenant_staff(request) and not is_platform_admin(request)

    def has_decide_permission(self, request):
        return is_platform_admin(request)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        account = account_ensure(tenant_id=user_tenant(request).pk)
        other = AccountType.POSTPAID if account.type == AccountType.PREPAID else AccountType.PREPAID
        form = SwitchRequestForm(request.POST or None, initial={"requested_type": other})
        if request.method == "POST" and form.is_valid():
            try:
                switch_request(
                    account=account,
                    requested_type=form.cleaned_data["requested_type"],
                    reason=form.cleaned_data["reason"],
                    user=request.user,
                )
            except DomainError as exc:
                refusal_on(form, exc)
            else:
                messages.success(request, "Your request waits for a platform admin's decision.")
                return HttpResponseRedirect(reverse("admin:billing_switchrequest_changelist"))
        return form_page(
            self, request, title=f"Ask to switch from {account.type}", form=form, submit="Ask", account=account
        )

    def _decide(self, request, queryset, *, approve: bool) -> None:
        pending = list(queryset.filter(status=SwitchStatus.PENDING).select_related("account__tenant"))
        for switch in pending:
            switch_decide(request=switch, approve=approve, user=request.user)
        skipped = queryset.count() - len(pending)
        verb = "approved" if approve else "refused"
        messages.success(request, f"{len(pending)} request(s) {verb}.")
        if skipped:
            messages.warning(request, f"{skipped} already decided: left as they are.")

    @admin.action(description=_("Approve: switch the account's type"), permissions=("decide",))
    def approve(self, request, queryset):
        self._decide(request, queryset, approve=True)

    @admin.action(description=_("Refuse"), permissions=("decide",))
    def refuse(self, request, queryset):
        self._decide(request, queryset, approve=False)
