"""Browser test: JupyterLab's "HAI tasks" sidebar in Debian's chromium (playwright-core).

The real scheduler runs a chain submitted with ``hai-cli``; ``jupyter lab`` runs with HOME
set to the user's test folder (so the extension reads ``~/.hai/conf.yaml``). The Node
script ``tests/browser/lab_sidebar.mjs`` opens the sidebar, sees the chain running,
follows its log, stops it with the Stop button and saves screenshots in
``test-artifacts/``. ``make test`` installs chromium (apt) and playwright-core (npm,
without a browser download).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service_helpers import REPO, ServiceProcess, hai_cli, init_cli, scheduler_process
from tests.test_lab_server import jupyter_process

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
SCRIPT = REPO / "tests" / "browser" / "lab_sidebar.mjs"
ARTIFACTS = REPO / "test-artifacts"

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


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    with scheduler_process(tmp_path_factory.mktemp("browser-sched"), config=CONFIG) as svc:
        yield svc


def test_sidebar_follows_and_stops_a_cli_chain(service: ServiceProcess, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or not CHROMIUM.exists():
        pytest.skip("needs node and /usr/bin/chromium (make test installs chromium)")
    if not (REPO / "node_modules" / "playwright-core").is_dir():
        pytest.skip("needs playwright-core in node_modules (make install)")
    home = tmp_path / "alice"
    init_cli(home, service.url, service.tokens["alice"])
    (home / "ticker.py").write_text(TICKER)
    settings = home / ".jupyter/lab/user-settings/@jupyterlab/apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps(NOTIFICATION_SETTINGS))

    res = hai_cli(home, "python", "ticker.py", "--", "--name", "lab-e2e", "--json")
    assert res.returncode == 0, res.stderr
    chain_id = json.loads(res.stdout)["id"]

    with jupyter_process(home, app="lab", args=("--LabApp.expose_app_in_browser=True",)) as lab:
        run = subprocess.run(
            [node, str(SCRIPT)],
            env={
                "PATH": "/usr/bin:/bin",
                "HOME": str(home),
                "LAB_URL": lab.url,
                "LAB_TOKEN": lab.token,
                "CHAIN": "lab-e2e",
                "OUT_DIR": str(ARTIFACTS),
                "CHROMIUM": str(CHROMIUM),
            },
            cwd=str(REPO),
            capture_output=True,
            text=True,
            timeout=180,
        )
        lab_log = lab.log_tail()
    lines = run.stdout.strip().splitlines()
    assert lines, f"no output from the browser script:\n{run.stderr}\n{lab_log}"
    result = json.loads(lines[-1])
    print(f"\nscreenshots: {', '.join(result['screenshots'])}")
    assert run.returncode == 0 and result["ok"], (result, run.stderr[-3000:], lab_log)
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
