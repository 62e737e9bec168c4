"""The public site in a real browser (Chromium through Playwright, softafrik.testing.browser):
every page in French then in English through the language switch, the choice remembered
from page to page, the menu's links, the docs' code tabs."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

# Each page: its path, its title (h1) in French and in English.
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


def shown(page) -> tuple[str, str, list[str]]:
    return (
        page.locator("html").get_attribute("lang"),
        page.inner_text("h1"),
        page.locator("nav.nav a").all_inner_texts(),
    )


@pytest.mark.parametrize(("path", "french", "english"), PAGES)
def test_each_page_in_french_then_in_english_with_the_switch(page, path, french, english):
    page.goto(path)
    assert shown(page) == ("fr", french, NAV_FR)

    page.click(".lang-switch button[value=en]")
    page.wait_for_load_state("load")

    assert page.url.endswith(path)  # the switch brings the visitor back to the same page
    assert shown(page) == ("en", english, NAV_EN)


def test_the_chosen_language_is_remembered_from_page_to_page(page):
    page.goto("/")
    page.click(".lang-switch button[value=en]")
    page.wait_for_load_state("load")

    page.click("nav.nav >> text=Pricing")
    assert shown(page)[:2] == ("en", "Pricing")
    page.click("nav.nav >> text=About")
    assert shown(page)[:2] == ("en", "About SoftAfrik")
    assert any(cookie["name"] == "django_language" and cookie["value"] == "en" for cookie in page.context.cookies())

    page.click(".lang-switch button[value=fr]")
    page.wait_for_load_state("load")
    assert shown(page)[:2] == ("fr", "À propos de SoftAfrik")


def test_the_menu_leads_to_every_page_and_the_admin(page):
    page.goto("/")
    for link, title in [("Docs", "Documentation API"), ("Tarifs", "Tarifs"), ("À propos", "À propos de SoftAfrik")]:
        page.click(f"nav.nav >> text={link}")
        assert page.inner_text("h1") == title
    page.click("nav.nav >> text=Accueil")
    assert page.inner_text("h1") == "SoftAfrik"

    page.click("nav.nav >> text=Admin")

    assert "/admin/login/" in page.url


def test_the_docs_code_tabs_show_one_language_at_a_time(page):
    page.goto("/docs/primotexto/")
    code = "code[data-example=primotexto][data-lang={}]"
    assert page.is_visible(code.format("curl")) and not page.is_visible(code.format("python"))

    page.click("label[for=tab-primotexto-python]")

    assert page.is_visible(code.format("python")) and not page.is_visible(code.format("curl"))
    assert "import requests" in page.inner_text(code.format("python"))
    assert (
        page.inner_text(code.format("python")).count(page.url.split("/docs/")[0] + "/v2/notification/messages/send")
        == 1
    )


def test_on_a_phone_the_menu_opens_from_its_button(page):
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto("/")
    assert not page.is_visible("nav.nav")

    page.click(".menu-button")

    assert page.is_visible("nav.nav >> text=Tarifs")
