"""Tenants that existed before billing keep sending as they did: each gets a postpaid
account in credits without a credit limit (nothing is refused; what they send is recorded
and invoiced), and no trial credit. Tenants created afterwards get BILLING_DEFAULT_TYPE
and the trial credit (billing.services.account_ensure)."""

from django.db import migrations


def accounts_create(apps, schema_editor):
    Tenant = apps.get_model("accounts", "Tenant")
    BillingAccount = apps.get_model("billing", "BillingAccount")
    AccountChange = apps.get_model("billing", "AccountChange")
    have = set(BillingAccount.objects.values_list("tenant_id", flat=True))
    missing = [pk for pk in Tenant.objects.values_list("pk", flat=True) if pk not in have]
    BillingAccount.objects.bulk_create(
        [BillingAccount(tenant_id=pk, type="postpaid", unit="credits") for pk in missing]
    )
    AccountChange.objects.bulk_create(
        [
            AccountChange(
                account_id=account.pk,
                field="type",
                new_value="postpaid",
                reason="the tenant existed before billing: postpaid, no limit",
                via="system",
            )
            for account in BillingAccount.objects.filter(tenant_id__in=missing)
        ]
    )


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(accounts_create, migrations.RunPython.noop)]
