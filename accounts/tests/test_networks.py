"""API keys limited to networks: a call from elsewhere is a 403 naming the client address
in the dialect's body, and does nothing; X-Forwarded-For counts only from a trusted proxy."""

import itertools

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.networks import client_address, networks_clean, validate_networks
from accounts.services import api_key_create, api_key_regenerate
from devices.models import EndUser
from sms.models import SmsMessage
from softafrik.errors import DomainError

pytestmark = pytest.mark.django_db

TG = "+22890123456"
OFFICE = ["203.0.113.0/24", "2001:db8::/32"]
REFS = itertools.count()


def refusal(client_ip: str) -> str:
    return f"This API key is limited to the networks 203.0.113.0/24, 2001:db8::/32; this call comes from {client_ip}."


@pytest.fixture
def office_key(owner) -> str:
    return api_key_create(tenant=owner.tenant, name="office", allowed_networks=OFFICE).plaintext


def register(key: str, *, ip: str, forwarded: str | None = None):
    headers = {"X-API-KEY": key} if forwarded is None else {"X-API-KEY": key, "X-Forwarded-For": forwarded}
    body = {"external_user_ref": f"cust-{next(REFS)}"}  # a new user each time: 201
    return APIClient().post("/api/users/register", body, format="json", headers=headers, REMOTE_ADDR=ip)


# --- Cleaning and validating ----------------------------------------------------------------


def test_networks_are_normalized_ipv4_and_ipv6_without_duplicates():
    assert networks_clean([" 10.1.2.3/8", "2001:DB8::1", "10.0.0.0/8", "192.0.2.7"]) == [
        "10.0.0.0/8",
        "2001:db8::1/128",
        "192.0.2.7/32",
    ]
    assert networks_clean([]) == []


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "example.com", "2001:db8::/129", ""])
def test_an_invalid_network_is_refused_naming_it(bad):
    with pytest.raises(ValueError, match=f"^{bad!r} is not an IP network in CIDR notation"):
        networks_clean(["10.0.0.0/8", bad])


def test_a_string_instead_of_a_list_is_refused():
    with pytest.raises(ValidationError, match="Expected a list of networks"):
        validate_networks("10.0.0.0/8")


def test_api_key_create_refuses_an_invalid_network_and_creates_nothing(owner):
    with pytest.raises(DomainError) as refused:
        api_key_create(tenant=owner.tenant, name="x", allowed_networks=["10.0.0.0/8", "300.1.1.1"])

    assert refused.value.field == "allowed_networks"
    assert refused.value.message.startswith("'300.1.1.1' is not an IP network in CIDR notation")
    assert owner.tenant.api_keys.count() == 1


def test_the_model_validates_networks_on_full_clean(owner):
    row = ApiKey.objects.get(tenant=owner.tenant)
    row.allowed_networks = ["nonsense"]

    with pytest.raises(ValidationError) as refused:
        row.full_clean()

    assert list(refused.value.message_dict) == ["allowed_networks"]


# --- The refusal, in each dialect -----------------------------------------------------------


def test_a_call_from_inside_the_networks_works(owner, office_key):
    assert register(office_key, ip="203.0.113.9").status_code == 201
    assert register(office_key, ip="2001:db8:42::1").status_code == 201


def test_a_call_from_outside_is_403_naming_the_address_and_does_nothing(owner, office_key):
    response = register(office_key, ip="198.51.100.4")

    assert (response.status_code, response.json()) == (403, {"error": "forbidden", "message": refusal("198.51.100.4")})
    assert EndUser.objects.count() == 0


def test_an_ipv6_call_from_outside_is_403(owner, office_key):
    response = register(office_key, ip="2001:db9::1")

    assert (response.status_code, response.json()["message"]) == (403, refusal("2001:db9::1"))


def test_an_ipv4_mapped_ipv6_peer_is_read_as_its_ipv4_address(owner, office_key):
    assert register(office_key, ip="::ffff:203.0.113.9").status_code == 201
    assert register(office_key, ip="::ffff:198.51.100.4").json()["message"] == refusal("198.51.100.4")


def test_the_refusal_is_in_ions_primotextos_and_deleveras_bodies(owner, office_key):
    client = APIClient()
    outside = {"REMOTE_ADDR": "198.51.100.4"}
    message = refusal("198.51.100.4")

    ion = client.post(
        "/api/V1/sms/unides",
        {"emetteur": "SoftAfrik", "destinataire": TG, "corps": "x"},
        format="json",
        headers={"X-API-KEY": office_key},
        **outside,
    )
    primotexto = client.post(
        "/v2/notification/messages/send",
        {"number": TG, "message": "x"},
        format="json",
        headers={"X-Primotexto-ApiKey": office_key},
        **outside,
    )
    primotexto_get = client.get(
        "/v2/notification/messages/send", {"identifier": TG, "message": "x", "apiKey": office_key}, **outside
    )
    delevera = [
        client.post(path, body, format="json", headers={"Authorization": f"Bearer {office_key}"}, **outside)
        for path, body in (
            ("/SMS/v1/messages", {"text": "x", "destinations": ["22890123456"]}),
            ("/push/v1/messages", {"appCode": "X", "pushContent": {"text": "x"}}),
            ("/omni/v1/messages", {"channel": "sms", "destinations": [{"phone": TG}]}),
        )
    ]

    assert (ion.status_code, ion.json()) == (403, {"error": "forbidden", "message": message})
    assert (primotexto.status_code, primotexto.json()) == (403, {"error": "forbidden", "message": message})
    assert (primotexto_get.status_code, primotexto_get.json()) == (403, {"error": "forbidden", "message": message})
    assert [(r.status_code, r.json()) for r in delevera] == [(403, {"code": 403, "message": message})] * 3
    assert SmsMessage.objects.count() == 0


