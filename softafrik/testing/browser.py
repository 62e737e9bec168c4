"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

Playwright cannot download its own browsers here, so it drives the ``chromium`` package
(``/usr/bin/chromium``, or ``SOFTAFRIK_CHROMIUM``); ``.ci/run`` installs it when it is
missing. Without it, or without the ``playwright`` package, every browser test is skipped
with that reason, never failed.

Fixtures (registered for the whole suite by the root conftest):

- ``browser``: one Chromium per test module (Playwright's sync API keeps an event loop
  in this thread while it runs, and Django refuses ORM calls under a running loop: the
  module's tests are told it is safe, they are synchronous, and later modules are not).
- ``page``: a fresh context and page per test (French, the site's default language),
  on the ``live_server``; ``page.goto("/admin/")`` is relative to it.
- ``browser_login(page, username, password)``: logs into the admin.
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = os.environ.get("SOFTAFRIK_CHROMIUM", "/usr/bin/chromium")


def browser_unavailable() -> str | None:
    """Why browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (make .venv/.installed installs it)"
    if not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium; .ci/run does it)"
    return None


@pytest.fixture(scope="module")
def browser():
    reason = browser_unavailable()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            yield chromium
            chromium.close()
    finally:
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, locale="fr-FR", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def browser_login(page):
    def login(username: str, password: str, *, next_path: str = "/admin/"):
        page.goto(f"/admin/login/?next={next_path}")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("[type=submit]")
        page.wait_for_load_state("networkidle")
        return page

    return login
