"""Small inline SVG charts (vertical bars with several series, horizontal bars, a heat map)
drawn as text, so the HTML report needs no script, font or image from anywhere else.
Every label is escaped; numbers are formatted by us."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

Series = tuple[str, Sequence[float], str]  # (name, values, CSS colour)
FONT = 'font-family="sans-serif" font-size="11"'


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value``."""
    if value <= 0:
        return 1.0
    step = 1.0
    while step * 10 < value:
        step *= 10
    for factor in (1, 2, 5, 10):
        if value <= step * factor:
            return step * factor
    return step * 10


def _fmt(value: float) -> str:
    return f"{value:g}" if value < 1e6 else f"{value:.3g}"


def bars(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    width: int = 760,
    height: int = 240,
    label_every: int = 1,
) -> str:
    """Vertical bars, one group per label, one bar per series; a legend when several."""
    left, bottom, top = 44, 34, 24
    plot_w, plot_h = width - left - 10, height - bottom - top
    top_value = _nice_max(max((v for _, values, _ in series for v in values), default=0))
    group = plot_w / max(1, len(labels))
    bar = max(1.0, (group * 0.8) / max(1, len(series)))
    out = [_open(width, height, title), _axis(left, top, plot_w, plot_h, top_value)]
    for i, label in enumerate(labels):
        x0 = left + i * group + group * 0.1
        for j, (name, values, colour) in enumerate(series):
            value = values[i] if i < len(values) else 0
            h = plot_h * value / top_value
            out.append(
                f'<rect x="{x0 + j * bar:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{escape(label)} {escape(name)}: '
                f"{_fmt(value)}</title></rect>"
            )
        if i % label_every == 0:
            out.append(
                f'<text x="{x0 + group * 0.4:.1f}" y="{height - bottom + 14}" {FONT} '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    out.append(_legend(series, left, height - 6))
    return "".join(out) + "</svg>"


def hbars(labels: Sequence[str], series: Sequence[Series], *, title: str, width: int = 760) -> str:
    """Horizontal bars: one row per label (e.g. a department), one bar per series."""
    row, left, top = 16 * max(1, len(series)) + 8, 150, 24
    height = top + row * max(1, len(labels)) + 24
    plot_w = width - left - 60
    top_value = _nice_max(max((v for _, values, _ in series for v in values), default=0))
    out = [_open(width, height, title)]
    for i, label in enumerate(labels):
        y0 = top + i * row
        out.append(
            f'<text x="{left - 6}" y="{y0 + row / 2 + 4:.1f}" {FONT} text-anchor="end">'
            f"{escape(label[:24])}</text>"
        )
        for j, (name, values, colour) in enumerate(series):
            value = values[i] if i < len(values) else 0
            w = plot_w * value / top_value
            y = y0 + 4 + j * 16
            out.append(
                f'<rect x="{left}" y="{y}" width="{w:.1f}" height="13" fill="{colour}">'
                f"<title>{escape(label)} {escape(name)}: {_fmt(value)}</title></rect>"
                f'<text x="{left + w + 4:.1f}" y="{y + 10}" {FONT}>{_fmt(value)}</text>'
            )
    out.append(_legend(series, left, height - 6))
    return "".join(out) + "</svg>"


def heatmap(grid: Sequence[Sequence[int]], row_labels: Sequence[str], *, title: str) -> str:
    """A weekday x hour grid; darker cells had more tickets."""
    cell, left, top = 26, 40, 24
    width, height = left + cell * 24 + 10, top + cell * len(grid) + 22
    peak = max((v for r in grid for v in r), default=0) or 1
    out = [_open(width, height, title)]
    for r, values in enumerate(grid):
        y = top + r * cell
        out.append(f'<text x="4" y="{y + 17}" {FONT}>{escape(row_labels[r])}</text>')
        for c, value in enumerate(values):
            shade = 0.08 + 0.92 * value / peak if value else 0.0
            out.append(
                f'<rect x="{left + c * cell}" y="{y}" width="{cell - 2}" height="{cell - 2}" '
                f'fill="#1f6feb" fill-opacity="{shade:.2f}" stroke="#d0d7de" stroke-width="0.5">'
                f"<title>{escape(row_labels[r])} {c:02d}:00: {value}</title></rect>"
            )
    for c in range(0, 24, 3):
        out.append(f'<text x="{left + c * cell + 2}" y="{height - 6}" {FONT}>{c:02d}</text>')
    return "".join(out) + "</svg>"


def _open(width: int, height: int, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
    )


def _axis(left: int, top: int, plot_w: int, plot_h: int, top_value: float) -> str:
    lines = []
    for k in range(5):
        value = top_value * k / 4
        y = top + plot_h - plot_h * k / 4
        lines.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
            f'stroke="#d0d7de" stroke-width="1"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" {FONT} text-anchor="end">{_fmt(value)}</text>'
        )
    return "".join(lines)


def _legend(series: Sequence[Series], x: int, y: int) -> str:
    if len(series) < 2:
        return ""
    out = []
    for i, (name, _, colour) in enumerate(series):
        lx = x + i * 190
        out.append(
            f'<rect x="{lx}" y="{y - 9}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{lx + 14}" y="{y}" {FONT}>{escape(name)}</text>'
        )
    return "".join(out)
