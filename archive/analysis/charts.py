"""Static SVG charts of the velocity report, built as text: no script, no style attribute (the web
UI's Content-Security-Policy allows neither), no external asset; every label is escaped (source
names and reasons come from seed files and the catalogue: hostile text)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from html import escape

from archive.analysis.estimators import Curve

COLOURS = ("#1b6ca8", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#16a085", "#7f8c8d",
           "#b7950b")
# x axis ticks of the survival charts (seconds), on a log scale
TICKS = ((60, "1m"), (600, "10m"), (3600, "1h"), (6 * 3600, "6h"), (86400, "1d"),
         (7 * 86400, "7d"), (30 * 86400, "30d"), (365 * 86400, "1y"))


def duration_text(seconds: float | None) -> str:
    """``42s``, ``5.0m``, ``3.2h``, ``2.1d``; ``-`` for None (not reached)."""
    if seconds is None or math.isinf(seconds):
        return "-"
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _text(value: object) -> str:
    return escape(str(value), quote=True)


def _empty(label: str) -> str:
    return f'<svg class="report-chart" width="0" height="0" role="img"' \
           f' aria-label="{_text(label)}"></svg>'


def survival_chart(curves: Sequence[tuple[str, Curve]], *, label: str, width: int = 560,
                   height: int = 220) -> str:
    """Kaplan–Meier step curves of ``curves`` (name, curve), time on a log scale from one
    minute, with a legend."""
    left, bottom, top = 34, 30, 8
    legend = 16 * len(curves)
    plot_w, plot_h = width - left - 8, height - bottom - top
    longest = max((c.times[-1] for _, c in curves if c.times), default=86400.0)
    span = (math.log10(60), math.log10(max(longest * 1.2, 86400.0)))

    def x(t: float) -> float:
        return left + (math.log10(max(t, 60.0)) - span[0]) / (span[1] - span[0]) * plot_w

    def y(s: float) -> float:
        return top + (1 - s) * plot_h

    parts = [f'<svg class="report-chart survival" width="{width}" height="{height + legend}"'
             f' viewBox="0 0 {width} {height + legend}" role="img"'
             f' aria-label="{_text(label)}"><title>{_text(label)}</title>',
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none"'
             ' stroke="#999"/>']
    for share in (0.25, 0.5, 0.75):
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(share):.1f}"'
                     f' y2="{y(share):.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 4}" y="{y(share) + 4:.1f}" text-anchor="end"'
                     f' font-size="10">{share:.2f}</text>')
    for seconds, name in TICKS:
        if math.log10(seconds) <= span[1]:
            parts.append(f'<text x="{x(seconds):.1f}" y="{top + plot_h + 14}"'
                         f' text-anchor="middle" font-size="10">{name}</text>')
    for index, (name, curve) in enumerate(curves):
        colour = COLOURS[index % len(COLOURS)]
        points = [f"{x(60):.1f},{y(1.0):.1f}"]
        previous = 1.0
        for t, s in zip(curve.times, curve.survival, strict=True):
            points.append(f"{x(t):.1f},{y(previous):.1f}")
            points.append(f"{x(t):.1f},{y(s):.1f}")
            previous = s
        points.append(f"{left + plot_w:.1f},{y(previous):.1f}")
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5"'
                     f' points="{" ".join(points)}"><title>{_text(name)}</title></polyline>')
        row = height + 16 * index + 4
        parts.append(f'<rect x="{left}" y="{row}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{left + 16}" y="{row + 9}" font-size="11">{_text(name)}'
                     f' ({curve.subjects} watched, {curve.observed} deleted)</text>')
    parts.append(f'<text x="{left + plot_w / 2:.0f}" y="{height - 4}" text-anchor="middle"'
                 ' font-size="10">time since t0 (log scale); y: share not yet deleted</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(counts: dict[str, int], *, label: str, width: int = 560,
              bar_height: int = 16) -> str:
    """Horizontal bars, one per key of ``counts`` in its order, with the key and its count."""
    if not counts:
        return _empty(label)
    name_w = 150
    peak = max(counts.values()) or 1
    height = bar_height * len(counts) + 4
    parts = [f'<svg class="report-chart bars" width="{width}" height="{height}"'
             f' viewBox="0 0 {width} {height}" role="img" aria-label="{_text(label)}">'
             f'<title>{_text(label)}</title>']
    for index, (key, count) in enumerate(counts.items()):
        top = index * bar_height + 2
        length = max(count / peak * (width - name_w - 60), 1.0)
        shown = key if len(key) <= 24 else key[:23] + "\u2026"
        parts.append(f'<text x="{name_w - 6}" y="{top + bar_height - 5}" text-anchor="end"'
                     f' font-size="11">{_text(shown)}</text>'
                     f'<rect x="{name_w}" y="{top}" width="{length:.1f}"'
                     f' height="{bar_height - 3}" fill="{COLOURS[0]}">'
                     f'<title>{_text(key)}: {count}</title></rect>'
                     f'<text x="{name_w + length + 4:.1f}" y="{top + bar_height - 5}"'
                     f' font-size="11">{count}</text>')
    parts.append("</svg>")
    return "".join(parts)


def day_bars(per_day: dict[str, int], *, label: str, width: int = 560, height: int = 90,
             css_class: str = "report-chart days") -> str:
    """Vertical bars of counts per day (``YYYY-MM-DD`` keys), placed by date (a day without any
    is a gap), the first and the last day named (the report's, and the deletion log's chart)."""
    if not per_day:
        return _empty(label)
    days = sorted(per_day)
    first = date.fromisoformat(days[0])
    span = (date.fromisoformat(days[-1]) - first).days + 1
    step = min(max(width / span, 1.0), 24.0)
    peak = max(per_day.values()) or 1
    parts = [f'<svg class="{css_class}" width="{width}" height="{height + 14}"'
             f' viewBox="0 0 {width} {height + 14}" role="img" aria-label="{_text(label)}">'
             f'<title>{_text(label)}</title>']
    for day in days:
        index = (date.fromisoformat(day) - first).days
        bar = max(per_day[day] / peak * height, 1.0)
        parts.append(f'<rect x="{index * step:.1f}" y="{height - bar:.1f}"'
                     f' width="{max(step - 1, 1):.1f}" height="{bar:.1f}" fill="{COLOURS[1]}">'
                     f'<title>{_text(day)}: {per_day[day]}</title></rect>')
    parts.append(f'<text x="0" y="{height + 12}" font-size="10">{_text(days[0])}</text>')
    if len(days) > 1:
        parts.append(f'<text x="{width}" y="{height + 12}" text-anchor="end" font-size="10">'
                     f'{_text(days[-1])}</text>')
    parts.append("</svg>")
    return "".join(parts)
