"""The local backend's batched rank starts through its fork server (a real launcher
process, real supervisors, real rank processes)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from traitlets.config import Config

from scheduler.backends.base import RankKey, RankLaunch
from scheduler.backends.local import backend as local_backend
from scheduler.backends.local import control, proctree, runner
from scheduler.backends.local.backend import LocalBackend
from scheduler.backends.local.proctree import RankTree


def backend(folder: Path, mode: str = "service", **accounts: str) -> LocalBackend:
    """A one-node backend with its data under ``folder``; ranks run as ``mode`` says
    (``SystemAccounts``: service, anyone as the service's account; create, accounts made
    with the other traits given)."""
    config = Config()
    config.SystemAccounts.mode = mode
    config.SystemAccounts.service_users = ["*"]
    for trait, value in accounts.items():
        setattr(config.SystemAccounts, trait, value)
    return LocalBackend(
        config=config,
        data_dir=str(folder / "data"),
        nodes=[{"name": "n0", "group": "default", "gpus": 1}],
    )


def launch(chain: int, workspace: Path, script: str = "") -> RankLaunch:
    return RankLaunch(
        key=RankKey(chain, 0, 0),
        world_size=1,
        node="n0",
        master_node="n0",
        entrypoint="sh",
        parameters=("-c", script or f"echo chain {chain}"),
        env={},
        workspace=str(workspace),
        owner="alice",
    )


def wait_exit(b: LocalBackend, key: RankKey, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        outcome = control.read_json(b.control_dir(key) / control.EXIT)
        if outcome is not None:
            return outcome
        time.sleep(0.05)
    raise AssertionError(f"rank {key} did not end")


def test_a_batch_of_ranks_each_gets_its_own_supervisor(tmp_path: Path) -> None:
    b = backend(tmp_path)
    handles = b.start_ranks([launch(chain, tmp_path) for chain in range(1, 6)])
    assert all(isinstance(h, dict) for h in handles), handles
    assert len({h["runner_pid"] for h in handles}) == 5
    for chain, handle in enumerate(handles, start=1):
        key = RankKey(chain, 0, 0)
        assert wait_exit(b, key)["exit_code"] == 0
        runner = json.loads((b.control_dir(key) / control.RUNNER).read_text())
        assert runner["pid"] == handle["runner_pid"]  # each answer paired with its rank
        assert b.read_log(key).lines[0].text == f"chain {chain}"


def test_a_fork_server_that_died_is_restarted_and_the_ranks_still_start(
    tmp_path: Path,
) -> None:
    b = backend(tmp_path)
    first = b.start_ranks([launch(1, tmp_path)])[0]
    assert isinstance(first, dict)
    b._launcher.kill()
    b._launcher.wait()
    handles = b.start_ranks([launch(chain, tmp_path) for chain in (2, 3)])
    assert all(isinstance(h, dict) for h in handles), handles
    for chain in (1, 2, 3):
        assert wait_exit(b, RankKey(chain, 0, 0))["exit_code"] == 0


def test_a_fork_server_that_dies_in_the_middle_of_a_batch_is_given_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed right after it was handed the batch's first rank: the answers are missing,
    so a new server is started and given every rank it did not answer; each rank runs
    once (a second supervisor of a rank whose first one did start gives way to it)."""
    b = backend(tmp_path)
    hand_over = local_backend._hand_over
    killed: list[int] = []

    def hand_over_then_die(launcher, cdirs):
        hand_over(launcher, cdirs)
        if not killed:
            killed.append(launcher.pid)
            launcher.kill()
            launcher.wait()

    monkeypatch.setattr(local_backend, "_hand_over", hand_over_then_die)
    handles = b.start_ranks([launch(chain, tmp_path) for chain in (1, 2)])
    assert killed and b._launcher.pid != killed[0]
    assert all(isinstance(h, dict) for h in handles), handles
    for chain in (1, 2):
        key = RankKey(chain, 0, 0)
        assert wait_exit(b, key)["exit_code"] == 0
        assert [line.text for line in b.read_log(key).lines] == [f"chain {chain}"]


