"""The in-pod supervisor, run for real as a process: the suspend flag through the projected
file, the acknowledgement and whole-life state through the termination message, SIGTERM
forwarding, init failures. This is the contract between hai_client.task and the backend."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import sys, time
from hai_client import task
print("started", task.rank(), flush=True)
for step in range(600):
    if task.receive_suspend_command():
        task.set_whole_life_state(step + 1000)
        task.go_suspend()
        print("suspending at", step, flush=True)
        sys.exit(0 if "{linger}" != "linger" else time.sleep(60))
    time.sleep(0.05)
sys.exit(3)
"""


def start(tmp_path: Path, argv: list[str], cwd: str | None = None, **env: str):
    podinfo = tmp_path / "podinfo"
    podinfo.mkdir(exist_ok=True)
    (podinfo / "suspend").write_text("0")  # the annotation's initial value
    control = tmp_path / "control"
    term = tmp_path / "termination-log"
    full_env = {
        **os.environ,
        "HAI_CONTROL_DIR": str(control),
        "PYTHONPATH": str(REPO),
        "RANK": "0",
        **env,
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scheduler.backends.kubernetes.rankrun",
            "--cwd",
            cwd or str(tmp_path),
            "--podinfo",
            str(podinfo),
            "--termination-log",
            str(term),
            "--",
            *argv,
        ],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, podinfo, control, term


def project(podinfo: Path, value: str) -> None:
    """What the kubelet does when the annotation changes: replace the file atomically."""
    tmp = podinfo / ".suspend.tmp"
    tmp.write_text(value)
    os.replace(tmp, podinfo / "suspend")


def wait_line(proc, text: str) -> None:
    for line in proc.stdout:
        if text in line:
            return
    raise AssertionError(f"{text!r} never printed")


def test_suspend_flag_ack_and_whole_life_state_reach_the_termination_message(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(CHILD.replace("{linger}", "exit"))
    proc, podinfo, control, term = start(tmp_path, [sys.executable, str(script)])
    wait_line(proc, "started 0")
    assert (control / "suspend").is_symlink()
    time.sleep(0.2)
    project(podinfo, "1")
    assert proc.wait(timeout=20) == 0
    out = proc.stdout.read()
    assert "suspending at" in out
    result = json.loads(term.read_text())
    assert result["exit_code"] == 0 and result["suspend_acked"] is True
    assert result["whole_life_state"] >= 1000 and result["init_failed"] is False


def test_an_ack_without_exit_is_stopped_after_the_ack_delay(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(CHILD.replace("{linger}", "linger"))
    proc, podinfo, _control, term = start(
        tmp_path, [sys.executable, str(script)], HAI_ACK_EXIT_SECONDS="0.5"
    )
    wait_line(proc, "started 0")
    project(podinfo, "1")
    code = proc.wait(timeout=20)
    assert code == 128 + signal.SIGTERM
    result = json.loads(term.read_text())
    assert result["suspend_acked"] is True and result["exit_code"] == 143


def test_sigterm_is_forwarded_to_the_command(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(CHILD.replace("{linger}", "exit"))
    proc, _podinfo, _control, term = start(tmp_path, [sys.executable, str(script)])
    wait_line(proc, "started 0")
    proc.send_signal(signal.SIGTERM)  # what the kubelet sends PID 1
    assert proc.wait(timeout=20) == 143
    result = json.loads(term.read_text())
    assert result["exit_code"] == 143 and result["reason"] == "killed by signal 15"
    assert result["suspend_acked"] is False


def test_a_failing_command_reports_its_code(tmp_path):
    proc, *_, term = start(tmp_path, [sys.executable, "-c", "import sys; sys.exit(7)"])
    assert proc.wait(timeout=20) == 7
    assert json.loads(term.read_text())["exit_code"] == 7


@pytest.mark.parametrize(
    ("argv", "cwd", "why"),
    [
        (["/nonexistent/train"], None, "cannot start '/nonexistent/train'"),
        (["true"], "/nonexistent/workspace", "workspace '/nonexistent/workspace' does not exist"),
    ],
)
def test_init_failures(tmp_path, argv, cwd, why):
    proc, *_, term = start(tmp_path, argv, cwd=cwd)
    assert proc.wait(timeout=20) == 127
    result = json.loads(term.read_text())
    assert result["init_failed"] is True and why in result["reason"]
