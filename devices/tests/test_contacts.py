"""End users' contact points (phone, email, username, lang) through /api/users/register,
the service and the selector the omni engine reads them with."""

import pytest

from accounts.models import User
from devices import services
from devices.models import EndUser
from devices.selectors import end_users_by_contact
from devices.services import end_user_register
from softafrik.errors import DomainError

pytestmark = pytest.mark.django_db

REGISTER = "/api/users/register"
PHONE = "+22890123456"  # a valid Togolese mobile number; the fixtures' default region is TG


def register(client, ref="cust-1", **fields):
    return client.post(REGISTER, {"external_user_ref": ref, **fields})


def contacts(end_user: EndUser) -> tuple[str, str, str, str]:
    return (end_user.phone, end_user.email, end_user.username, end_user.lang)


def test_register_with_contacts_stores_e164_phone_and_lower_case_email(owner):
    response = register(owner, phone="90 12 34 56", email="Ama@Example.COM", username="ama", lang="fr-TG")

    assert response.status_code == 201
    body = response.json()
    end_user = EndUser.objects.get()
    assert body == {
        "puid": end_user.puid,
        "external_user_ref": "cust-1",
        "meta": {},
        "phone": PHONE,
        "email": "ama@example.com",
        "username": "ama",
        "lang": "fr-TG",
        "created": True,
    }
    assert contacts(end_user) == (PHONE, "ama@example.com", "ama", "fr-TG")


def test_register_without_contacts_answers_them_empty(owner):
    body = register(owner).json()

    assert (body["phone"], body["email"], body["username"], body["lang"]) == ("", "", "", "")


def test_known_ref_updates_only_the_contacts_given(owner):
    register(owner, phone=PHONE, email="ama@example.com", username="ama", lang="fr", meta={"tier": "gold"})

    response = register(owner, email="ama.k@example.com", lang="ee")

    assert response.status_code == 200
    body = response.json()
    assert (body["phone"], body["email"], body["username"], body["lang"]) == (PHONE, "ama.k@example.com", "ama", "ee")
    assert body["meta"] == {"tier": "gold"}
    assert contacts(EndUser.objects.get()) == (PHONE, "ama.k@example.com", "ama", "ee")


def test_empty_string_clears_a_contact(owner):
    register(owner, phone=PHONE, email="ama@example.com", username="ama", lang="fr")

    response = register(owner, phone="", username="")

    assert response.status_code == 200
    assert contacts(EndUser.objects.get()) == ("", "ama@example.com", "", "fr")


def test_two_users_may_both_have_no_phone(owner):
    register(owner, "cust-1", phone="")
    assert register(owner, "cust-2", phone="").status_code == 201
    assert EndUser.objects.filter(phone="").count() == 2


def test_invalid_phone_is_400_naming_phone_and_creates_nothing(owner):
    response = register(owner, phone="12345")

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid",
        "message": "phone: not a valid number for region TG.",
        "field": "phone",
        "fields": {"phone": ["phone: not a valid number for region TG."]},
    }
    assert EndUser.objects.count() == 0


def test_phone_with_letters_is_400_and_leaves_the_known_user_as_is(owner):
    register(owner, phone=PHONE, email="ama@example.com")

    response = register(owner, phone="90-FLOWERS", email="new@example.com")

    assert response.status_code == 400
    assert response.json()["field"] == "phone"
    assert contacts(EndUser.objects.get()) == (PHONE, "ama@example.com", "", "")


def test_phone_null_is_400_naming_phone(owner):
    response = register(owner, phone=None)

    assert response.status_code == 400
    assert response.json()["field"] == "phone"
    assert EndUser.objects.count() == 0


def test_invalid_email_is_400_naming_email(owner):
    response = register(owner, email="not-an-email")

    assert response.status_code == 400
    body = response.json()
    assert (body["error"], body["field"], body["message"]) == (
        "invalid",
        "email",
        "email: Enter a valid email address.",
    )
    assert EndUser.objects.count() == 0


def test_invalid_lang_is_400_naming_lang(owner):
    for lang in ("français", "f", "fr-abcdefgh-abcdefgh"):  # the last: valid, but longer than 16
        response = register(owner, lang=lang)
        assert response.status_code == 400, lang
        assert response.json()["field"] == "lang"
    assert EndUser.objects.count() == 0


def test_too_long_username_is_400_naming_username(owner):
    response = register(owner, username="u" * 151)

    assert response.status_code == 400
    assert response.json()["field"] == "username"