def test_a_rank_that_cannot_be_prepared_fails_alone(tmp_path: Path) -> None:
    b = backend(tmp_path)
    bad = dataclasses.replace(launch(2, tmp_path), workspace="relative/path")
    handles = b.start_ranks([launch(1, tmp_path), bad, launch(3, tmp_path)])
    assert isinstance(handles[1], RuntimeError) and "absolute" in str(handles[1])
    for chain in (1, 3):
        assert wait_exit(b, RankKey(chain, 0, 0))["exit_code"] == 0


def test_a_rank_that_started_wakes_the_loop(tmp_path: Path) -> None:
    """Its supervisor wakes the loop once the command runs, so the rank shows as running
    at once (``hai-cli prof`` right after its first output line), not at the next tick."""
    b = backend(tmp_path)
    channel = b.wake_channel()
    assert channel is not None
    channel.settimeout(20)
    key = RankKey(1, 0, 0)
    handle = b.start_ranks([launch(1, tmp_path, "sleep 60")])[0]
    try:
        channel.recv(16)
        assert b.poll_rank(key, handle).phase == "running"
    finally:
        b.terminate(key, handle, force=True)
        channel.close()
    assert wait_exit(b, key)["exit_code"] == 137


def test_an_ended_ranks_empty_process_group_is_not_searched_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reading every process's stat costs each ending rank ~2 ms on a busy machine; a
    process group with no member answers a signal 0 with ESRCH, and that is all."""
    scanned: list[str] = []
    real_scandir = os.scandir

    def counting_scandir(path):
        scanned.append(str(path))
        return real_scandir(path)

    monkeypatch.setattr(proctree.os, "scandir", counting_scandir)
    ended = subprocess.Popen(["true"], start_new_session=True)
    ended.wait()
    assert RankTree("no-such-rank", pgid=ended.pid).pids() == set()
    assert scanned == []
    live = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        assert RankTree("no-such-rank", pgid=live.pid).pids() == {live.pid}
        assert scanned == ["/proc"]
    finally:
        live.kill()
        live.wait()


def test_the_command_starts_in_the_workspace_without_python_in_its_fork(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``preexec_fn`` (or ``cwd=``, entered as the service) would run in the fork; the
    supervisor enters the workspace itself and the command inherits it."""
    seen: dict = {}
    real_popen = subprocess.Popen

    def recording_popen(argv, **kwargs):
        seen.update(kwargs, cwd_at_fork=os.getcwd())
        return real_popen(argv, **kwargs)

    monkeypatch.setattr(runner.subprocess, "Popen", recording_popen)
    tree = RankTree(f"test-workspace-{os.getpid()}")
    spec = {"argv": ["pwd"], "env": {}, "cwd": str(tmp_path)}
    here = os.getcwd()
    proc = runner._start(spec, None, tree)
    assert proc.stdout.read().decode().strip() == str(tmp_path)
    proc.wait()
    assert tree.kill_all()  # and its cgroup (where there is one) is removed
    assert "preexec_fn" not in seen and "cwd" not in seen
    assert seen["cwd_at_fork"] == str(tmp_path) and os.getcwd() == here


@pytest.mark.parametrize("mode", ["service", "create"])
def test_a_suspend_asked_before_the_supervisor_made_the_task_folder_reaches_the_rank(
    base: Path, mode: str
) -> None:
    """The supervisor makes the rank's task folder; a suspend the loop asks for before
    that makes the folder itself, the same way (the owner's, 0700), and the rank sees it."""
    # under ``base``, the owner can cross to its task folder; its accounts go with it
    b = backend(base, mode, prefix=f"hai-t{base.name[-6:]}-", home_root=str(base / "home"))
    account = b.accounts.resolve("alice")
    key = RankKey(1, 0, 0)
    owner = None if account.is_service else {"uid": account.uid, "gid": account.gid}
    b.request_suspend(key, {"isolated": owner is not None, "account": account.name, "owner": owner})
    tdir = b.task_dir(key)
    assert (tdir.stat().st_uid, tdir.stat().st_mode & 0o777) == (account.uid, 0o700)
    script = 'test -e "$HAI_CONTROL_DIR/suspend" && echo asked to suspend'
    handle = b.start_ranks([launch(1, base, script)])[0]
    assert isinstance(handle, dict), handle
    assert wait_exit(b, key)["exit_code"] == 0
    assert [line.text for line in b.read_log(key).lines] == ["asked to suspend"]
    assert (tdir.stat().st_uid, tdir.stat().st_mode & 0o777) == (account.uid, 0o700)


