import argparse

from django.core.management.base import BaseCommand, CommandError

from accounts.scopes import SCOPES
from accounts.selectors import tenant_get_by_name
from accounts.services import api_key_create
from softafrik.errors import DomainError


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _rate(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of requests (0: no limit)")
    return int(value)


class Command(BaseCommand):
    help = (
        "Issue an API key for a tenant and print it alone on the last line (shown once). "
        "Without --scopes the key has every right, without --networks it works from anywhere, "
        "without --rate-per-second/--rate-per-minute it has the platform's limits; e.g. a key an app "
        "ships in its binary: --name app-receipts --scopes deliveries:confirm."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="The tenant's name")
        parser.add_argument("--name", default="default", help="What the key is for, e.g. app-receipts")
        parser.add_argument(
            "--scopes",
            "--scope",
            action="append",
            default=[],
            dest="scopes",
            metavar="SCOPE[,SCOPE...]",
            help="Limit the key to these scopes (comma separated, or repeated). Known: "
            + "; ".join(f"{name}: {what}" for name, what in SCOPES.items()),
        )
        parser.add_argument(
            "--networks",
            action="append",
            default=[],
            metavar="CIDR[,CIDR...]",
            help="Accept calls only from these networks, IPv4 or IPv6 (e.g. 203.0.113.0/24,2001:db8::/32)",
        )
        parser.add_argument(
            "--rate-per-second", type=_rate, default=None, metavar="N", help="Requests a second (0: no limit)"
        )
        parser.add_argument(
            "--rate-per-minute", type=_rate, default=None, metavar="N", help="Requests a minute (0: no limit)"
        )

    def handle(self, *args, tenant, name, scopes, networks, rate_per_second, rate_per_minute, **options):
        found = tenant_get_by_name(name=tenant)
        if found is None:
            raise CommandError(f"No tenant named {tenant!r}.")
        try:
            issued = api_key_create(
                tenant=found,
                name=name,
                scopes=[scope for value in scopes for scope in _comma_list(value)],
                allowed_networks=[network for value in networks for network in _comma_list(value)],
                rate_per_second=rate_per_second,
                rate_per_minute=rate_per_minute,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        key = issued.api_key
        rights = ", ".join(key.scopes) or "every right"
        where = ", ".join(key.allowed_networks) or "anywhere"
        self.stdout.write(f"API key {key.name!r} for tenant {found.name} ({rights}; from {where}), shown once:")
        self.stdout.write(issued.plaintext)
