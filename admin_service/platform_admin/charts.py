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
