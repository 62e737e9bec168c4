import secrets
from urllib.parse import unquote, urlsplit

from django.core.management.base import BaseCommand, CommandError

from sms.models import RouteKind, SmsRoute


class Command(BaseCommand):
    help = (
        "Create an SMS route: --smpp-url smpp://SYSTEM_ID:PASSWORD@HOST:PORT, "
        "--africastalking USERNAME:API_KEY, --twilio ACCOUNT_SID:AUTH_TOKEN or --log."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        kind = parser.add_mutually_exclusive_group(required=True)
        kind.add_argument("--smpp-url")
        kind.add_argument("--africastalking", metavar="USERNAME:API_KEY")
        kind.add_argument("--twilio", metavar="ACCOUNT_SID:AUTH_TOKEN")
        kind.add_argument("--log", action="store_true", help="Development route: logs instead of sending")
        parser.add_argument("--base-url", default="", help="HTTP provider endpoint override")
        parser.add_argument("--countries", default="", help="ISO codes, e.g. TG,CI (default: all)")
        parser.add_argument("--priority", type=int, default=100)
        parser.add_argument("--tps", type=float, default=None, help="Parts per second")
        parser.add_argument("--window", type=int, default=10, help="SMPP outstanding submits")

    def handle(self, *args, **opts):
        if SmsRoute.objects.filter(name=opts["name"]).exists():
            raise CommandError(f"A route named {opts['name']!r} exists.")
        route = SmsRoute(
            name=opts["name"],
            countries=",".join(c.strip().upper() for c in opts["countries"].split(",") if c.strip()),
            priority=opts["priority"],
            tps=opts["tps"],
            window=opts["window"],
            base_url=opts["base_url"],
            callback_token=secrets.token_urlsafe(24),
        )
        if opts["smpp_url"]:
            url = urlsplit(opts["smpp_url"])
            if url.scheme != "smpp" or not url.hostname or not url.username:
                raise CommandError("--smpp-url must look like smpp://SYSTEM_ID:PASSWORD@HOST:PORT")
            route.kind = RouteKind.SMPP
            route.host, route.port = url.hostname, url.port or 2775
            route.system_id, route.secret = unquote(url.username), unquote(url.password or "")
        elif opts["log"]:
            route.kind = RouteKind.LOG
        else:
            value = opts["africastalking"] or opts["twilio"]
            user, sep, secret = value.partition(":")
            if not sep or not user or not secret:
                raise CommandError("Give the credentials as USER:SECRET")
            route.kind = RouteKind.AFRICASTALKING if opts["africastalking"] else RouteKind.TWILIO
            route.username, route.secret = user, secret
        route.save()
        self.stdout.write(
            f"Route {route.name} ({route.kind}) created; delivery callbacks: /sms/callbacks/{route.callback_token}/"
        )
        self.stdout.write(str(route.pk))
