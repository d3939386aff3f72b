"""Browser tests: JupyterLab's "HAI tasks" sidebar and lease item in Debian's chromium.

The real scheduler runs a chain submitted with ``hai-cli``; ``jupyter lab`` runs with HOME
set to the user's test folder (so the extension reads ``~/.hai/conf.yaml``). The Node
script ``tests/browser/lab_sidebar.mjs`` opens the sidebar, sees the chain running,
follows its log, stops it with the Stop button and saves screenshots in
``test-artifacts/``. ``tests/browser/lab_lease.mjs`` checks the status-bar lease item:
time left and Renew for a mig-gpu server, the red warning and notification for a spot
server being reclaimed. ``make test`` installs chromium (apt) and playwright-core (npm,
without a browser download).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser_helpers import ARTIFACTS, run_browser_script
from tests.service_helpers import ServiceProcess, hai_cli, init_cli, scheduler_process
from tests.test_lab_server import jupyter_process

pytestmark = pytest.mark.slow


CONFIG = """\
c.SchedulerApp.tick_seconds = 0.2
c.SchedulerApp.stop_grace_seconds = 3.0
c.LocalBackend.nodes = [{"name": "node-a", "group": "default", "gpus": 1}]
"""

TICKER = """\
import time
for i in range(1, 601):
    print(f"tick {i}", flush=True)
    time.sleep(0.2)
