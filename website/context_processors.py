"""The brand every site page shows (SITE_NAME, SITE_TAGLINE, SITE_CONTACT_EMAIL: settings
from the environment), as ``site``; templates an operator overrides read the same."""

from __future__ import annotations

from django.conf import settings


def site(request) -> dict:
    return {
        "site": {
            "name": settings.SITE_NAME,
            "tagline": settings.SITE_TAGLINE,
            "contact_email": settings.SITE_CONTACT_EMAIL,
        }
    }
