"""Template filters of the docs pages."""

from __future__ import annotations

import re

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()

# `code` (Markdown) and ``code`` (reStructuredText): how the schema's descriptions, written
# in the views' and serializers' help texts and docstrings, mark code.
_CODE = re.compile(r"``(.+?)``|`(.+?)`")


@register.filter
def inline_code(text: str) -> str:
    """``text`` escaped, its code spans as <code>, its paragraphs (blank lines) as <p>."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text or "") if p.strip()]
    html = "".join(
        "<p>" + _CODE.sub(lambda m: f"<code>{m.group(1) or m.group(2)}</code>", escape(p)) + "</p>" for p in paragraphs
    )
    return mark_safe(html)  # noqa: S308  (escaped above; only <p> and <code> are added)
