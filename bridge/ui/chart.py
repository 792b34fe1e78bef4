"""Deliveries per minute by outcome, drawn as an inline SVG on the server.

No JavaScript and no assets: the page must work on a locked-down on-call laptop and from a
terminal browser. Each bar carries a `<title>`, which browsers show as a tooltip. Pure code: the
counts and the window come in, markup goes out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

#: Outcomes in stacking order (bottom first), with colours that read on white and in grey-scale.
OUTCOMES: tuple[tuple[str, str], ...] = (
    ("succeeded", "#2e7d32"),
    ("retry", "#f9a825"),
    ("paused", "#6d4c41"),
    ("failed", "#c62828"),
)
WIDTH, HEIGHT = 720, 160
_LEFT, _BOTTOM, _TOP = 36, 18, 8


@dataclass(frozen=True, kw_only=True)
class ChartWindow:
    """The minutes the chart covers: `minutes` whole minutes ending with the one holding `end`."""

    end: datetime
    minutes: int

    @property
    def first(self) -> datetime:
        last = self.end.replace(second=0, microsecond=0)
        return last - timedelta(minutes=self.minutes - 1)

    def slots(self) -> list[datetime]:
        return [self.first + timedelta(minutes=i) for i in range(self.minutes)]


def minute_key(moment: datetime) -> str:
    """The key counts are grouped by: 'YYYY-MM-DD HH:MM' in UTC."""
    return moment.strftime("%Y-%m-%d %H:%M")


def render_chart(counts: Mapping[tuple[str, str], int], window: ChartWindow) -> str:
    """An SVG of stacked bars; `counts` maps (minute_key, outcome) to a number of attempts."""
    slots = window.slots()
    totals = [sum(counts.get((minute_key(s), o), 0) for o, _ in OUTCOMES) for s in slots]
    peak = max([*totals, 1])
    plot_w, plot_h = WIDTH - _LEFT - 4, HEIGHT - _BOTTOM - _TOP
    bar_w = plot_w / len(slots)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" role="img" aria-label="Deliveries per minute by outcome">',
        f'<line x1="{_LEFT}" y1="{_TOP + plot_h}" x2="{WIDTH - 4}" y2="{_TOP + plot_h}" '
        'stroke="#999"/>',
        f'<text x="{_LEFT - 4}" y="{_TOP + 8}" text-anchor="end" font-size="10">{peak}</text>',
        f'<text x="{_LEFT - 4}" y="{_TOP + plot_h}" text-anchor="end" font-size="10">0</text>',
    ]
    for index, slot in enumerate(slots):
        x = _LEFT + index * bar_w
        key = minute_key(slot)
        y = float(_TOP + plot_h)
        for outcome, colour in OUTCOMES:
            value = counts.get((key, outcome), 0)
            if not value:
                continue
            height = plot_h * value / peak
            y -= height
            parts.append(
                f'<rect x="{x:.2f}" y="{y:.2f}" width="{max(bar_w - 0.5, 0.5):.2f}" '
                f'height="{height:.2f}" fill="{colour}"><title>{escape(key)} {outcome}: '
                f"{value}</title></rect>"
            )
        # Hour marks let a reader place an incident without hovering.
        if slot.minute == 0 or (index == 0 and slot.minute <= 40):
            parts.append(f'<text x="{x:.2f}" y="{HEIGHT - 4}" font-size="10">{slot:%H:%M}</text>')
    parts.append("</svg>")
    return "".join(parts)


def legend() -> list[tuple[str, str]]:
    """(outcome, colour) pairs for the legend under the chart."""
    return list(OUTCOMES)
