"""The GPU-hours chart in a real browser: the JupyterLab sidebar and the hub's home page.

The whole embedded platform runs (``running_hub``: JupyterHub, proxy, scheduler service);
alice (an admin: her chart must still be hers alone) runs a chain through the hub's
scheduler URL with her hub token, bob one too (the cluster's bars); ``jupyter lab`` runs
as alice (``~/.hai/conf.yaml`` from ``hai-cli init``).
``tests/browser/usage_charts.mjs`` opens the sidebar and the hub's home page in chromium,
reads each chart's aria-label, title and bars and saves screenshots in ``test-artifacts/``
(``lab-usage-chart.png``, ``hub-home-usage.png``). The numbers must be the scheduler's
(``GET /usage?by=day&since=7d`` asked here with alice's token). A missing chromium fails.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from hai_client.client import HaiClient
from hai_client.usage_chart import Series, daily
from tests.browser_helpers import ARTIFACTS, need_browser, run_browser_script
from tests.hub_helpers import running_hub
from tests.service_helpers import init_cli
from tests.test_lab_browser import _quiet_lab_settings
from tests.test_lab_server import jupyter_process
from tests.test_usage_charts_e2e import NAP, run_to_the_end

pytestmark = pytest.mark.slow

_DAY = re.compile(r"(\d{4}-\d\d-\d\d): (\d+(?:\.\d+)?) of (\d+(?:\.\d+)?)")


def digits(text: str) -> float:
    """Half a unit of the last printed digit: how far a printed number may be off."""
    return 0.5 * 10 ** -len(text.split(".")[1]) if "." in text else 0.5


def assert_chart_says(chart: dict, series: Series) -> None:
    assert chart["tag"] == "svg" and chart["role"] == "img", chart
    assert chart["label"] == chart["title"], chart
    printed = {day: (m, c) for day, m, c in _DAY.findall(chart["label"])}  # as printed
    assert list(printed) == [d.day for d in series.days], chart["label"]
    for d in series.days:
        mine, cluster = printed[d.day]
        assert abs(float(mine) - d.mine) <= digits(mine), (d, mine)
        assert abs(float(cluster) - d.cluster) <= digits(cluster), (d, cluster)
    bars = {(b["day"], b["kind"]): b["gpu_hours"] for b in chart["bars"]}
    for d in series.days:
        assert bars[(d.day, "hai-usage-mine")] == pytest.approx(d.mine, abs=1e-6)
        assert bars[(d.day, "hai-usage-cluster")] == pytest.approx(d.cluster, abs=1e-6)


def test_lab_sidebar_and_hub_home_show_my_gpu_hours(tmp_path: Path) -> None:
    need_browser()  # no chromium: fail before the platform starts, never skip
    with running_hub(tmp_path, HAI_ADMIN_USER="alice") as hub:
        alice_api = {"Authorization": f"token {hub.user_token('alice')}"}
        before = httpx.get(f"{hub.api}/hai/usage/alice", headers=alice_api, timeout=30)
        assert before.status_code == 200, before.text
        assert before.json()["series"]["cluster"] == 0  # nothing ran yet: one line
        assert before.json()["svg"].startswith('<p id="hai-usage-chart" class="hai-usage-empty"')
        homes = {}
        for user in ("alice", "bob"):
            home = tmp_path / f"{user}-home"
            init_cli(home, hub.scheduler_url, hub.user_token(user))
            (home / "nap.py").write_text(NAP)
            homes[user] = home
        run_to_the_end(homes["alice"], "nap-a", "--gpus", "2")
        run_to_the_end(homes["bob"], "nap-b", "--gpus", "1")
        _quiet_lab_settings(homes["alice"])

        # bob may not read alice's chart through the hub; she may
        bob = httpx.get(
            f"{hub.api}/hai/usage/alice",
            headers={"Authorization": f"token {hub.user_token('bob')}"},
            timeout=30,
        )
        assert bob.status_code == 404, bob.text

        with jupyter_process(homes["alice"], app="lab") as lab:
            seen, stderr = run_browser_script(
                "usage_charts",
                {
                    "LAB_URL": lab.url,
                    "LAB_TOKEN": lab.token,
                    "HUB_URL": hub.url,
                    "HUB_USER": "alice",
                    "HUB_PASSWORD": hub.password("alice"),
                    "CHAIN": "nap-a",
                },
            )
            lab_log = lab.log_tail()
        assert seen["ok"], (seen, stderr, lab_log, hub.log()[-3000:])
        with HaiClient(hub.scheduler_url, hub.user_token("alice")) as hai:
            series = daily(hai.usage(by="day", since="7d", user="alice"), user="alice")
        after = httpx.get(f"{hub.api}/hai/usage/alice", headers=alice_api, timeout=30).json()
    assert after["series"] == series.as_json()

    today = series.days[-1]
    assert today.mine > 0 and today.cluster > today.mine, series  # alice's and bob's chains
    assert_chart_says(seen["lab"], series)
    assert_chart_says(seen["hub"], series)
    assert seen["lab"]["label"].startswith("My GPU-hours per day")
    assert seen["hub"]["label"].startswith("My GPU-hours per day")
    # alice ran one chain today: its GPU time (from its ranks) is her day's (the rollup's)
    shown = re.fullmatch(r"GPU time (\d+(?:\.\d+)?) GPU-h", seen["chain_gpu_time"])
    assert shown, seen["chain_gpu_time"]
    assert abs(float(shown[1]) - today.mine) <= digits(shown[1]) + 1e-6, (shown[1], today)
    for name in ("lab-usage-chart.png", "hub-home-usage.png"):
        assert (ARTIFACTS / name).stat().st_size > 5_000, name
    hai_errors = [e for e in seen["console_errors"] if "/hai/" in e or "hai-hub" in e]
    assert not hai_errors, hai_errors