def test_a_rank_whose_task_folder_cannot_be_made_fails_to_start_with_the_reason(
    tmp_path: Path,
) -> None:
    """The supervisor makes the task folder; when it cannot (here a file is in the way),
    the rank's init fails with the reason, as for a workspace it cannot enter."""
    b = backend(tmp_path)
    b.start_ranks([launch(1, tmp_path)])  # makes the data folder's own folders
    assert wait_exit(b, RankKey(1, 0, 0))["exit_code"] == 0
    (tmp_path / "data" / "tasks" / "2").write_text("in the way")
    handle = b.start_ranks([launch(2, tmp_path)])[0]
    assert isinstance(handle, dict), handle
    outcome = wait_exit(b, RankKey(2, 0, 0))
    assert outcome["init_failed"] and outcome["exit_code"] == 127
    assert "cannot make the rank's folder" in outcome["reason"], outcome


def test_a_second_supervisor_of_a_live_rank_gives_way_and_no_lock_file_is_made(
    tmp_path: Path,
) -> None:
    """The live supervisor holds its rank's private folder itself (flock): a second one
    started for the same rank (a fork server given the rank again) stops at once, and
    the folder gains no lock file."""
    b = backend(tmp_path)
    key = RankKey(1, 0, 0)
    script = 'while [ ! -e "$HAI_CONTROL_DIR/go" ]; do sleep 0.05; done; echo done'
    assert isinstance(b.start_ranks([launch(1, tmp_path, script)])[0], dict)
    cdir = b.control_dir(key)
    deadline = time.monotonic() + 30
    while not (cdir / control.CHILD_PID).exists():
        assert time.monotonic() < deadline, "the rank did not start"
        time.sleep(0.05)
    second = subprocess.run(  # the same entry the fork server's child runs
        [sys.executable, "-c", "import sys; from pathlib import Path; "
         "from scheduler.backends.local import runner; "
         f"sys.exit(runner.run(Path({str(cdir)!r})))"],
        capture_output=True, text=True, timeout=30, cwd=Path(__file__).parents[1],
    )  # fmt: skip
    assert second.returncode == 3 and "another supervisor holds" in second.stderr, second
    (b.task_dir(key) / "go").touch()
    assert wait_exit(b, key)["exit_code"] == 0
    assert [line.text for line in b.read_log(key).lines] == ["done"], "ran once"
    assert "lock" not in os.listdir(cdir) and "runner.err" not in os.listdir(cdir)


def test_a_supervisor_that_breaks_says_so_in_the_one_errors_file_naming_its_rank(
    tmp_path: Path,
) -> None:
    """Supervisors share the fork server's stderr, the backend's ``supervisors.err``: one
    file for all ranks, not one per rank, and each message names its rank's folder."""
    b = backend(tmp_path)
    assert isinstance(b.start_ranks([launch(1, tmp_path)])[0], dict)
    assert wait_exit(b, RankKey(1, 0, 0))["exit_code"] == 0
    broken = tmp_path / "data" / "ranks" / "9" / "0" / "0"
    b._launcher.stdin.write(json.dumps({"control_dir": str(broken), "spec": {}}) + "\n")
    b._launcher.stdin.flush()
    int(b._launcher.stdout.readline())  # its pid: it forked, then failed
    errors = tmp_path / "data" / "ranks" / local_backend.SUPERVISOR_ERRORS
    deadline = time.monotonic() + 30
    while "KeyError" not in errors.read_text():
        assert time.monotonic() < deadline, errors.read_text()
        time.sleep(0.05)
    assert f"hai runner {broken}: failed" in errors.read_text()
    assert oct(errors.parent.stat().st_mode & 0o777) == "0o700", "the service's alone"
