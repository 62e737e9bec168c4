"""The dashboard's charts as inline SVG rendered here: no script, no CDN, and every
figure is also in the page as text (each chart has its table), so what a browser shows
can be checked number by number.

A day chart stacks, per day, the recipients delivered, those with another outcome
(handed to the network, no receipt yet) and those that failed; a ranking chart draws
one horizontal bar per country or sender, delivered and failed within it.
"""

from __future__ import annotations

from datetime import date

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from reports.selectors import Figures

DAY_WIDTH, DAY_HEIGHT, DAY_GAP = 24, 160, 4  # px per day column, bars' height, gap
DAY_AXIS = 18  # px under the bars for the dates
DAY_LABEL_EVERY = 7  # a date under every 7th column, counted from the last (today)
RANK_WIDTH, RANK_ROW, RANK_LABEL = 520, 22, 120  # px of the longest bar, per row, label column


def _parts(figures: Figures) -> tuple[int, int, int]:
    """(delivered, other outcome, failed) of ``figures``; "other" is never negative (a
    receipt can count on a later day than its hand-off)."""
    other = max(0, figures.outcomes - figures.delivered - figures.failed)
    return figures.delivered, other, figures.failed


def _rect(x: float, y: float, w: float, h: float, kind: str, title: str) -> SafeString:
    return format_html(
        '<rect x="{}" y="{}" width="{}" height="{}" class="chart-{}"><title>{}</title></rect>',
        round(x, 1),
        round(y, 1),
        round(w, 1),
        round(h, 1),
        kind,
        title,
    )


def day_chart(days: list[tuple[date, Figures]]) -> SafeString:
    """Stacked columns, one per day (oldest on the left), scaled to the busiest day."""
    top = max((sum(_parts(f)) for _, f in days), default=0) or 1
    shapes = []
    for index, (day, figures) in enumerate(days):
        x = index * DAY_WIDTH
        y = DAY_HEIGHT
        for kind, value in zip(("delivered", "other", "failed"), _parts(figures), strict=True):
            if value:
                height = value / top * DAY_HEIGHT
                y -= height
                shapes.append(_rect(x, y, DAY_WIDTH - DAY_GAP, height, kind, f"{day.isoformat()}: {value} {kind}"))
    width = len(days) * DAY_WIDTH
    shapes.append(
        format_html('<line x1="0" y1="{}" x2="{}" y2="{}" class="chart-axis"/>', DAY_HEIGHT, width, DAY_HEIGHT)
    )
    for index, (day, _) in enumerate(days):
        if (len(days) - 1 - index) % DAY_LABEL_EVERY == 0:
            shapes.append(
                format_html(
                    '<text x="{}" y="{}" class="chart-label" text-anchor="middle">{}</text>',
                    index * DAY_WIDTH + (DAY_WIDTH - DAY_GAP) / 2,
                    DAY_HEIGHT + DAY_AXIS - 4,
                    day.strftime("%d/%m"),
                )
            )
    shapes.append(format_html('<text x="0" y="12" class="chart-label">{}</text>', top))
    height = DAY_HEIGHT + DAY_AXIS
    return format_html(
        '<svg class="reports-chart" role="img" viewBox="0 0 {} {}" width="{}" height="{}">{}</svg>',
        width,
        height,
        width,
        height,
        format_html_join("", "{}", ((shape,) for shape in shapes)),
    )


def rank_chart(items: list[tuple[str, Figures]]) -> SafeString:
    """One bar per item, longest for the item with the most outcomes."""
    top = max((f.outcomes for _, f in items), default=0) or 1
    shapes = []
    for index, (label, figures) in enumerate(items):
        y = index * RANK_ROW
        shapes.append(format_html('<text x="0" y="{}" class="chart-label">{}</text>', y + RANK_ROW - 7, label or "—"))
        x = RANK_LABEL
        for kind, value in zip(("delivered", "other", "failed"), _parts(figures), strict=True):
            if value:
                width = value / top * RANK_WIDTH
                shapes.append(_rect(x, y + 3, width, RANK_ROW - 6, kind, f"{label}: {value} {kind}"))
                x += width
    width, height = RANK_LABEL + RANK_WIDTH, max(1, len(items)) * RANK_ROW
    return format_html(
        '<svg class="reports-chart" role="img" viewBox="0 0 {} {}" width="{}" height="{}">{}</svg>',
        width,
        height,
        width,
        height,
        format_html_join("", "{}", ((shape,) for shape in shapes)),
    )
