"""Seven days of GPU-hours, mine against the cluster's: the series and a plain SVG of it.

:func:`daily` turns one ``GET /usage?by=day&since=7d`` answer (its ``rows`` are one
user's days, its ``cluster_days`` everyone's) into the last ``days`` UTC days, zeros
filled in. :func:`svg` draws it as a small bar chart with no library and no script: the
hub's home page and the ``%hai usage`` view show it as is. The lab sidebar gets the same
series from its server extension and draws it in TypeScript (``src/usagechart.ts``, the
same layout and the same number format, :func:`hours_text`).
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import asdict, dataclass
from typing import Any

DAYS = 7
WIDTH, HEIGHT = 280, 96
_TOP, _BOTTOM = 14, 16  # room for the scale label above and the day letters below
WEEKDAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")  # as the sidebar prints them


@dataclass(frozen=True, slots=True)
class Day:
    """One UTC day: my GPU-hours and the whole cluster's (mine included)."""

    day: str
    mine: float
    cluster: float


@dataclass(frozen=True, slots=True)
class Series:
    """The chart's data: ``days`` oldest first, and whose they are."""

    user: str | None
    days: tuple[Day, ...]

    @property
    def mine(self) -> float:
        return round(sum(d.mine for d in self.days), 6)

    @property
    def cluster(self) -> float:
        return round(sum(d.cluster for d in self.days), 6)

    @property
    def empty(self) -> bool:
        return self.cluster == 0

    def as_json(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "days": [asdict(d) for d in self.days],
            "mine": self.mine,
            "cluster": self.cluster,
        }


def hours_text(hours: float) -> str:
    """GPU-hours as the charts print them: 0, 0.0042, 3.25, 120.5."""
    if hours == 0:
        return "0"
    if hours < 0.01:
        return f"{hours:.4f}"
    return f"{hours:.2f}" if hours < 10 else f"{hours:.1f}"


def daily(usage: dict[str, Any], user: str | None = None, days: int = DAYS) -> Series:
    """The last ``days`` UTC days up to the answer's ``until``, from a ``by=day`` answer."""
    until = dt.datetime.fromisoformat(usage["until"]).astimezone(dt.UTC)
    # a window that ends at 00:00 holds nothing of that day: its last day is the one before
    last = (until - dt.timedelta(microseconds=1)).date()
    mine = {r["day"]: float(r["gpu_hours"]) for r in usage.get("rows", []) if r.get("day")}
    cluster = {r["day"]: float(r["gpu_hours"]) for r in usage.get("cluster_days", [])}
    out = []
    for back in range(days - 1, -1, -1):
        day = (last - dt.timedelta(days=back)).isoformat()
        out.append(Day(day, mine.get(day, 0.0), max(cluster.get(day, 0.0), mine.get(day, 0.0))))
    return Series(user, tuple(out))


def describe(series: Series, who: str = "My") -> str:
    """The chart in words (its title and aria-label): every day's numbers."""
    if series.empty:
        return f"GPU-hours, last {len(series.days)} days: no usage data"
    per_day = "; ".join(
        f"{d.day}: {hours_text(d.mine)} of {hours_text(d.cluster)}" for d in series.days
    )
    return (
        f"{who} GPU-hours per day (UTC) of the cluster's, last {len(series.days)} days: "
        f"{per_day}. Total {hours_text(series.mine)} of {hours_text(series.cluster)}."
    )


def _bar(x: float, w: float, value: float, scale: float, cls: str, tip: str) -> str:
    plot = HEIGHT - _TOP - _BOTTOM
    h = 0.0 if scale == 0 else max(value / scale * plot, 1.0 if value > 0 else 0.0)
    y = HEIGHT - _BOTTOM - h
    return (
        f'<rect class="{cls}" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
        f'data-gpu-hours="{value}"><title>{html.escape(tip)}</title></rect>'
    )


def _column(i: int, d: Day, slot: float, scale: float) -> str:
    """One day: the cluster's bar, mine in front of it, the weekday under them."""
    x = i * slot
    weekday = WEEKDAYS[dt.date.fromisoformat(d.day).weekday()]
    cluster_tip = f"{d.day} cluster: {hours_text(d.cluster)} GPU-h"
    mine_tip = f"{d.day} mine: {hours_text(d.mine)} GPU-h"
    return (
        f'<g class="hai-usage-day" data-day="{d.day}">'
        + _bar(x + 2, slot - 4, d.cluster, scale, "hai-usage-cluster", cluster_tip)
        + _bar(x + slot * 0.3, slot * 0.4, d.mine, scale, "hai-usage-mine", mine_tip)
        + f'<text x="{x + slot / 2:.1f}" y="{HEIGHT - 4}" text-anchor="middle">{weekday}</text>'
        + "</g>"
    )


def svg(series: Series, who: str = "My", element_id: str = "hai-usage-chart") -> str:
    """The chart as an ``<svg>`` element (theme colours through CSS variables)."""
    text = html.escape(describe(series, who), quote=True)
    if series.empty:
        return f'<p id="{element_id}" class="hai-usage-empty" title="{text}">no usage data</p>'
    scale = max(d.cluster for d in series.days)
    style = (
        ".hai-usage-cluster{fill:var(--hai-usage-cluster,#c8d3e0)}"
        ".hai-usage-mine{fill:var(--hai-usage-mine,#1976d2)}"
        "text{font:10px sans-serif;fill:var(--hai-usage-text,#555)}"
    )
    return (
        f'<svg id="{element_id}" class="hai-usage-chart" role="img" aria-label="{text}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{text}</title><style>{style}</style>'
        f'<text x="0" y="10">max {hours_text(scale)} GPU-h/day</text>'
        + "".join(_column(i, d, WIDTH / len(series.days), scale) for i, d in enumerate(series.days))
        + "</svg>"
    )
