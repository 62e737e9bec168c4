"""The public site's pages: Accueil, Docs (one page per API dialect), Tarifs, À propos.

They only read: the API reference from the OpenAPI schema (website.reference, generated
once per process), the platform's tariffs (billing.selectors), the brand from settings.
Code examples carry the site's own base URL, the one the visitor reached it by.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext as _

from billing import money
from billing.models import TariffChannel
from billing.selectors import platform_tariffs
from website.examples import QUICK_STARTS, Request, snippets
from website.reference import DIALECT_SPECS, api_reference


def _base_url(request) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def _dialects() -> list[dict]:
    """The four API surfaces as the pages list them: name, introduction, reference."""
    reference = api_reference()
    intros = {
        "softafrik": _(
            "The platform's own API: end users and their devices, push to a user, a device or "
            "everyone, the inbox that keeps every message, delivery receipts, webhooks and the account."
        ),
        "ion": _("ION's SMS Gateway: one SMS (UNIDES), many numbers (MULDES), a send spread over days (MULDESP)."),
        "primotexto": _("Primotexto's notification SMS: send, status, statistics by category and the unsubscribers."),
        "delevera": _(
            "Delevera's SMS, push and omni products: messages, applications and their devices, "
            "scenarios that fall back from push to SMS."
        ),
    }
    return [
        {
            "slug": spec.slug,
            "name": spec.name or settings.SITE_NAME,
            "intro": intros[spec.slug],
            "spec": spec,
            "reference": reference[spec.slug],
        }
        for spec in DIALECT_SPECS
    ]


def home(request):
    example = QUICK_STARTS["softafrik"]
    return render(
        request,
        "website/home.html",
        {
            "nav": "home",
            "snippet": snippets(example.request, base_url=_base_url(request))[0][2],
            "dialects": _dialects(),
        },
    )


def docs_index(request):
    example = QUICK_STARTS["softafrik"]
    return render(
        request,
        "website/docs_index.html",
        {
            "nav": "docs",
            "base_url": _base_url(request),
            "dialects": _dialects(),
            "example": example,
            "snippets": snippets(example.request, base_url=_base_url(request)),
        },
    )


def docs_dialect(request, dialect: str):
    dialects = _dialects()
    current = next((entry for entry in dialects if entry["slug"] == dialect), None)
    if current is None:
        raise Http404(dialect)
    example = QUICK_STARTS[dialect]
    base_url = _base_url(request)
    spec = current["spec"]
    operations = [
        (
            operation,
            snippets(
                Request(operation.method, operation.path, spec.auth_header, spec.auth_value, operation.body_example),
                base_url=base_url,
            )[0][2],
        )
        for operation in current["reference"].operations
    ]
    return render(
        request,
        "website/docs_dialect.html",
        {
            "nav": "docs",
            "dialect": current,
            "dialects": dialects,
            "example": example,
            "snippets": snippets(example.request, base_url=base_url),
            "operations": operations,
            "base_url": base_url,
        },
    )


def pricing(request):
    rows = [
        {
            "channel": tariff.channel,
            "channel_label": _("SMS, per part") if tariff.channel == TariffChannel.SMS else _("Push, per delivery"),
            "prefix": tariff.prefix,
            "label": tariff.label,
            "price": money.amount_str(tariff.price, unit=tariff.unit),
            "unit": tariff.unit,
        }
        for tariff in platform_tariffs()
    ]
    return render(
        request,
        "website/pricing.html",
        {
            "nav": "pricing",
            "sms_rows": [row for row in rows if row["channel"] == TariffChannel.SMS],
            "push_rows": [row for row in rows if row["channel"] == TariffChannel.PUSH],
            "default_sms_credits": settings.BILLING_DEFAULT_SMS_CREDITS,
            "default_push_credits": settings.BILLING_DEFAULT_PUSH_CREDITS,
            "trial_credit": settings.BILLING_TRIAL_CREDIT,
            "default_unit": settings.BILLING_DEFAULT_UNIT,
            "default_type": settings.BILLING_DEFAULT_TYPE,
        },
    )


def about(request):
    return render(request, "website/about.html", {"nav": "about"})
