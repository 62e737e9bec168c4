from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.selectors import tenant_get_by_name
from devices.services import app_create
from softafrik.errors import DomainError


class Command(BaseCommand):
    help = "Create an app for a tenant and print its app code alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="Tenant name")
        parser.add_argument("--name", required=True, help="App name, the API's app_name")
        parser.add_argument("--fcm-service-account", type=Path, help="FCM service-account JSON file")
        parser.add_argument("--apns-key-file", type=Path, help="APNs token key (.p8)")
        parser.add_argument("--apns-key-id", default="")
        parser.add_argument("--apns-team-id", default="")
        parser.add_argument("--apns-topic", default="", help="Bundle id")
        parser.add_argument("--apns-sandbox", action="store_true")

    def handle(self, *args, **opts):
        tenant = tenant_get_by_name(name=opts["tenant"])
        if tenant is None:
            raise CommandError(f"No tenant named {opts['tenant']!r}.")
        try:
            app = app_create(
                tenant=tenant,
                name=opts["name"],
                fcm_service_account=_read(opts["fcm_service_account"]),
                apns_key=_read(opts["apns_key_file"]),
                apns_key_id=opts["apns_key_id"],
                apns_team_id=opts["apns_team_id"],
                apns_topic=opts["apns_topic"],
                apns_sandbox=opts["apns_sandbox"],
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"App {app.name} created for {tenant.name}. App code:")
        self.stdout.write(app.code)


def _read(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text()
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc}") from exc
