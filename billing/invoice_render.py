"""An invoice's documents: the PDF (fpdf2: no system package needed) and the CSV. Pure
functions of what ``billing.invoices`` computed; nothing here reads or writes the database.

The PDF draws its text in a Unicode TrueType font when one is there
(``INVOICE_FONT``/``INVOICE_FONT_BOLD``; by default DejaVu Sans where Debian's
fonts-dejavu puts it), so a customer named "Őrség", "Ζωή" or "Москва" reads as
written. Without one it falls back to a core font, which only knows Latin-1: text then
goes through ``pdf_text``, and accented letters outside Latin-1 lose their accent
("Ő" -> "O"), other characters become "?". The CSV is UTF-8 and keeps every name exactly.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from billing.money import amount_str

# Typographic characters outside Latin-1 that have a plain spelling.
_PLAIN = {
    "€": "EUR",
    "–": "-",
    "—": "-",
    "‘": "'",
    "’": "'",
    "‚": ",",
    "“": '"',
    "”": '"',
    "„": '"',
    "…": "...",
    "•": "*",
    "™": "TM",
}
# A spreadsheet reads a cell starting with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SENDER_WIDTH_MM = 70  # the PDF table's sender column; longer names are cut with "..."


@dataclass(frozen=True)
class Line:
    channel: str
    country: str
    sender: str
    quantity: int
    amount: int


@dataclass(frozen=True)
class Document:
    """What both documents show."""

    issuer: str
    tenant_name: str
    number: str
    statement: bool  # prepaid: a statement, nothing due
    period_from: datetime  # the period's first local day, in the tenant's time zone
    period_to: datetime  # its last local day
    time_zone: str
    unit: str
    lines: list[Line]
    total: int


def _printable(text: str) -> str:
    """``text`` for a Unicode font: control characters and stray surrogates as spaces."""
    return "".join(" " if unicodedata.category(char).startswith("C") else char for char in text)


def _unicode_font() -> tuple[str, str] | None:
    """(regular, bold) TrueType files for the PDF, or None: the core font then."""
    regular, bold = settings.INVOICE_FONT, settings.INVOICE_FONT_BOLD or settings.INVOICE_FONT
    if regular and Path(regular).is_file() and Path(bold).is_file():
        return regular, bold
    return None


def pdf_text(text: str) -> str:
    """``text`` in what a core font (Latin-1) can draw; never raises."""
    out = []
    for char in text:
        if char in _PLAIN:
            out.append(_PLAIN[char])
        elif unicodedata.category(char).startswith("C"):  # control characters, stray surrogates
            out.append(" ")
        elif ord(char) < 256:
            out.append(char)
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", char) if ord(c) < 256 and c.isprintable())
            out.append(base or "?")
    return "".join(out)


def _fit(pdf: FPDF, text: str, width: float) -> str:
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "...") > width:
        text = text[:-1]
    return text + "..."


def invoice_pdf(doc: Document) -> bytes:
    """The invoice (or statement) as a one-or-more page A4 PDF."""
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_title(f"{doc.issuer} {doc.number}")  # metadata is Unicode: the exact names
    pdf.set_author(doc.issuer)
    pdf.set_subject(doc.tenant_name)
    pdf.set_auto_page_break(auto=True, margin=15)
    font = _unicode_font()
    if font is not None:
        family, text = "body", _printable
        pdf.add_font(family, "", font[0])
        pdf.add_font(family, "B", font[1])
    else:
        family, text = "helvetica", pdf_text
    pdf.add_page()
    unit = text(doc.unit)

    def line(content: str, *, size: int = 10, style: str = "", height: float = 6) -> None:
        pdf.set_font(family, style, size)
        pdf.cell(0, height, text(content), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    line(doc.issuer, size=18, style="B", height=10)
    line("Statement" if doc.statement else "Invoice", size=14, style="B", height=8)
    pdf.ln(2)
    line(f"Number: {doc.number}")
    line(f"Customer: {doc.tenant_name}")
    line(f"Period: {doc.period_from:%Y-%m-%d} to {doc.period_to:%Y-%m-%d} ({doc.time_zone})")
    line(f"Unit: {doc.unit}")
    pdf.ln(4)

    pdf.set_font(family, "", 10)
    widths = (25, 20, SENDER_WIDTH_MM, 30, 45)
    with pdf.table(
        col_widths=widths, text_align=("LEFT", "LEFT", "LEFT", "RIGHT", "RIGHT"), first_row_as_headings=True
    ) as table:
        heading = table.row()
        for title in ("Channel", "Country", "Sender", "Quantity", f"Amount ({unit})"):
            heading.cell(title)
        for item in doc.lines:
            row = table.row()
            row.cell(text(item.channel))
            row.cell(text(item.country))
            row.cell(_fit(pdf, text(item.sender), SENDER_WIDTH_MM - 4))
            row.cell(str(item.quantity))
            row.cell(amount_str(item.amount, unit=doc.unit))
        if not doc.lines:
            row = table.row()
            row.cell("No charges in this period", colspan=5)
    pdf.ln(4)
    total = amount_str(doc.total, unit=doc.unit)
    line(f"Total: {total} {doc.unit}", size=12, style="B", height=8)
    if doc.statement:
        line("Prepaid account: paid from the balance, nothing due.")
    else:
        line(f"Amount due: {total} {doc.unit}", size=12, style="B", height=8)
    return bytes(pdf.output())


def _csv_cell(text: str) -> str:
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def invoice_csv(doc: Document) -> str:
    """Header, one row per line, then the total row; amounts with the unit's decimals."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["channel", "country", "sender", "quantity", "amount", "unit"])
    for item in doc.lines:
        writer.writerow(
            [
                _csv_cell(item.channel),
                _csv_cell(item.country),
                _csv_cell(item.sender),
                item.quantity,
                amount_str(item.amount, unit=doc.unit),
                doc.unit,
            ]
        )
    quantity = sum(item.quantity for item in doc.lines)
    writer.writerow(["total", "", "", quantity, amount_str(doc.total, unit=doc.unit), doc.unit])
    return out.getvalue()
