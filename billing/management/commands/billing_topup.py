from django.core.management.base import BaseCommand, CommandError

from billing.management.commands._shared import account_for, account_lines, amount_option
from billing.money import amount_str
from billing.selectors import topup_credited
from billing.services import account_topup
from softafrik.errors import DomainError


class Command(BaseCommand):
    help = (
        "Credit a tenant's billing account with AMOUNT in its unit (audited, via 'command'). With --reference "
        "(a payment's id) the same reference is credited once, however often the command runs."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="The tenant's name")
        parser.add_argument("--amount", required=True, help="In the account's unit, e.g. 1000 or 12.50")
        parser.add_argument("--note", default="", help="What it is, for the ledger and the audit trail")
        parser.add_argument("--reference", default="", help="A payment's id: credited once")

    def handle(self, *args, tenant, amount: str, note, reference, **options):
        account = account_for(tenant)
        minor = amount_option(amount, unit=account.unit, option="--amount")
        reference = reference.strip()
        if reference and topup_credited(account_id=account.pk, reference=reference):
            self.stdout.write(f"Reference {reference!r} was credited already: nothing done.")
        else:
            try:
                account = account_topup(account=account, amount=minor, note=note, via="command", reference=reference)
            except DomainError as exc:
                raise CommandError(exc.message) from exc
            self.stdout.write(f"Credited {amount_str(minor, unit=account.unit)} {account.unit}.")
        for line in account_lines(account):
            self.stdout.write(line)
