"""The admin's billing banner: a tenant's staff sees its balance, and a warning while the
account is below its low-balance threshold (``low_balance_alerted_at`` set).

Read lazily: only a page whose template asks (templates/admin/base.html, index.html)
costs the one query, and API requests (no session, no ``request.user``) never do.
"""

from __future__ import annotations

from functools import cached_property

from billing import money
from billing.models import BillingAccount


class AccountSummary:
    def __init__(self, tenant_id: int):
        self.tenant_id = tenant_id

    @cached_property
    def account(self) -> BillingAccount | None:
        return BillingAccount.objects.filter(tenant_id=self.tenant_id).first()

    @property
    def low(self) -> bool:
        return self.account is not None and self.account.low_balance_alerted_at is not None

    def _shown(self, minor: int) -> str:
        return f"{money.amount_str(minor, unit=self.account.unit)} {self.account.unit}"

    @property
    def balance(self) -> str:
        return self._shown(self.account.balance) if self.account else ""

    @property
    def reserved(self) -> str:
        return self._shown(self.account.reserved) if self.account else ""

    @property
    def threshold(self) -> str:
        return self._shown(self.account.low_balance_threshold) if self.account else ""


def billing_account(request) -> dict:
    user = getattr(request, "user", None)
    tenant_id = getattr(user, "tenant_id", None)
    if tenant_id is None or not (user.is_active and user.is_staff):
        return {}
    return {"billing_account": AccountSummary(tenant_id)}
