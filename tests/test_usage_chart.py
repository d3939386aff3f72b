"""The 7-day GPU-hours chart (``hai_client.usage_chart``): the series from a ``by=day``
answer, the words of its aria-label, and the SVG (parsed as XML, bar heights checked
against the numbers). The same answers come from a real scheduler in
``tests/test_usage_charts_e2e.py`` and the browser test.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hai_client.usage_chart import Series, daily, describe, hours_text, svg

SVG = "{http://www.w3.org/2000/svg}"

ANSWER = {
    "since": "2026-12-03T12:00:00+00:00",
    "until": "2026-12-10T12:00:00+00:00",
    "rows": [
        {"day": "2026-12-03", "gpu_hours": 5.0, "node_hours": 1.0},  # partial, before the 7
        {"day": "2026-12-09", "gpu_hours": 16.0, "node_hours": 2.0},
        {"day": "2026-12-10", "gpu_hours": 0.0004, "node_hours": 0.0004},
    ],
    "cluster_days": [
        {"day": "2026-12-03", "gpu_hours": 7.0, "node_hours": 1.0},
        {"day": "2026-12-05", "gpu_hours": 2.5, "node_hours": 1.0},
        {"day": "2026-12-09", "gpu_hours": 32.0, "node_hours": 4.0},
        {"day": "2026-12-10", "gpu_hours": 0.0004, "node_hours": 0.0004},
    ],
}


def test_seven_utc_days_ending_at_until_with_zeros_filled_in() -> None:
    series = daily(ANSWER, user="alice")
    assert [d.day for d in series.days] == [f"2026-12-{n:02d}" for n in range(4, 11)]
    assert [d.mine for d in series.days] == [0, 0, 0, 0, 0, 16.0, 0.0004]
    assert [d.cluster for d in series.days] == [0, 2.5, 0, 0, 0, 32.0, 0.0004]
    assert series.mine == 16.0004 and series.cluster == 34.5004
    assert series.as_json()["days"][5] == {"day": "2026-12-09", "mine": 16.0, "cluster": 32.0}


def test_a_window_ending_at_midnight_ends_the_day_before() -> None:
    series = daily({**ANSWER, "until": "2026-12-10T00:00:00+00:00"})
    assert series.days[-1].day == "2026-12-09"


def test_hours_text_keeps_small_numbers_visible() -> None:
    assert [hours_text(x) for x in (0, 0.00042, 0.5, 3.256, 120.46)] == [
        "0",
        "0.0004",
        "0.50",
        "3.26",
        "120.5",
    ]


def test_the_svg_says_every_number_and_draws_bars_to_scale() -> None:
    series = daily(ANSWER, user="alice")
    root = ET.fromstring(svg(series))
    label = root.get("aria-label")
    assert root.get("role") == "img" and label == describe(series)
    assert root.find(f"{SVG}title").text == label
    assert "2026-12-09: 16.0 of 32.0" in label and "Total 16.0 of 34.5" in label
    days = root.findall(f"{SVG}g")
    assert [g.get("data-day") for g in days] == [d.day for d in series.days]
    heights = {
        (g.get("data-day"), r.get("class")): float(r.get("height"))
        for g in days
        for r in g
        if r.tag == f"{SVG}rect"
    }
    tallest = heights[("2026-12-09", "hai-usage-cluster")]
    assert heights[("2026-12-09", "hai-usage-mine")] == tallest / 2
    assert heights[("2026-12-05", "hai-usage-mine")] == 0
    assert heights[("2026-12-10", "hai-usage-mine")] == 1.0  # tiny, yet visible


def test_no_usage_is_one_line() -> None:
    empty = daily({"until": "2026-12-10T12:00:00+00:00", "rows": [], "cluster_days": []})
    assert empty == Series(None, empty.days) and empty.empty
    root = ET.fromstring(svg(empty))
    assert root.tag == "p" and root.text == "no usage data"
    assert "no usage data" in root.get("title")


def test_an_admin_looking_at_someone_else_sees_whose() -> None:
    assert describe(daily(ANSWER), "bob's").startswith("bob's GPU-hours per day")
