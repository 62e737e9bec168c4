"""Create (once) the demo tenant, its app, an admin login, and print a key and a curl line."""

import json
import os
import secrets

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Tenant, User
from accounts.services import api_key_create, tenant_create
from billing.money import amount_parse
from billing.services import account_ensure, account_topup, account_unit
from devices.models import App
from devices.services import app_create
from scenarios.models import Scenario
from scenarios.services import scenario_create
from sms.models import RouteKind, SenderName, SenderStatus, SmsRoute
from sms.services import sender_request

DEMO_TENANT = "Demo Fintech"
DEMO_APP = "MyFintechApp"
DEMO_SENDER = "SoftAfrik"


DEMO_CREDITS = "10000"


class Command(BaseCommand):
    help = "Create the demo tenant and app if missing, issue a fresh demo API key and print how to try it."

    def add_arguments(self, parser):
        parser.add_argument("--port", default=os.environ.get("PORT", "8000"))

    def handle(self, *args, port, **options):
        with transaction.atomic():
            tenant = Tenant.objects.filter(name=DEMO_TENANT).first()
            if tenant is None:
                tenant, issued = tenant_create(name=DEMO_TENANT, default_region="TG")
                app_create(tenant=tenant, name=DEMO_APP)
                sender_request(tenant=tenant, name=DEMO_SENDER, is_default=True)
                SenderName.objects.filter(tenant=tenant, name=DEMO_SENDER).update(status=SenderStatus.APPROVED)
                if not SmsRoute.objects.exists():  # SMS "sent" to the worker's log in development
                    SmsRoute.objects.create(
                        name="dev-log", kind=RouteKind.LOG, callback_token=secrets.token_urlsafe(24)
                    )
                # Enough to try every example many times: 10,000 credits (one SMS part is one).
                account_topup(
                    account=account_ensure(tenant_id=tenant.pk),
                    amount=amount_parse(DEMO_CREDITS, unit=account_unit(tenant_id=tenant.pk)),
                    note="make run: demo credit",
                    via="command",
                    reference="demo",
                )
                password = secrets.token_urlsafe(12)
                User.objects.create_user("demo", password=password, is_staff=True, tenant=tenant)
                self.stdout.write(
                    f"Admin login for the demo tenant: demo / {password}  (http://127.0.0.1:{port}/admin/)"
                )
            else:
                issued = api_key_create(tenant=tenant, name="make run")
            scenario = Scenario.objects.filter(tenant=tenant).order_by("pk").first() or scenario_create(
                tenant=tenant,
                name="Push, then SMS after 30 s",
                flow=[
                    {
                        "from": DEMO_SENDER,
                        "appCode": App.objects.get(tenant=tenant, name=DEMO_APP).code,
                        "timeout": 30,
                        "channel": "push",
                    },
                    {"from": DEMO_SENDER, "channel": "sms"},
                ],
            )
        base = f"http://127.0.0.1:{port}"
        key = issued.plaintext
        # The scenario's push step finds no device (the demo app has no FCM/APNs credentials):
        # the SMS goes at once, to the worker's log.
        omni_body = json.dumps(
            {
                "scenarioKey": scenario.key,
                "from": DEMO_SENDER,
                "pushContent": {"text": "Votre code: 1234"},
                "smsContent": {"text": "Votre code: 1234"},
                "destinations": [{"userId": "cust-42"}],
            }
        )
        self.stdout.write(
            "\nTry it:\n"
            f"  curl -s -X POST {base}/api/users/register -H 'X-API-KEY: {key}' "
            '-H \'Content-Type: application/json\' -d \'{"external_user_ref": "cust-42", "phone": "+22890123456", "meta": {"name": "Ama"}}\'\n'
            f"  curl -s -X POST {base}/api/V1/sms/unides -H 'X-API-KEY: {key}' "
            '-H \'Content-Type: application/json\' -d \'{"emetteur": "SoftAfrik", "destinataire": "+22890123456", "corps": "Bonjour"}\'\n'
            f"  curl -s -X POST {base}/omni/v1/messages -H 'Authorization: Bearer {key}' "
            f"-H 'Content-Type: application/json' -d '{omni_body}'\n"
            f"  curl -s {base}/api/account -H 'X-API-KEY: {key}'\n"
            f"  API docs: {base}/api/docs/\n"
            f"Demo API key (tenant {tenant.name}, app {DEMO_APP}):\n{key}"
        )
