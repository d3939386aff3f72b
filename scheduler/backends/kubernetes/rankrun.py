"""The in-pod rank supervisor: PID 1 of every rank container.

Usage (the backend writes this command into the pod)::

    python3 -m scheduler.backends.kubernetes.rankrun --cwd WORKSPACE --podinfo DIR -- ARGV...

It makes the in-task API of :mod:`hai_client.task` work unchanged in a pod:

- ``$HAI_CONTROL_DIR`` is a writable ``emptyDir``; its ``suspend`` entry is a symlink to
  ``<podinfo>/suspend``, the downward-API projection of the pod's ``hai.io/suspend``
  annotation (``"0"`` at start; the backend patches it to ``"1"``, the kubelet refreshes
  the file within about a minute). ``receive_suspend_command()`` reads it as on a
  workstation; ``go_suspend()`` and ``set_whole_life_state()`` write beside it.
- It runs ARGV in a process group of its own (stdout/stderr go straight to the container
  log), forwards SIGTERM/SIGINT/SIGHUP to that group, and reaps orphans (it is PID 1).
- After the user's code acknowledged a suspend (``go_suspend()``) it waits
  ``$HAI_ACK_EXIT_SECONDS`` (30) for the code to exit by itself, then sends SIGTERM: the
  scheduler cannot see the acknowledgement before the pod ends, so the pod ends itself.
- When the command ends it writes the termination message the backend reads (JSON:
  ``exit_code``, ``suspend_acked``, ``whole_life_state``, ``init_failed``, ``reason``) to
  ``/dev/termination-log`` and exits with the command's status.

Only the standard library and :mod:`hai_client.task` are imported: it starts in
milliseconds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from hai_client.task import CONTROL_DIR_ENV, SUSPEND, SUSPEND_ACK, WHOLE_LIFE_STATE

TERMINATION_LOG = "/dev/termination-log"
POLL_SECONDS = 0.2


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def write_result(
    path: str,
    control_dir: Path | None,
    code: int,
    *,
    reason: str = "",
    init_failed: bool = False,
) -> dict:
    """Write the termination message (at most 4 KiB, as the kubelet keeps)."""
    result = {
        "exit_code": code,
        "suspend_acked": bool(control_dir and (control_dir / SUSPEND_ACK).exists()),
        "whole_life_state": _read_int(control_dir / WHOLE_LIFE_STATE) if control_dir else None,
        "init_failed": init_failed,
        "reason": reason[:1024],
    }
    with contextlib.suppress(OSError):
        Path(path).write_text(json.dumps(result))
    return result


def prepare_control_dir(control_dir: Path, podinfo: Path) -> None:
    """Create the control folder and link its ``suspend`` entry to the projected file."""
    control_dir.mkdir(parents=True, exist_ok=True)
    link = control_dir / SUSPEND
    if not link.is_symlink() and not link.exists():
        link.symlink_to(podinfo / SUSPEND)


def run(argv: list[str]) -> int:
    """Prepare the control folder, start the command, forward signals to it, end it after
    a suspend acknowledgement, and record its result (the termination log)."""
    args = _parse(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    cdir_value = os.environ.get(CONTROL_DIR_ENV)
    control_dir = Path(cdir_value) if cdir_value else None
    if control_dir is not None:
        prepare_control_dir(control_dir, Path(args.podinfo))
    child, failure = _start(command, args.cwd)
    if child is None:
        print(f"[hai] {failure}", file=sys.stderr, flush=True)
        write_result(args.termination_log, control_dir, 127, reason=failure, init_failed=True)
        return 127
    signalled = _forward_signals(child)
    code = _wait(child, control_dir)
    with contextlib.suppress(ProcessLookupError):  # leftovers of the command's group
        os.killpg(child.pid, signal.SIGKILL)
    reason = f"killed by signal {code - 128}" if code > 128 and signalled else ""
    write_result(args.termination_log, control_dir, code, reason=reason)
    return code


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rankrun")
    parser.add_argument("--cwd", required=True)
    parser.add_argument("--podinfo", required=True)
    parser.add_argument("--termination-log", default=TERMINATION_LOG)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    return parser.parse_args(argv)


def _start(command: list[str], cwd: str) -> tuple[subprocess.Popen | None, str]:
    """The command started in a session of its own, or why it could not be."""
    if not command:
        return None, "no command given"
    if not os.path.isdir(cwd):
        return None, f"workspace {cwd!r} does not exist"
    try:
        child = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        return None, f"cannot start {command[0]!r}: {exc.strerror or exc}"
    return child, ""


def _forward_signals(child: subprocess.Popen) -> list[int]:
    """SIGTERM, SIGINT and SIGHUP go on to the command's process group; the list fills
    with the signals received."""
    signalled: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        signalled.append(signum)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    return signalled


def _wait(child: subprocess.Popen, control_dir: Path | None) -> int:
    """Reap children (this is PID 1 of the pod) until the command ends; its exit code.
    Once the rank acknowledged a suspend, the command gets SIGTERM after
    ``HAI_ACK_EXIT_SECONDS``."""
    ack_exit = float(os.environ.get("HAI_ACK_EXIT_SECONDS", "30") or 30)
    acked_at: float | None = None
    ack_term_sent = False
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return 0
        if pid == child.pid:
            return _exit_code(status)
        if pid:  # an orphan re-parented to PID 1
            continue
        if control_dir is not None and not ack_term_sent:
            if acked_at is None and (control_dir / SUSPEND_ACK).exists():
                acked_at = time.monotonic()
            if acked_at is not None and time.monotonic() - acked_at >= ack_exit:
                print("[hai] suspend acknowledged; stopping the command", file=sys.stderr)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGTERM)
                ack_term_sent = True
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
