from django.core.management.base import BaseCommand, CommandError

from accounts.services import tenant_create
from softafrik.errors import DomainError


class Command(BaseCommand):
    help = "Create a tenant and print its new API key alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--region", default="", help="Default region for national numbers, e.g. TG")
        parser.add_argument("--timezone", default="UTC", help="IANA time zone of the tenant's days, e.g. Africa/Lome")

    def handle(self, *args, name, region, timezone, **options):
        try:
            tenant, issued = tenant_create(name=name, default_region=region, time_zone=timezone)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Tenant {tenant.name} created (number {tenant.pk}). API key, shown once:")
        self.stdout.write(issued.plaintext)