def test_a_key_without_networks_works_from_anywhere(owner):
    assert register(owner.key, ip="198.51.100.4").status_code == 201


def test_a_bad_key_is_still_401_whatever_the_address(owner, office_key):
    assert register(office_key[:-3] + "xyz", ip="198.51.100.4").status_code == 401


def test_a_regenerated_key_keeps_its_networks(owner, office_key):
    issued = api_key_regenerate(api_key=ApiKey.objects.get(name="office"))

    assert issued.api_key.allowed_networks == OFFICE
    assert register(issued.plaintext, ip="198.51.100.4").status_code == 403


# --- The client address behind a proxy ------------------------------------------------------


def request(remote: str, forwarded: str | None = None):
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/api/account", **meta)


def test_without_trusted_proxies_x_forwarded_for_is_ignored(settings):
    settings.API_TRUSTED_PROXIES = []

    assert client_address(request("198.51.100.4", "203.0.113.9")) == "198.51.100.4"


def test_behind_a_trusted_proxy_the_client_is_the_rightmost_untrusted_hop(settings):
    settings.API_TRUSTED_PROXIES = ["10.0.0.0/8", "fd00::/8"]

    # The client wrote "203.0.113.9" itself; the proxies saw 198.51.100.4 connect.
    assert client_address(request("10.0.0.2", "203.0.113.9, 198.51.100.4, 10.0.0.1")) == "198.51.100.4"
    assert client_address(request("fd00::2", "2001:db8::5")) == "2001:db8::5"
    assert client_address(request("10.0.0.2")) == "10.0.0.2"  # no header: the proxy itself
    assert client_address(request("10.0.0.2", "garbage, 198.51.100.4")) == "198.51.100.4"
    assert client_address(request("10.0.0.2", "198.51.100.4, garbage")) == "10.0.0.2"


def test_a_forwarded_for_header_from_an_untrusted_peer_is_ignored(settings):
    settings.API_TRUSTED_PROXIES = ["10.0.0.0/8"]

    assert client_address(request("198.51.100.4", "203.0.113.9")) == "198.51.100.4"


def test_a_key_limited_to_networks_behind_a_trusted_proxy(settings, owner, office_key):
    settings.API_TRUSTED_PROXIES = ["10.0.0.0/8"]

    inside = register(office_key, ip="10.0.0.2", forwarded="203.0.113.9")
    outside = register(office_key, ip="10.0.0.2", forwarded="198.51.100.4")
    spoofed = register(office_key, ip="10.0.0.2", forwarded="203.0.113.9, 198.51.100.4")

    assert inside.status_code == 201
    assert (outside.status_code, outside.json()["message"]) == (403, refusal("198.51.100.4"))
    assert spoofed.status_code == 403


# --- The command line and the admin ---------------------------------------------------------


def test_create_api_key_command_takes_networks(owner, capsys):
    call_command(
        "create_api_key", "--tenant", "Owner Bank", "--name", "office", "--networks", "203.0.113.0/24,2001:db8::/32"
    )

    lines = capsys.readouterr().out.strip().splitlines()
    assert (
        lines[0]
        == "API key 'office' for tenant Owner Bank (every right; from 203.0.113.0/24, 2001:db8::/32), shown once:"
    )
    assert register(lines[-1], ip="198.51.100.4").json()["message"] == refusal("198.51.100.4")


def test_create_api_key_command_refuses_an_invalid_network(owner):
    with pytest.raises(CommandError, match=r"'10\.0\.0\.0/99' is not an IP network"):
        call_command("create_api_key", "--tenant", "Owner Bank", "--networks", "10.0.0.0/99")
    assert owner.tenant.api_keys.count() == 1


def key_form(**fields) -> dict:
    return {
        "name": "office",
        "expires_at_0": "",
        "expires_at_1": "",
        "allowed_networks": "",
        "rate_per_second": "",
        "rate_per_minute": "",
        **fields,
    }


def test_admin_issues_a_key_limited_to_networks(staff_client, owner):
    staff_client.post("/admin/accounts/apikey/add/", key_form(allowed_networks="203.0.113.0/24\n2001:DB8::/32"))

    assert ApiKey.objects.get(tenant=owner.tenant, name="office").allowed_networks == OFFICE


def test_admin_changes_a_keys_networks_and_it_takes_effect_at_once(staff_client, owner):
    row = ApiKey.objects.get(tenant=owner.tenant)
    assert register(owner.key, ip="198.51.100.4").status_code == 201

    staff_client.post(
        f"/admin/accounts/apikey/{row.pk}/change/", key_form(name="default", allowed_networks="203.0.113.0/24")
    )

    row.refresh_from_db()
    assert row.allowed_networks == ["203.0.113.0/24"]
    assert register(owner.key, ip="198.51.100.4").status_code == 403


def test_admin_refuses_an_invalid_network_naming_it(staff_client, owner):
    response = staff_client.post(
        "/admin/accounts/apikey/add/", key_form(allowed_networks="203.0.113.0/24\n10.0.0.0/40")
    )

    assert response.status_code == 200  # the form again, with its error
    assert "&#x27;10.0.0.0/40&#x27; is not an IP network in CIDR notation" in response.content.decode()
    assert not ApiKey.objects.filter(name="office").exists()
