"""End to end: the real ``hai-scheduler`` (loop + local backend) on loopback, driven only
through ``hai-cli`` in subprocesses.

Covers: a 2-rank chain followed to completion; preemption seen as ``suspended`` then
``running`` with suspend_count 1 (and the log continuing across the resume); stop, after
which the chain never comes back; error paths with one clear line and a non-zero exit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service_helpers import ServiceProcess, hai_cli, init_cli, scheduler_process

pytestmark = pytest.mark.slow

CONFIG = """\
c.SchedulerApp.tick_seconds = 0.2
c.SchedulerApp.stop_grace_seconds = 3.0
c.SchedulerApp.suspend_grace_seconds = 30.0
c.LocalBackend.nodes = [
    {"name": "node-a", "group": "default", "gpus": 1},
    {"name": "node-b", "group": "default", "gpus": 1},
]
"""

TRAIN = """\
import json, sys, time
from pathlib import Path
from hai_client import task

steps, pause = int(sys.argv[1]), float(sys.argv[2])
ckpt = Path(f"ckpt-{task.rank()}.json")
step = json.loads(ckpt.read_text())["step"] if task.is_resume() else 0
print(f"rank {task.rank()} of {task.world_size()} from step {step}", flush=True)
while step < steps:
    step += 1
    print(f"step {step}", flush=True)
    time.sleep(pause)
    if task.receive_suspend_command():
        ckpt.write_text(json.dumps({"step": step}))
        print(f"checkpoint at step {step}", flush=True)
        task.go_suspend()
        sys.exit(0)