def test_phone_of_another_user_of_the_tenant_is_400_naming_phone(owner):
    first = register(owner, "cust-1", phone=PHONE).json()

    response = register(owner, "cust-2", phone="0022890123456")

    assert response.status_code == 400
    assert response.json() == {
        "error": "rejected",
        "message": f"phone: {PHONE} is already another user's phone.",
        "field": "phone",
        "fields": {"phone": [f"phone: {PHONE} is already another user's phone."]},
    }
    assert list(EndUser.objects.values_list("puid", "phone")) == [(first["puid"], PHONE)]


def test_email_of_another_user_is_400_whatever_its_case(owner):
    register(owner, "cust-1", email="ama@example.com")

    response = register(owner, "cust-2", email="AMA@example.com")

    assert response.status_code == 400
    assert response.json()["field"] == "email"
    assert EndUser.objects.count() == 1


def test_username_of_another_user_is_400_naming_username(owner):
    register(owner, "cust-1", username="ama")
    register(owner, "cust-2")

    response = register(owner, "cust-2", username="ama", lang="fr")

    assert response.status_code == 400
    assert response.json()["field"] == "username"
    assert contacts(EndUser.objects.get(external_user_ref="cust-2")) == ("", "", "", "")


def test_a_user_may_register_its_own_phone_again(owner):
    register(owner, phone=PHONE, username="ama")

    response = register(owner, phone="90123456", username="ama")

    assert response.status_code == 200
    assert contacts(EndUser.objects.get()) == (PHONE, "", "ama", "")


def test_a_phone_freed_by_one_user_may_be_taken_by_another(owner):
    register(owner, "cust-1", phone=PHONE)
    register(owner, "cust-1", phone="")

    assert register(owner, "cust-2", phone=PHONE).status_code == 201
    assert EndUser.objects.get(phone=PHONE).external_user_ref == "cust-2"


def test_same_phone_email_and_username_in_another_tenant_are_fine(owner, outsider):
    mine = register(owner, phone=PHONE, email="ama@example.com", username="ama").json()

    response = register(outsider, phone=PHONE, email="ama@example.com", username="ama")

    assert response.status_code == 201
    theirs = response.json()
    assert theirs["puid"] != mine["puid"]
    assert (theirs["phone"], theirs["email"], theirs["username"]) == (PHONE, "ama@example.com", "ama")
    assert EndUser.objects.filter(phone=PHONE).count() == 2


def test_outsider_registering_the_owners_ref_changes_nothing_of_the_owners(owner, outsider):
    register(owner, phone=PHONE, email="ama@example.com", lang="fr")

    register(outsider, phone="", email="", lang="en")

    assert contacts(EndUser.objects.get(tenant=owner.tenant)) == (PHONE, "ama@example.com", "", "fr")
    assert contacts(EndUser.objects.get(tenant=outsider.tenant)) == ("", "", "", "en")


def test_concurrent_holder_committing_after_the_check_is_still_400_naming_the_field(owner, monkeypatch):
    """Another request takes the phone between this one's check and its write: the unique
    constraint refuses the write and the IntegrityError becomes a 400 naming phone."""
    register(owner, "cust-1", phone=PHONE)
    check = services._contact_conflict_raise
    calls = []

    def check_misses_once(**kwargs):
        calls.append(kwargs["external_user_ref"])
        if len(calls) > 1:
            check(**kwargs)

    monkeypatch.setattr(services, "_contact_conflict_raise", check_misses_once)

    response = register(owner, "cust-2", phone=PHONE, email="b@example.com")

    assert response.status_code == 400
    assert response.json()["field"] == "phone"
    assert calls == ["cust-2", "cust-2"]
    assert list(EndUser.objects.values_list("external_user_ref", "phone", "email")) == [("cust-1", PHONE, "")]


def test_service_validates_what_it_is_given(owner):
    with pytest.raises(DomainError) as bad_email:
        end_user_register(tenant=owner.tenant, external_user_ref="x", email="nope")
    with pytest.raises(DomainError) as bad_lang:
        end_user_register(tenant=owner.tenant, external_user_ref="x", lang="??")
    with pytest.raises(DomainError) as bad_phone:
        end_user_register(tenant=owner.tenant, external_user_ref="x", phone="+1")
    with pytest.raises(DomainError) as long_email:
        end_user_register(tenant=owner.tenant, external_user_ref="x", email="a" * 64 + "@" + "b" * 190 + ".com")
    with pytest.raises(DomainError) as long_username:
        end_user_register(tenant=owner.tenant, external_user_ref="x", username="u" * 151)

    fields = (bad_email, bad_lang, bad_phone, long_email, long_username)
    assert [refused.value.field for refused in fields] == ["email", "lang", "phone", "email", "username"]
    assert EndUser.objects.count() == 0


def test_service_keeps_meta_and_contacts_when_not_given(owner):
    end_user_register(tenant=owner.tenant, external_user_ref="x", meta={"a": 1}, phone=PHONE, lang="fr")

    end_user, created = end_user_register(tenant=owner.tenant, external_user_ref="x")

    assert created is False
    assert (end_user.meta, *contacts(end_user)) == ({"a": 1}, PHONE, "", "", "fr")


