from django.core.management.base import BaseCommand, CommandError

from accounts.scopes import SCOPES
from accounts.selectors import tenant_get_by_name
from accounts.services import api_key_create
from softafrik.errors import DomainError


class Command(BaseCommand):
    help = (
        "Issue an API key for a tenant and print it alone on the last line (shown once). "
        "Without --scope the key has every right; e.g. a key an app ships in its binary: "
        "--name app-receipts --scope deliveries:confirm."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="The tenant's name")
        parser.add_argument("--name", default="default", help="What the key is for, e.g. app-receipts")
        parser.add_argument(
            "--scope",
            action="append",
            default=[],
            dest="scopes",
            metavar="SCOPE",
            help="Limit the key to this scope (repeatable). Known: "
            + "; ".join(f"{name}: {what}" for name, what in SCOPES.items()),
        )

    def handle(self, *args, tenant, name, scopes, **options):
        found = tenant_get_by_name(name=tenant)
        if found is None:
            raise CommandError(f"No tenant named {tenant!r}.")
        try:
            issued = api_key_create(tenant=found, name=name, scopes=scopes)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        rights = ", ".join(issued.api_key.scopes) or "every right"
        self.stdout.write(f"API key {issued.api_key.name!r} for tenant {found.name} ({rights}), shown once:")
        self.stdout.write(issued.plaintext)
