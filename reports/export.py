"""A report's rows as CSV or XLSX, written as they are read: CSV streams line by line;
XLSX (xlsxwriter in constant-memory mode: each row is flushed to a temporary file as it
is written) is assembled in a temporary file that the response then streams."""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable, Iterator
from datetime import date

import xlsxwriter

from billing import money
from reports.selectors import Figures

FIGURE_COLUMNS = ["outcomes", "sent", "delivered", "failed", "delivery_rate", "p50_seconds", "cost", "unit"]


def report_header(group_by: list[str]) -> list[str]:
    return [*group_by, *FIGURE_COLUMNS]


def report_line(key: dict, figures: Figures, *, group_by: list[str], unit: str) -> list:
    """One row's cells: the group's values, then the figures (the rate as a fraction with
    four decimals, the p50 as its bucket's bound in seconds, the cost in the unit)."""
    cells = [value.isoformat() if isinstance(value, date) else value for value in (key[n] for n in group_by)]
    p50 = figures.p50
    return [
        *cells,
        figures.outcomes,
        figures.sent,
        figures.delivered,
        figures.failed,
        "" if figures.delivery_rate is None else f"{figures.delivery_rate:.4f}",
        "" if p50 is None else (">21600" if p50 < 0 else p50),
        money.amount_str(figures.cost, unit=unit),
        unit,
    ]


class _Echo:
    """csv.writer's file: hands back each line instead of storing it."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: list[str], lines: Iterable[list]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for line in lines:
        yield writer.writerow(line)


def xlsx_file(header: list[str], lines: Iterable[list]):
    """The workbook in an anonymous temporary file, positioned at its start (closing it
    deletes it)."""
    handle = tempfile.TemporaryFile()  # noqa: SIM115  (the response closes it once sent)
    workbook = xlsxwriter.Workbook(handle, {"constant_memory": True, "strings_to_numbers": False})
    sheet = workbook.add_worksheet("Report")
    bold = workbook.add_format({"bold": True})
    sheet.write_row(0, 0, header, bold)
    for index, line in enumerate(lines, start=1):
        sheet.write_row(index, 0, line)
    workbook.close()
    handle.seek(0)
    return handle
