"""kill -9 the real scheduler mid-run, start it again: every chain is still there, exactly
once, and the running ones were adopted, not restarted."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.service_helpers import hai_cli, init_cli, scheduler_process, wait_for

pytestmark = pytest.mark.slow

CONFIG = """\
c.SchedulerApp.tick_seconds = 0.2
c.LocalBackend.nodes = [
    {"name": "n0", "group": "default", "gpus": 1},
    {"name": "n1", "group": "default", "gpus": 1},
]
"""

COUNT = """\
import os, sys, time
for i in range(int(sys.argv[1])):
    print(f"line {i} pid {os.getpid()}", flush=True)
    time.sleep(0.1)
"""


def status(home: Path, name: str) -> dict:
    out = hai_cli(home, "status", name, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_scheduler_killed_with_sigkill_loses_and_duplicates_nothing(tmp_path):
    home = tmp_path / "home"
    script = tmp_path / "count.py"
    script.write_text(COUNT)
    with scheduler_process(tmp_path, config=CONFIG) as svc:
        init_cli(home, svc.url, svc.tokens["alice"])
        for name, lines in (("long", "60"), ("queued-a", "5"), ("queued-b", "5")):
            out = hai_cli(home, "python", str(script), lines, "--", "-n", "1", "--name", name)
            assert out.returncode == 0, out.stdout + out.stderr
        wait_for(lambda: status(home, "long")["state"] == "running", 20, "long to run")
        time.sleep(1.0)
        before = {
            c["name"]: c["id"] for c in json.loads(hai_cli(home, "list", "--json").stdout)["chains"]
        }
        os.kill(svc.proc.pid, signal.SIGKILL)  # no cleanup, no goodbye
        svc.proc.wait()
    # the rank supervisors were not children of a dying process group: they run on
    (tmp_path / "hai-port").unlink()  # the dead process's port, so we wait for the new one
    with scheduler_process(tmp_path, config=CONFIG) as svc2:
        init_cli(home, svc2.url, svc2.tokens["alice"])
        for name in before:
            wait_for(lambda n=name: status(home, n)["state"] == "finished", 60, f"{name} done")
        after = json.loads(hai_cli(home, "list", "--json").stdout)["chains"]
        assert sorted((c["name"], c["id"]) for c in after) == sorted(before.items()), (
            "the same chains, each once"
        )
        for name in before:
            st = status(home, name)
            assert st["stop_code"] == "succeeded", st
            assert len(st["jobs"]) == 1, f"{name} ran as one job: adopted, not restarted"
        logs = hai_cli(home, "logs", "long").stdout
        pids = {line.rsplit("pid ", 1)[1] for line in logs.splitlines() if " pid " in line}
        assert len(pids) == 1, "one process did all the work"
        assert sum(f"line {i} pid" in logs for i in range(60)) == 60, "no line lost"