print("done", flush=True)
"""


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    tmp = tmp_path_factory.mktemp("e2e")
    with scheduler_process(tmp, config=CONFIG) as svc:
        yield svc


@pytest.fixture(scope="module")
def home(service: ServiceProcess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("alice-home")
    init_cli(home, service.url, service.tokens["alice"])
    (home / "train.py").write_text(TRAIN)
    return home


def cli(home: Path, *args: str, **kw: Any) -> str:
    res = hai_cli(home, *args, **kw)
    assert res.returncode == 0, (args, res.stdout, res.stderr)
    return res.stdout


def status(home: Path, ref: str) -> dict[str, Any]:
    return json.loads(cli(home, "status", ref, "--json"))


def wait_for(
    home: Path, ref: str, check: Any, what: str, service: ServiceProcess, timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        chain = status(home, ref)
        if check(chain):
            return chain
        if time.monotonic() > deadline:
            raise AssertionError(f"{ref}: never {what}; last {chain}\n{service.log_tail()}")
        time.sleep(0.2)


def test_two_rank_chain_followed_to_completion(service: ServiceProcess, home: Path) -> None:
    out = cli(home, "python", "train.py", "5", "0.05", "--", "-n", "2", "--name", "two")
    assert "Submitted chain" in out and "2 node(s)" in out
    res = hai_cli(home, "logs", "two", "-f", timeout=90)
    assert res.returncode == 0, (res.stdout, res.stderr, service.log_tail())
    head, _, body = res.stdout.partition("rank 0 of 2 from step 0")
    assert "chain_status" in head  # the status header comes first
    assert "step 5" in body and "done" in body
    assert "finished (succeeded)" in res.stderr
    assert "rank 1 of 2" in cli(home, "logs", "two", "--rank", "1")
    chain = status(home, "two")
    assert chain["state"] == "finished" and chain["stop_code"] == "succeeded"
    ranks = chain["jobs"][0]["ranks"]
    assert sorted(r["node"] for r in ranks) == ["node-a", "node-b"]
    assert all(r["state"] == "succeeded" and r["exit_code"] == 0 for r in ranks)
    listing = cli(home, "list")
    assert "two" in listing and "finished" in listing and "page 1 of 1" in listing


def test_preemption_shows_suspended_then_running_with_one_suspend(
    service: ServiceProcess, home: Path
) -> None:
    cli(
        home,
        "python",
        "train.py",
        "60",
        "0.1",
        "--",
        "-n",
        "2",
        "--name",
        "low",
        "--priority",
        "LOW",
    )
    wait_for(home, "low", lambda c: c["state"] == "running", "running", service)
    cli(
        home,
        "python",
        "train.py",
        "15",
        "0.1",
        "--",
        "-n",
        "2",
        "--name",
        "high",
        "--priority",
        "HIGH",
    )
    seen: list[tuple[str, int]] = []

    def resumed(chain: dict[str, Any]) -> bool:
        entry = (chain["state"], chain["suspend_count"])
        if not seen or seen[-1] != entry:
            seen.append(entry)
        return chain["state"] == "running" and chain["suspend_count"] == 1

    wait_for(home, "low", resumed, "resumed", service, timeout=90)
    assert ("suspended", 1) in seen, seen
    assert seen.index(("suspended", 1)) < seen.index(("running", 1)), seen
    high = status(home, "high")
    assert high["state"] == "finished" and high["stop_code"] == "succeeded"
    res = hai_cli(home, "logs", "low", "-f", timeout=120)
    assert res.returncode == 0, (res.stdout, res.stderr)
    text = res.stdout
    assert "checkpoint at step" in text
    assert "--- job 1 (resumed) ---" in text
    after = text.split("--- job 1 (resumed) ---", 1)[1]
    assert "rank 0 of 2 from step" in after and "done" in after
    low = status(home, "low")
    assert low["state"] == "finished" and low["suspend_count"] == 1
    assert [j["stop_code"] for j in low["jobs"]] == ["preempted", "succeeded"]
    assert "suspend_count" in cli(home, "status", "low")


def test_stop_ends_the_chain_for_good(service: ServiceProcess, home: Path) -> None:
    cli(home, "python", "train.py", "100000", "0.1", "--", "--name", "forever")
    wait_for(home, "forever", lambda c: c["state"] == "running", "running", service)
    assert "stop requested" in cli(home, "stop", "forever")
    chain = wait_for(home, "forever", lambda c: c["state"] == "finished", "finished", service)
    assert chain["stop_code"] == "stopped_by_user"
    time.sleep(2.0)  # several ticks later it has not come back
    again = status(home, "forever")
    assert again["state"] == "finished" and len(again["jobs"]) == 1
    running = json.loads(cli(home, "list", "--state", "running,waiting_init,suspended", "--json"))
    assert all(c["name"] != "forever" for c in running["chains"])
    res = hai_cli(home, "stop", "forever")
    assert res.returncode != 0 and "has finished" in res.stderr


def test_error_paths_print_one_line_and_exit_non_zero(
    service: ServiceProcess, home: Path, tmp_path: Path
) -> None:
    def error(h: Path, *args: str) -> str:
        res = hai_cli(h, *args)
        assert res.returncode != 0, (args, res.stdout)
        lines = res.stderr.strip().splitlines()
        assert lines[0].startswith("Error: ") and "Traceback" not in res.stderr
        return res.stderr

    assert "no chain 'ghost'" in error(home, "status", "ghost")
    assert "no chain 'ghost'" in error(home, "logs", "ghost", "-f")
    (home / "bad.yaml").write_text("name: bad\nspec:\n  entrypont: train.py\n")
    assert "line 3: spec.entrypont: unknown field" in error(home, "run", "bad.yaml")
    assert "page_size" in error(home, "list", "--page_size", "100")
    assert "unknown group" in error(home, "python", "train.py", "--", "--group", "nope")
    assert "priority" in error(home, "python", "train.py", "--", "--priority", "URGENT")
    assert "128" in error(home, "python", "train.py", "--", "--name", "n" * 200)
    bob = tmp_path / "bob"
    init_cli(bob, service.url, service.tokens["bob"])
    assert "no chain" in error(bob, "status", "two")
    assert "no chain" in error(bob, "stop", "low")
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    cli(stranger, "init", "bad-token", "--url", service.url, "--no-check")
    assert "refused the token" in error(stranger, "list")
    cli(stranger, "init", "t", "--url", "http://127.0.0.1:9/", "--no-check")
    assert "cannot reach the HAI scheduler" in error(stranger, "list")


DEEP = """\
import time


def deep_work():
    while True:
        time.sleep(0.05)


print("working", flush=True)
deep_work()
"""


def test_prof_and_ssh_reach_the_running_rank(service: ServiceProcess, home: Path) -> None:
    (home / "deep.py").write_text(DEEP)
    cli(home, "python", "deep.py", "--", "--name", "deep", "--priority", "HIGH")
    wait_for(home, "deep", lambda c: c["state"] == "running", "running", service)
    deadline = time.monotonic() + 20
    while "working" not in cli(home, "logs", "deep") and time.monotonic() < deadline:
        time.sleep(0.2)
    dump = hai_cli(home, "prof", "deep")
    assert dump.returncode == 0, dump.stdout + dump.stderr
    assert "deep_work" in dump.stdout and "deep.py" in dump.stdout
    shell = hai_cli(
        home,
        "ssh",
        "deep",
        env={"SHELL": "/bin/bash"},
        input='echo "rank=$RANK chain=$HAI_CHAIN_NAME"; pwd; exit\n',
    )
    assert shell.returncode == 0, shell.stderr
    assert "rank=0 chain=deep" in shell.stdout
    assert str(home) in shell.stdout  # the rank's working directory
    cli(home, "stop", "deep")
    wait_for(home, "deep", lambda c: c["state"] == "finished", "finished", service)
