"""Reading lists of numbers as people bring them: pasted (one a line, or separated by
commas or semicolons) or a CSV file (any of the usual delimiters, a header row or not).

Every number keeps the line it came from, so a form can say which lines are wrong.
Validity itself is the SMS core's (``sms.services.numbers_normalize``).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from django.utils.translation import gettext

from accounts.models import Tenant
from sms.services import numbers_normalize

# A pasted list or a CSV file holds at most this many numbers: one send writes one row per
# number in one transaction (ION's MULDES takes as many).
NUMBERS_MAX = 100_000
CSV_MAX_BYTES = 5 * 1024 * 1024  # 100,000 numbers with a few columns each
LINES_SHOWN = 20  # invalid lines named in an error; the rest are counted

_SEPARATORS = re.compile(r"[,;\t]")
# A CSV cell that is meant as a number: phone characters only, with at least 6 digits.
_PHONE_CELL = re.compile(r"^\s*\+?[\d\s().-]+\s*$")
_DIGIT = re.compile(r"\d")


@dataclass
class NumberList:
    """The valid numbers in E.164 (each once), and the invalid ones as (where, text,
    reason), ``where`` naming the line ("line 3", "file line 3")."""

    valid: list[str] = field(default_factory=list)
    invalid: list[tuple[str, str, str]] = field(default_factory=list)

    def invalid_summary(self) -> str:
        shown = "; ".join(f"{where}: {text!r} ({reason})" for where, text, reason in self.invalid[:LINES_SHOWN])
        more = len(self.invalid) - LINES_SHOWN
        return shown + (gettext("; and %(more)s more") % {"more": more} if more > 0 else "")


def pasted_entries(text: str) -> list[tuple[str, str]]:
    """("line N", number as typed) for every non-empty item of a pasted list."""
    entries = []
    for line, row in enumerate(text.splitlines(), start=1):
        entries += [
            (gettext("line %(n)s") % {"n": line}, item.strip()) for item in _SEPARATORS.split(row) if item.strip()
        ]
    return entries


def csv_entries(data: bytes) -> list[tuple[str, str]]:
    """("file line N", number) for every row of a CSV file that has a number-like cell (the first
    one of the row). A first row without one is a header; a later row without one is
    answered with its first cell, which validation then refuses. Raises ValueError
    for a file that is not text."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    if "\x00" in text:
        raise ValueError("this is not a text (CSV) file")
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel  # one column: no delimiter to find
    entries = []
    where = gettext("file line %(n)s")
    for line, row in enumerate(csv.reader(io.StringIO(text), dialect), start=1):
        cells = [cell.strip() for cell in row if cell.strip()]
        if not cells:
            continue
        number = next((c for c in cells if _PHONE_CELL.match(c) and len(_DIGIT.findall(c)) >= 6), None)
        if number is not None:
            entries.append((where % {"n": line}, number))
        elif entries or line > 1:
            entries.append((where % {"n": line}, cells[0]))
    return entries


def numbers_check(*, tenant: Tenant, entries: list[tuple[str, str]]) -> NumberList:
    """Validate (where, number) entries as the SMS core does: valid ones normalized and
    without duplicates, invalid ones with their line and the core's reason."""
    valid, invalid = numbers_normalize(tenant=tenant, numbers=[text for _, text in entries])
    reasons = dict(invalid)
    return NumberList(valid=valid, invalid=[(where, text, reasons[text]) for where, text in entries if text in reasons])
