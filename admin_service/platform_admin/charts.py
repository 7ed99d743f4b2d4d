"""Horizontal bar charts as inline SVG, rendered on the server (no JavaScript, no CDN)."""

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

ROW_HEIGHT = 22
LABEL_WIDTH = 190
BAR_WIDTH = 320
VALUE_WIDTH = 80
COLORS = {"failed": "#ba2121", "delivered": "#417690", "pending": "#c9a227"}
DEFAULT_COLOR = "#79aec8"


def bar_chart(title: str, items: list[tuple[str, float | int | None]], *, unit: str = "") -> SafeString:
    """One bar per (label, value); a value of None is drawn as "n/a"."""
    width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH
    height = ROW_HEIGHT * max(1, len(items)) + 8
    largest = max((value for _, value in items if value), default=0) or 1
    rows = []
    for index, (label, value) in enumerate(items):
        y = 4 + index * ROW_HEIGHT
        bar = 0 if not value else max(2, round(BAR_WIDTH * value / largest))
        shown = "n/a" if value is None else (f"{value:g}{unit}" if isinstance(value, float) else f"{value}{unit}")
        rows.append(
            (
                LABEL_WIDTH - 6,
                y + 15,
                label,
                LABEL_WIDTH,
                y + 3,
                bar,
                ROW_HEIGHT - 6,
                COLORS.get(label, DEFAULT_COLOR),
                LABEL_WIDTH + bar + 6,
                y + 15,
                shown,
            )
        )
    body = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="end" font-size="12" fill="currentColor">{}</text>'
        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"></rect>'
        '<text x="{}" y="{}" font-size="12" fill="currentColor">{}</text>',
        rows,
    )
    if not items:
        body = format_html('<text x="10" y="18" font-size="12" fill="currentColor">{}</text>', "no data")
    return format_html(
        '<figure class="chart"><figcaption>{}</figcaption>'
        '<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" role="img" aria-label="{}">{}</svg></figure>',
        title,
        width,
        height,
        title,
        body,
    )


SERIES_WIDTH = 600
SERIES_HEIGHT = 160
SERIES_MARGIN = 30


def time_series_chart(title: str, labels: list[str], series: dict[str, list[int]]) -> SafeString:
    """One line per named series over the same x labels (oldest first); a legend with totals."""
    width, height, margin = SERIES_WIDTH, SERIES_HEIGHT, SERIES_MARGIN
    largest = max((value for values in series.values() for value in values), default=0) or 1
    steps = max(1, len(labels) - 1)

    def point(index: int, value: int) -> str:
        x = margin + (width - 2 * margin) * index / steps
        y = height - margin - (height - 2 * margin) * value / largest
        return f"{x:.1f},{y:.1f}"

    lines = format_html_join(
        "",
        '<polyline points="{}" fill="none" stroke="{}" stroke-width="2" data-series="{}"></polyline>',
        (
            (" ".join(point(i, v) for i, v in enumerate(values)), COLORS.get(name, DEFAULT_COLOR), name)
            for name, values in series.items()
        ),
    )
    legend = format_html_join(
        "",
        '<text x="{}" y="14" font-size="12" fill="{}">{}: {}</text>',
        (
            (margin + 160 * i, COLORS.get(name, DEFAULT_COLOR), name, sum(values))
            for i, (name, values) in enumerate(series.items())
        ),
    )
    axis = format_html(
        '<line x1="{m}" y1="{b}" x2="{r}" y2="{b}" stroke="currentColor"></line>'
        '<text x="{m}" y="{t}" font-size="11" fill="currentColor">{first}</text>'
        '<text x="{r}" y="{t}" font-size="11" text-anchor="end" fill="currentColor">{last}</text>'
        '<text x="4" y="{top}" font-size="11" fill="currentColor">{largest}</text>',
        m=margin,
        b=height - margin,
        r=width - margin,
        t=height - 10,
        top=margin,
        first=labels[0] if labels else "",
        last=labels[-1] if labels else "",
        largest=largest,
    )
    return format_html(
        '<figure class="chart time-series"><figcaption>{}</figcaption>'
        '<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" role="img" aria-label="{}">'
        "{}{}{}</svg></figure>",
        title,
        width,
        height,
        title,
        legend,
        axis,
        lines,
    )
