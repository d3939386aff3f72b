"""The GPU-hours chart's data where people see it, against a real scheduler whose chains
ran: the lab server extension's ``GET /hai/usage`` (a real ``jupyter server``) and
``%hai usage`` (in-process, :class:`~hai_client.magics.MagicCommands`). Both must say
what ``GET /usage?by=day&since=7d`` and ``GET /whoami`` say. The hub's home page and the
sidebar in a browser: ``tests/test_usage_charts_browser.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hai_client.client import HaiClient
from hai_client.magics import MagicCommands
from hai_client.usage_chart import daily, hours_text
from tests.service_helpers import ServiceProcess, hai_cli, init_cli, scheduler_process
from tests.test_lab_server import jupyter_process

pytestmark = pytest.mark.slow

CONFIG = """\
c.SchedulerApp.tick_seconds = 0.2
c.LocalBackend.nodes = [
    {"name": "node-a", "group": "default", "gpus": 2},
    {"name": "node-b", "group": "default", "gpus": 1},
]
"""

NAP = "import time; time.sleep(2.0); print('slept', flush=True)\n"


def run_to_the_end(home: Path, name: str, *opts: str) -> dict:
    """Submit ``nap.py`` as ``name`` and wait until it finished; its final status."""
    res = hai_cli(home, "python", "nap.py", "--", "--name", name, *opts)
    assert res.returncode == 0, res.stderr
    deadline = time.monotonic() + 60
    while True:
        status = json.loads(hai_cli(home, "status", name, "--json").stdout)
        if status["state"] == "finished":
            why = hai_cli(home, "status", name).stdout + hai_cli(home, "logs", name).stdout
            assert status["stop_code"] == "succeeded", why
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.3)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServiceProcess, Path]]:
    """alice ran one chain on a 2-GPU node, bob one on a 1-GPU node: both finished."""
    with scheduler_process(tmp_path_factory.mktemp("usage-sched"), config=CONFIG) as svc:
        homes = {}
        for user in ("alice", "bob"):
            home = tmp_path_factory.mktemp(user)
            init_cli(home, svc.url, svc.tokens[user])
            (home / "nap.py").write_text(NAP)
            homes[user] = home
        run_to_the_end(homes["alice"], "nap-a", "--gpus", "2")
        run_to_the_end(homes["bob"], "nap-b", "--gpus", "1")
        yield svc, homes["alice"]


def scheduler_says(svc: ServiceProcess) -> tuple[dict, dict]:
    with HaiClient(svc.url, svc.tokens["alice"]) as hai:
        return hai.usage(by="day", since="7d", user="alice"), hai.whoami().usage["gpu_hours"]


def test_the_lab_route_gives_the_schedulers_days(ran: tuple[ServiceProcess, Path]) -> None:
    svc, home = ran
    usage, _ = scheduler_says(svc)
    with jupyter_process(home) as lab:
        assert lab.get("hai/usage", token=False).status_code == 403
        answer = lab.get("hai/usage")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body == daily(usage, user="alice").as_json()
    today = body["days"][-1]
    assert today["day"] == usage["until"][:10]
    assert today["mine"] == usage["rows"][-1]["gpu_hours"] > 0
    # bob's chain counts for the cluster, not for alice
    assert today["cluster"] == usage["cluster_days"][-1]["gpu_hours"] > today["mine"]
    assert body["mine"] == pytest.approx(usage["total"]["gpu_hours"])


def test_hai_usage_shows_whoamis_windows_and_the_chart(ran: tuple[ServiceProcess, Path]) -> None:
    svc, _ = ran
    usage, recent = scheduler_says(svc)
    commands = MagicCommands(client_factory=lambda: HaiClient(svc.url, svc.tokens["alice"]))
    view = commands.usage()
    assert view.name == "alice" and view.recent == recent
    assert view.series == daily(usage, user="alice")
    page = view._repr_html_()
    for key in ("today", "7d", "30d"):
        mine = hours_text(recent[key]["gpu_hours"])
        assert f'<tr data-window="{key}"><td>' in page
        assert f'<td class="hai-mine">{mine}</td>' in page
    assert recent["today"]["gpu_hours"] > 0
    assert 'role="img"' in page and "aria-label=" in page
    assert hours_text(recent["7d"]["gpu_hours"]) in repr(view)


def test_the_chain_details_carry_the_chains_gpu_time(ran: tuple[ServiceProcess, Path]) -> None:
    """GPU time from the chain JSON (rank times x the chain's GPUs per node) is what the
    accounting counted for it: alice's one chain is all her usage."""
    svc, home = ran
    usage, _ = scheduler_says(svc)
    with jupyter_process(home) as lab:
        detail = lab.get("hai/chains/nap-a").json()
    assert detail["gpus_per_node"] == 2
    assert detail["gpu_time"]["running"] == []
    hours = detail["gpu_time"]["gpu_seconds"] / 3600
    assert hours == pytest.approx(usage["total"]["gpu_hours"], abs=1e-5)