"""

# no "news" question or update check popping over the page
NOTIFICATION_SETTINGS = {"fetchNews": "false", "checkForUpdates": False}


def _quiet_lab_settings(home: Path) -> None:
    settings = home / ".jupyter/lab/user-settings/@jupyterlab/apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps(NOTIFICATION_SETTINGS))


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    with scheduler_process(tmp_path_factory.mktemp("browser-sched"), config=CONFIG) as svc:
        yield svc


def test_sidebar_follows_and_stops_a_cli_chain(service: ServiceProcess, tmp_path: Path) -> None:
    home = tmp_path / "alice"
    init_cli(home, service.url, service.tokens["alice"])
    (home / "ticker.py").write_text(TICKER)
    _quiet_lab_settings(home)

    res = hai_cli(home, "python", "ticker.py", "--", "--name", "lab-e2e", "--json")
    assert res.returncode == 0, res.stderr
    chain_id = json.loads(res.stdout)["id"]

    with jupyter_process(home, app="lab", args=("--LabApp.expose_app_in_browser=True",)) as lab:
        result, stderr = run_browser_script(
            "lab_sidebar",
            {"HOME": str(home), "LAB_URL": lab.url, "LAB_TOKEN": lab.token, "CHAIN": "lab-e2e"},
        )
        lab_log = lab.log_tail()
    assert result["ok"], (result, stderr, lab_log)
    assert "lab-e2e" in result["row_text"] and "running" in result["row_text"]
    assert result["lines_after"] >= result["lines_before"] + 5
    assert result["last_line"].startswith("tick ")
    assert result["final_badge"] == "stopped"
    assert "end of log" in result["log_state"]
    assert result["dark_sidebar_background"] != "rgb(255, 255, 255)"
    assert (ARTIFACTS / "lab-sidebar.png").stat().st_size > 10_000
    hai_errors = [e for e in result["console_errors"] if "/hai/" in e or "hai-hub" in e]
    assert not hai_errors, hai_errors

    assert "node" in result["nodes_error"], result["nodes_error"]
    assert "Submitted chain" in result["submit_message"]

    status = json.loads(hai_cli(home, "status", str(chain_id), "--json").stdout)
    assert status["state"] == "finished" and status["stop_code"] == "stopped_by_user"
    from_lab = json.loads(hai_cli(home, "status", "from-lab", "--json").stdout)
    assert from_lab["owner"] == "alice"
    assert hai_cli(home, "stop", "from-lab").returncode == 0


LEASE_CONFIG = """\
c.SchedulerApp.tick_seconds = 0.2
c.SchedulerApp.stop_grace_seconds = 3.0
c.LocalBackend.nodes = [
    {"name": "node-a", "group": "default", "gpus": 1},
    {"name": "node-b", "group": "default", "gpus": 1},
    {"name": "j0", "group": "jupyter", "gpus": ["MIG-1"]},
]
c.DevServerManager.lease_seconds = 600
c.DevServerManager.spot_grace_seconds = 240
"""


def test_status_bar_lease_renew_and_spot_reclaim_warning(tmp_path: Path) -> None:
    with scheduler_process(tmp_path / "sched", config=LEASE_CONFIG) as svc:
        home = tmp_path / "alice"
        init_cli(home, svc.url, svc.tokens["alice"])
        _quiet_lab_settings(home)
        admin = {"Authorization": f"token {svc.tokens['admin']}"}

        def devserver(method: str, body: dict[str, Any] | None = None) -> httpx.Response:
            path = "devservers" if method == "POST" else "devservers/alice"
            return httpx.request(
                method, f"{svc.url}api/v1/{path}", json=body, headers=admin, timeout=30
            )

        assert devserver("POST", {"user": "alice", "profile": "mig-gpu"}).status_code == 201
        args = (
            "--HaiLabConfig.hub_user=alice",  # as JUPYTERHUB_USER under the hub
            "--HaiLabConfig.lease_poll_seconds=1",
        )
        with jupyter_process(home, app="lab", args=args) as lab:
            mig, stderr = run_browser_script(
                "lab_lease",
                {"HOME": str(home), "LAB_URL": lab.url, "LAB_TOKEN": lab.token, "MODE": "mig"},
            )
            assert mig["ok"], (mig, stderr, lab.log_tail())
            assert mig["text"].startswith("Lease 9m") or mig["text"].startswith("Lease 10m")
            assert "mig-gpu on j0" in mig["title"]
            assert "Lease renewed" in mig["toast"]

            # the same server, now a spot server whose node a 2-node chain needs
            assert devserver("DELETE").status_code == 204
            spot = devserver("POST", {"user": "alice", "profile": "spot"})
            assert spot.status_code == 201, spot.text
            (home / "ticker.py").write_text(TICKER)
            res = hai_cli(home, "python", "ticker.py", "--", "-n", "2", "--name", "big")
            assert res.returncode == 0, res.stderr
            deadline = time.monotonic() + 30
            while devserver("GET").json()["state"] != "reclaiming":
                assert time.monotonic() < deadline, devserver("GET").json()
                time.sleep(0.2)
            reclaim, stderr = run_browser_script(
                "lab_lease",
                {"HOME": str(home), "LAB_URL": lab.url, "LAB_TOKEN": lab.token, "MODE": "spot"},
            )
            assert reclaim["ok"], (reclaim, stderr, lab.log_tail())
            assert reclaim["text"].startswith("⚠ Spot reclaim in 3m")
            assert reclaim["renew_visible"] is False
            assert "save your work" in reclaim["toast"]
            assert "a training chain needs the node" in reclaim["toast"]
        hai_cli(home, "stop", "big")


def test_a_new_haienv_kernel_appears_in_the_launcher_without_reload(tmp_path: Path) -> None:
    """The lab refreshes kernel specs every few seconds: an env made while the page is open
    (as `haienv create demo -y` in its terminal would) shows up within seconds."""
    import subprocess

    from tests.browser_helpers import need_browser
    from tests.haienv_fixtures import fake_env

    home = tmp_path / "carol"
    home.mkdir()
    _quiet_lab_settings(home)
    root = tmp_path / "envs"
    env = {"HAIENV_ROOT": str(root), "HAIENV_USER": "carol"}
    with jupyter_process(home, app="lab", env=env) as lab:
        script = Path(__file__).with_name("browser") / "lab_kernels.mjs"
        proc = subprocess.Popen(
            [need_browser(), str(script)],
            env={
                **os.environ,
                "LAB_URL": lab.url,
                "LAB_TOKEN": lab.token,
                "KERNEL_NAME": "demo-fresh",
                "OUT_DIR": str(ARTIFACTS),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().strip() == "LOADED", proc.stderr.read()
        fake_env(root, "demo-fresh", user="carol", ipykernel=True)
        out, err = proc.communicate(timeout=90)
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["ok"], (seen, err[-2000:])
    assert seen["before"] == 0 and seen["seconds"] < 15, seen