def test_national_phone_without_a_default_region_is_400(outsider):
    outsider.tenant.default_region = ""
    outsider.tenant.save()

    response = register(outsider, phone="90123456")

    assert response.status_code == 400
    assert response.json()["message"] == "phone: no country code and no default region."


def test_device_lang_longer_than_its_column_is_400_naming_lang(owner):
    from devices.services import app_create

    app_create(tenant=owner.tenant, name="MyFintechApp")
    puid = register(owner).json()["puid"]
    body = {"puid": puid, "app_name": "MyFintechApp", "platform": "android", "device_token": "t" * 40}

    response = owner.post("/api/devices/register", {**body, "lang": "fr-abcdefgh-abcdefgh"})

    assert response.status_code == 400
    assert response.json()["field"] == "lang"
    assert owner.post("/api/devices/register", {**body, "lang": "fr-TG"}).status_code == 201


# --- The selector the omni engine uses ---------------------------------------------------


@pytest.fixture
def people(owner, outsider):
    ama = end_user_register(
        tenant=owner.tenant, external_user_ref="cust-1", phone=PHONE, email="ama@example.com", username="ama"
    )[0]
    kofi = end_user_register(tenant=owner.tenant, external_user_ref="cust-2", phone="+22891234567", username="kofi")[0]
    # The outsider's user has the same contact points as Ama: never found for the owner.
    end_user_register(
        tenant=outsider.tenant, external_user_ref="cust-1", phone=PHONE, email="ama@example.com", username="ama"
    )
    return ama, kofi


@pytest.mark.parametrize(
    ("field", "values", "expected"),
    [
        ("external_user_ref", ["cust-1", "cust-2", "cust-9"], {"cust-1": "ama", "cust-2": "kofi"}),
        ("username", ["kofi", "nobody"], {"kofi": "kofi"}),
        ("phone", [PHONE, "+22891234567", "+22899999999"], {PHONE: "ama", "+22891234567": "kofi"}),
        ("email", ["Ama@Example.com", "kofi@example.com"], {"Ama@Example.com": "ama"}),
    ],
)
def test_end_users_by_contact_finds_the_tenants_users_in_one_query(
    owner, people, django_assert_num_queries, field, values, expected
):
    ama, kofi = people
    by_name = {"ama": ama, "kofi": kofi}

    with django_assert_num_queries(1):
        found = end_users_by_contact(tenant=owner.tenant, field=field, values=values)

    assert {value: end_user.pk for value, end_user in found.items()} == {
        value: by_name[name].pk for value, name in expected.items()
    }


def test_end_users_by_contact_never_finds_another_tenants_users(outsider, people):
    found = end_users_by_contact(tenant=outsider.tenant, field="phone", values=[PHONE, "+22891234567"])

    assert list(found) == [PHONE]
    assert found[PHONE].tenant_id == outsider.tenant.pk


def test_end_users_by_contact_with_no_values_or_only_empty_ones_asks_nothing(owner, people, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert end_users_by_contact(tenant=owner.tenant, field="phone", values=[]) == {}
        assert end_users_by_contact(tenant=owner.tenant, field="email", values=[""]) == {}


def test_end_users_by_contact_refuses_another_field(owner):
    with pytest.raises(ValueError, match="'puid'"):
        end_users_by_contact(tenant=owner.tenant, field="puid", values=["x"])


# --- Admin --------------------------------------------------------------------------------


def test_admin_lists_and_searches_contacts_of_the_own_tenant_only(client, owner, people, outsider):
    staff = User.objects.create_user("ops", password="pw-12345-long", is_staff=True, tenant=owner.tenant)
    client.force_login(staff)
    ama, kofi = people
    outsiders = EndUser.objects.get(tenant=outsider.tenant)

    page = client.get("/admin/devices/enduser/", {"q": "90123456"}).content.decode()

    assert ama.puid in page and "ama@example.com" in page
    assert kofi.puid not in page and outsiders.puid not in page


def test_admin_shows_contacts_without_letting_them_be_edited(client, owner, people):
    staff = User.objects.create_user("ops", password="pw-12345-long", is_staff=True, tenant=owner.tenant)
    client.force_login(staff)
    ama = people[0]

    page = client.get(f"/admin/devices/enduser/{ama.pk}/change/").content.decode()
    client.post(
        f"/admin/devices/enduser/{ama.pk}/change/",
        {"external_user_ref": "cust-1", "meta": "{}", "phone": "+22899999999"},
    )

    assert PHONE in page and 'name="phone"' not in page
    assert EndUser.objects.get(pk=ama.pk).phone == PHONE
