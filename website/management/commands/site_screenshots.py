"""Screenshots of the public site for docs/screenshots/, taken by Chromium (Playwright) from
a running server: ``python manage.py site_screenshots --base-url http://127.0.0.1:8000``.

The home page in full and the top of a docs page, in the site's default language, at a
laptop's width.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from softafrik.testing.browser import CHROMIUM, browser_unavailable

SHOTS = (
    ("/", "home.png", True),
    ("/docs/softafrik/", "docs.png", False),
)
VIEWPORT = {"width": 1280, "height": 900}


class Command(BaseCommand):
    help = "Screenshots of the public site's pages (home, docs) into docs/screenshots/."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="a running server")
        parser.add_argument("--out", default=str(settings.BASE_DIR / "docs" / "screenshots"))

    def handle(self, *args, base_url: str, out: str, **options):
        reason = browser_unavailable()
        if reason:
            raise CommandError(reason)
        from playwright.sync_api import sync_playwright

        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            try:
                page = browser.new_page(viewport=VIEWPORT, locale="fr-FR")
                for path, name, full_page in SHOTS:
                    page.goto(base_url.rstrip("/") + path, wait_until="networkidle")
                    page.screenshot(path=str(folder / name), full_page=full_page)
                    self.stdout.write(str(folder / name))
            finally:
                browser.close()
