from django.core.management.base import BaseCommand, CommandError

from billing.management.commands._shared import account_for, account_lines, amount_option
from billing.models import AccountType
from billing.money import CREDITS
from billing.services import account_update
from softafrik.errors import DomainError


class Command(BaseCommand):
    help = (
        "Show a tenant's billing account, or change its type, unit, credit limit or low-balance threshold "
        "(each change an audit entry, via 'command'); prints the account afterwards. Amounts are in the "
        "account's unit (the new one with --unit), e.g. 1000 or 12.50."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="The tenant's name")
        parser.add_argument("--type", choices=AccountType.values)
        parser.add_argument(
            "--unit", help="credits, or an ISO 4217 code (XOF, EUR...); only while the account holds no amount"
        )
        parser.add_argument(
            "--credit-limit", metavar="AMOUNT|none", help="Postpaid: how far below zero; none: no limit"
        )
        parser.add_argument("--low-balance", metavar="AMOUNT", help="The low-balance alert threshold")
        parser.add_argument("--reason", default="", help="Why, for the audit trail")

    def handle(self, *args, tenant, unit, credit_limit, low_balance, reason, **options):
        account = account_for(tenant)
        changes = {}
        if options["type"] is not None:
            changes["type"] = options["type"]
        if unit is not None:
            unit = unit.strip()
            changes["unit"] = CREDITS if unit.lower() == CREDITS else unit.upper()
        in_unit = changes.get("unit", account.unit)
        if credit_limit is not None:
            none = credit_limit.strip().lower() == "none"
            changes["credit_limit"] = (
                None if none else amount_option(credit_limit, unit=in_unit, option="--credit-limit")
            )
        if low_balance is not None:
            changes["low_balance_threshold"] = amount_option(low_balance, unit=in_unit, option="--low-balance")
        if changes:
            try:
                account_update(account=account, reason=reason, via="command", **changes)
            except DomainError as exc:
                raise CommandError(exc.message) from exc
            account.refresh_from_db()  # with the low-balance flag the update may have set
        for line in account_lines(account):
            self.stdout.write(line)
