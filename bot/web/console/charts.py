"""Server-rendered SVG charts for the admin dashboard: no JavaScript, nothing from a CDN.

Every label goes through :func:`markupsafe.escape` (channel names and FAQ ids come from
data), so the returned markup is safe to put in a page as-is.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

BAR = "#3b6fd8"
GOOD = "#2f9e64"
MUTED = "#c8cfdb"


def daily_bars(
    days: Sequence[tuple[str, int, int]], *, width: int = 640, height: int = 200
) -> Markup:
    """Conversations per day (grey) with the deflected part (green) in front."""
    if not days:
        return _empty(width, height)
    top = max(total for _, total, _ in days) or 1
    pad_left, pad_bottom, pad_top = 36, 28, 10
    plot_h = height - pad_bottom - pad_top
    step = (width - pad_left) / len(days)
    bar_w = max(2.0, step * 0.7)
    parts = [_axis(pad_left, pad_top, plot_h, width, top)]
    for i, (day, total, deflected) in enumerate(days):
        x = pad_left + i * step + (step - bar_w) / 2
        for value, colour, label in (
            (total, MUTED, "conversations"),
            (deflected, GOOD, "deflected"),
        ):
            h = plot_h * value / top
            parts.append(
                f'<rect x="{x:.1f}" y="{pad_top + plot_h - h:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{escape(day)}: {value} {label}'
                "</title></rect>"
            )
        if len(days) <= 14 or i % max(1, len(days) // 10) == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - 10}" font-size="10" '
                f'text-anchor="middle">{escape(day[5:])}</text>'
            )
    return _svg(width, height, "Conversations and deflected conversations per day", parts)


def horizontal_bars(
    rows: Sequence[tuple[str, float]], *, unit: str = "", width: int = 420, colour: str = BAR
) -> Markup:
    """One labelled bar per row (handoff reasons, channels, languages)."""
    row_h, label_w = 22, 150
    height = max(row_h, row_h * len(rows)) + 6
    if not rows:
        return _empty(width, height)
    top = max(value for _, value in rows) or 1
    parts = []
    for i, (label, value) in enumerate(rows):
        y = 3 + i * row_h
        w = (width - label_w - 50) * value / top
        shown = f"{value:.0%}" if unit == "%" else f"{value:g}"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" font-size="12" text-anchor="end">'
            f"{escape(label)}</text>"
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" fill="{colour}">'
            f"<title>{escape(label)}: {shown}</title></rect>"
            f'<text x="{label_w + w + 4:.1f}" y="{y + 15}" font-size="12">{shown}</text>'
        )
    return _svg(width, height, "bar chart", parts)


def _axis(left: int, top: int, plot_h: int, width: int, peak: int) -> str:
    return (
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width}" y2="{top + plot_h}" stroke="#888"/>'
        f'<text x="{left - 4}" y="{top + 8}" font-size="10" text-anchor="end">{peak}</text>'
        f'<text x="{left - 4}" y="{top + plot_h}" font-size="10" text-anchor="end">0</text>'
    )


def _svg(width: int, height: int, title: str, parts: list[str]) -> Markup:
    body = "".join(parts)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">'
        f"<title>{escape(title)}</title>{body}</svg>"
    )


def _empty(width: int, height: int) -> Markup:
    return _svg(
        width,
        height,
        "no data",
        [f'<text x="10" y="{min(height - 4, 20)}" font-size="12" fill="#666">no data yet</text>'],
    )
