import pytest
from django.core.management import call_command

from accounts.models import User
from sms.models import RouteKind, SenderName, SenderStatus, SmsRoute

pytestmark = pytest.mark.django_db


def test_create_sms_route_from_smpp_url_stores_the_password_encrypted(capsys):
    call_command(
        "create_sms_route",
        "--name",
        "orange-tg",
        "--smpp-url",
        "smpp://soft:p%40ss@10.1.2.3:2776",
        "--countries",
        "tg, ci",
        "--tps",
        "50",
    )
    route_id = int(capsys.readouterr().out.strip().splitlines()[-1])
    route = SmsRoute.objects.get(pk=route_id)
    assert (route.kind, route.host, route.port, route.system_id, route.secret) == (
        RouteKind.SMPP,
        "10.1.2.3",
        2776,
        "soft",
        "p@ss",
    )
    assert (route.countries, route.tps) == ("TG,CI", 50.0)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM sms_smsroute WHERE id = %s", [route_id])
        assert cursor.fetchone()[0].startswith("gAAAA")


def test_create_sms_route_for_http_providers(capsys):
    call_command("create_sms_route", "--name", "at", "--africastalking", "sandbox:atsk_1")
    call_command("create_sms_route", "--name", "tw", "--twilio", "AC1:tok", "--priority", "900")
    at, tw = SmsRoute.objects.get(name="at"), SmsRoute.objects.get(name="tw")
    assert (at.kind, at.username, at.secret) == (RouteKind.AFRICASTALKING, "sandbox", "atsk_1")
    assert (tw.kind, tw.username, tw.secret, tw.priority) == (RouteKind.TWILIO, "AC1", "tok", 900)


def test_tenant_staff_cannot_approve_its_own_sender(client, owner):
    staff = User.objects.create_user("ops", password="pw-12345-long", is_staff=True, tenant=owner.tenant)
    client.force_login(staff)
    client.post("/admin/sms/sendername/add/", {"name": "MyBank", "status": "approved"})
    sender = SenderName.objects.get(tenant=owner.tenant, name="MyBank")
    assert sender.status == SenderStatus.PENDING
    client.post("/admin/sms/sendername/", {"action": "approve", "_selected_action": [sender.pk]})
    sender.refresh_from_db()
    assert sender.status == SenderStatus.PENDING


def test_platform_admin_approves_a_sender(client, owner):
    admin_user = User.objects.create_superuser("root", password="pw-12345-long")
    client.force_login(admin_user)
    sender = SenderName.objects.create(tenant=owner.tenant, name="MyBank")
    client.post("/admin/sms/sendername/", {"action": "approve", "_selected_action": [sender.pk]})
    sender.refresh_from_db()
    assert sender.status == SenderStatus.APPROVED


def test_tenant_staff_cannot_see_routes(client, owner):
    SmsRoute.objects.create(name="r", kind=RouteKind.LOG, callback_token="t")
    staff = User.objects.create_user("ops", password="pw-12345-long", is_staff=True, tenant=owner.tenant)
    client.force_login(staff)
    assert client.get("/admin/sms/smsroute/").status_code == 403
