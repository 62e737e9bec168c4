"""The public site through Django's test client: its pages in both languages, the default
and the remembered choice, the brand from settings, the admin's "View site", the prices
from the database."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import resolve, reverse

from billing.models import Tariff
from softafrik.middleware import is_api_path

pytestmark = pytest.mark.django_db

# Each page and its title (h1) in French and in English.
PAGES = [
    ("/", "SoftAfrik", "SoftAfrik"),
    ("/docs/", "Documentation API", "API documentation"),
    ("/docs/softafrik/", "SoftAfrik", "SoftAfrik"),
    ("/docs/ion/", "ION SMS Gateway", "ION SMS Gateway"),
    ("/docs/primotexto/", "Primotexto", "Primotexto"),
    ("/docs/delevera/", "Delevera", "Delevera"),
    ("/tarifs/", "Tarifs", "Pricing"),
    ("/a-propos/", "À propos de SoftAfrik", "About SoftAfrik"),
]
NAV_FR = ["Accueil", "Docs", "Tarifs", "À propos", "Admin"]
NAV_EN = ["Home", "Docs", "Pricing", "About", "Admin"]


def h1(response) -> str:
    return re.search(r"<h1>(.*?)</h1>", response.content.decode()).group(1)


def nav(response) -> list[str]:
    block = re.search(r'<nav class="nav".*?</nav>', response.content.decode(), re.S).group(0)
    return re.findall(r"<a [^>]*>([^<]+)</a>", block)


@pytest.mark.parametrize(("path", "french", "english"), PAGES)
def test_each_page_is_in_french_until_the_visitor_chooses(path, french, english):
    response = Client().get(path, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")  # a browser's wish is no choice

    assert response.status_code == 200
    assert response["Content-Language"] == "fr"
    assert '<html lang="fr">' in response.content.decode()
    assert (h1(response), nav(response)) == (french, NAV_FR)


@pytest.mark.parametrize(("path", "french", "english"), PAGES)
def test_each_page_is_in_english_once_chosen(path, french, english):
    client = Client()
    client.cookies["django_language"] = "en"

    response = client.get(path)

    assert response.status_code == 200
    assert response["Content-Language"] == "en"
    assert (h1(response), nav(response)) == (english, NAV_EN)


def test_the_language_switch_remembers_the_choice_in_the_language_cookie():
    client = Client()
    client.get("/tarifs/")

    switched = client.post("/i18n/setlang/", {"language": "en", "next": "/tarifs/"})

    assert (switched.status_code, switched["Location"]) == (302, "/tarifs/")
    assert switched.cookies["django_language"].value == "en"
    assert h1(client.get("/tarifs/")) == "Pricing"
    assert h1(client.get("/a-propos/")) == "About SoftAfrik"
    client.post("/i18n/setlang/", {"language": "fr", "next": "/"})
    assert h1(client.get("/tarifs/")) == "Tarifs"


def test_an_unknown_language_cookie_falls_back_to_french():
    client = Client()
    client.cookies["django_language"] = "xx"

    assert client.get("/tarifs/")["Content-Language"] == "fr"


def test_an_api_answer_after_a_french_page_on_the_same_thread_stays_in_english(owner):
    client = Client()
    client.cookies["django_language"] = "fr"
    assert client.get("/")["Content-Language"] == "fr"

    response = client.post("/api/push/to-user", {}, content_type="application/json", HTTP_X_API_KEY=owner.key)

    assert response.status_code == 400
    assert response.json()["message"].endswith("This field is required.")


def test_the_brand_comes_from_settings(settings):
    settings.SITE_NAME = "Acme Notify"
    settings.SITE_TAGLINE = "Vos alertes, partout."
    settings.SITE_CONTACT_EMAIL = "hello@acme.example"

    home = Client().get("/").content.decode()
    about = Client().get("/a-propos/").content.decode()

    assert "<title>Acme Notify · " in home
    assert '<p class="lead">Vos alertes, partout.</p>' in home
    assert "<h1>À propos de Acme Notify</h1>" in about
    assert 'href="mailto:hello@acme.example"' in about
    assert "SoftAfrik" not in home + about


def test_an_operator_overrides_a_page_with_a_template_of_the_same_name(settings, tmp_path):
    (tmp_path / "website").mkdir()
    (tmp_path / "website" / "about.html").write_text(
        '{% extends "website/base.html" %}{% block content %}<h1>Notre maison</h1>{% endblock %}'
    )
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}]

    response = Client().get("/a-propos/")

    assert h1(response) == "Notre maison"
    assert nav(response) == NAV_FR  # the rest of the site's frame is kept


def test_the_admins_view_site_link_leads_to_the_home_page():
    assert resolve(admin.site.site_url).func.__name__ == "home"
    assert Client().get(admin.site.site_url).status_code == 200


def test_no_site_page_is_under_an_api_prefix():
    paths = [reverse(name) for name in ("website:home", "website:docs", "website:pricing", "website:about")]
    paths += [reverse("website:docs-dialect", args=[slug]) for slug in ("softafrik", "ion", "primotexto", "delevera")]
    paths.append(reverse("set_language"))

    assert [path for path in paths if is_api_path(path)] == []


def test_an_unknown_dialect_is_a_404():
    assert Client().get("/docs/twilio/").status_code == 404


# --- Tarifs -----------------------------------------------------------------------------


def price_rows(html: str, table_id: str) -> list[list[str]]:
    table = re.search(rf'<table class="prices" id="{table_id}">.*?</table>', html, re.S).group(0)
    body = table.split("<tbody>")[1]
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_tarifs_shows_the_platforms_tariffs_from_the_database(owner):
    Tariff.objects.create(channel="sms", unit="XOF", prefix="228", price=25, label="Togo")
    Tariff.objects.create(channel="sms", unit="XOF", prefix="22890", price=20, label="Togocel")
    Tariff.objects.create(channel="sms", unit="XOF", prefix="", price=40)
    Tariff.objects.create(channel="push", unit="credits", prefix="", price=5)
    Tariff.objects.create(
        tenant=owner.tenant, channel="sms", unit="XOF", prefix="229", price=1, label="Benin for Owner"
    )

    html = Client().get("/tarifs/").content.decode()

    assert price_rows(html, "sms-prices") == [
        ["Toute autre destination", "tous", "40 XOF"],
        ["Togo", "+228", "25 XOF"],
        ["Togocel", "+22890", "20 XOF"],
    ]
    assert price_rows(html, "push-prices") == [["Push, par remise", "0.05 credits"]]
    assert "Benin for Owner" not in html and "+229" not in html  # a tenant's own prices are its own


def test_tarifs_without_tariffs_shows_the_default_prices(settings):
    settings.BILLING_DEFAULT_SMS_CREDITS = "2"
    client = Client()
    client.cookies["django_language"] = "en"

    html = client.get("/tarifs/").content.decode()

    assert '<p id="sms-prices">2 credit per SMS part, to any destination.</p>' in html
    assert '<p id="push-prices">Push notifications are free.</p>' in html


def test_tarifs_shows_both_account_types_and_the_default_one(settings):
    settings.BILLING_DEFAULT_TYPE = "postpaid"

    html = Client().get("/tarifs/").content.decode()
    types = re.search(r'<div class="cards cards-2" id="account-types">.*?</div>', html, re.S).group(0)

    assert re.findall(r"<h3>(.*?)</h3>", types) == ["Prépayé", 'Postpayé <span class="badge">par défaut</span>']
