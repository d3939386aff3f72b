"""What ``%hai usage`` returns: my GPU-hours today / 7 days / 30 days (``whoami``'s
``usage.gpu_hours``) and the 7-day chart of :mod:`hai_client.usage_chart` — a table in a
terminal, a table and the SVG in a notebook.
"""

from __future__ import annotations

import html
from typing import Any

from hai_client.client import HaiClient
from hai_client.usage_chart import Series, daily, hours_text, svg

WINDOWS = (("today", "today (UTC)"), ("7d", "7 days"), ("30d", "30 days"))


class UsageView:
    """My recent GPU-hours (with the cluster's and my share) and the last 7 days."""

    def __init__(self, name: str, recent: dict[str, dict[str, Any]], series: Series) -> None:
        self.name = name
        self.recent = recent
        self.series = series

    @classmethod
    def load(cls, hai: HaiClient) -> UsageView:
        me = hai.whoami()
        series = daily(hai.usage(by="day", since="7d", user=me.name), user=me.name)
        return cls(me.name, me.usage.get("gpu_hours") or {}, series)

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(window, mine, cluster, share) as printed."""
        out = []
        for key, label in WINDOWS:
            w = self.recent.get(key) or {}
            share = w.get("share")
            out.append(
                (
                    label,
                    hours_text(float(w.get("gpu_hours") or 0)),
                    hours_text(float(w.get("cluster_gpu_hours") or 0)),
                    "-" if share is None else f"{share:.1%}",
                )
            )
        return out

    def __repr__(self) -> str:
        lines = [f"GPU-hours of {self.name}:  window  mine  cluster  share"]
        lines += [f"  {w:<12} {m:>9} {c:>9} {s:>7}" for w, m, c, s in self.rows()]
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def _repr_html_(self) -> str:
        cells = "".join(
            f'<tr data-window="{key}"><td>{html.escape(w)}</td><td class="hai-mine">{m}</td>'
            f"<td>{c}</td><td>{s}</td></tr>"
            for (key, _), (w, m, c, s) in zip(WINDOWS, self.rows(), strict=True)
        )
        return (
            f'<div class="hai-usage"><b>GPU-hours of {html.escape(self.name)}</b>'
            "<table><tr><th></th><th>mine</th><th>cluster</th><th>my share</th></tr>"
            f"{cells}</table>{svg(self.series)}</div>"
        )
