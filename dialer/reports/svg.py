"""Small SVG charts drawn as text: horizontal bars (labelled values) and columns (a series over a
numeric axis). No script, no external font or stylesheet: the page that holds them styles them,
and every mark (`class="mark"`) has a <title> so a reader (or a test) can tell what it shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from dialer.reports.queries import round_up

PALETTE = ("#2b6cb0", "#2f855a", "#c05621", "#6b46c1", "#b83280", "#2c7a7b", "#975a16", "#4a5568")


@dataclass(frozen=True, slots=True)
class Bar:
    """One labelled value; `note` is shown after the value (e.g. a share)."""

    label: str
    value: float
    note: str = ""


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def bar_chart(title: str, bars: Sequence[Bar], *, width: int = 640, unit: str = "") -> str:
    """Horizontal bars, one row per label, longest label first in reading order as given."""
    label_w, value_w, row_h, top = 170, 110, 24, 8
    plot_w = width - label_w - value_w
    height = top * 2 + row_h * max(3, len(bars))  # a lone bar still reads as a chart
    maximum = round_up(max((b.value for b in bars), default=0.0))
    parts = [_open(title, width, height)]
    if not bars:
        parts.append(_empty(width, height))
    for i, bar in enumerate(bars):
        y = top + i * row_h
        w = max(0.0, plot_w * bar.value / maximum)
        color = PALETTE[i % len(PALETTE)]
        text = f"{bar.label}: {_fmt(bar.value)}{unit}" + (f" ({bar.note})" if bar.note else "")
        parts.append(
            f'<text class="label" x="{label_w - 8}" y="{y + row_h / 2 + 4:.1f}" text-anchor="end">'
            f"{escape(_short(bar.label, 26))}</text>"
            f'<rect class="mark" x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" fill="{color}">'
            f"<title>{escape(text)}</title></rect>"
            f'<text class="value" x="{label_w + w + 6:.1f}" y="{y + row_h / 2 + 4:.1f}">'
            f"{escape(_fmt(bar.value) + unit)}{escape(' · ' + bar.note if bar.note else '')}</text>")
    parts.append("</svg>")
    return "".join(parts)


def column_chart(title: str, labels: Sequence[str], values: Sequence[float | None], *, width: int = 640,
                 height: int = 220, percent: bool = False, counts: Sequence[int] | None = None,
                 highlight: Sequence[int] = ()) -> str:
    """Vertical columns over `labels`; None draws nothing (no data), `highlight` marks indexes."""
    left, bottom, top, right = 44, 28, 12, 8
    plot_w, plot_h = width - left - right, height - top - bottom
    present = [v for v in values if v is not None]
    maximum = 1.0 if percent else round_up(max(present, default=0.0))
    slot = plot_w / max(1, len(labels))
    parts = [_open(title, width, height)]
    for fraction in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - fraction)
        tick = f"{fraction * 100:.0f}%" if percent else _fmt(maximum * fraction)
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    if not present:
        parts.append(_empty(width, height))
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = left + i * slot
        if i % max(1, len(labels) // 12) == 0:
            parts.append(f'<text class="axis" x="{x + slot / 2:.1f}" y="{height - 10}" text-anchor="middle">'
                         f"{escape(label)}</text>")
        if value is None:
            continue
        h = plot_h * min(1.0, value / maximum)
        shown = f"{value:.0%}" if percent else _fmt(value)
        note = f", {counts[i]} call(s)" if counts is not None else ""
        color = PALETTE[2] if i in highlight else PALETTE[0]
        parts.append(f'<rect class="mark" x="{x + slot * 0.15:.1f}" y="{top + plot_h - h:.1f}" '
                     f'width="{slot * 0.7:.1f}" height="{h:.1f}" fill="{color}">'
                     f"<title>{escape(f'{label}: {shown}{note}')}</title></rect>")
    parts.append("</svg>")
    return "".join(parts)


def _open(title: str, width: int, height: int) -> str:
    return (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img"><title>{escape(title)}</title>')


def _empty(width: int, height: int) -> str:
    return (f'<text class="empty" x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle">'
            "no data in this range</text>")


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
