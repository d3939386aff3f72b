"""The rank supervisor: one small process per rank that outlives scheduler restarts.

It runs the user's command in a process group of its own, stores every output line with
a timestamp (:mod:`.logfiles`), and writes the exit status to the control folder
(:mod:`.control`). The scheduler starts it in a new session, so killing the scheduler
(even with SIGKILL) leaves the rank running; a restarted scheduler adopts it.

Usage: ``python -m scheduler.backends.local.runner CONTROL_DIR``
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import select
import socket
import subprocess
import sys
from pathlib import Path

from scheduler.backends.local import control
from scheduler.backends.local.logfiles import LogWriter


def _signal_exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def run(control_dir: Path) -> int:
    spec = control.read_json(control_dir / control.SPEC)
    if spec is None:
        print(f"hai runner: no {control.SPEC} in {control_dir}", file=sys.stderr)
        return 2
    lock_fd = os.open(control_dir / control.LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("hai runner: another supervisor holds this rank", file=sys.stderr)
        return 3
    control.write_json_atomic(
        control_dir / control.RUNNER,
        {"pid": os.getpid(), "start_time": control.process_start_time(os.getpid())},
    )
    writer = LogWriter(
        Path(spec["log_dir"]),
        max_line_bytes=spec.get("max_line_bytes", 16384),
        segment_bytes=spec.get("segment_bytes", 8 << 20),
        keep_segments=spec.get("keep_segments", 4),
    )
    try:
        proc = subprocess.Popen(
            spec["argv"],
            cwd=spec["cwd"],
            env=spec["env"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        reason = f"cannot start {spec['argv'][0]!r}: {exc.strerror or exc}"
        writer.note(reason)
        writer.close()
        _write_exit(control_dir, 127, reason, init_failed=True)
        _wake(spec.get("wake"))
        return 0
    (control_dir / control.CHILD_PID).write_text(str(proc.pid))
    fd = proc.stdout.fileno()
    while True:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            data = os.read(fd, 65536)
            if not data:
                break
            writer.feed(data)
        elif proc.poll() is not None:
            # the main process ended; a grandchild may still hold the pipe open
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                break
    returncode = proc.wait()
    writer.close()
    code = _signal_exit_code(returncode)
    reason = f"killed by signal {-returncode}" if returncode < 0 else ""
    _write_exit(control_dir, code, reason)
    _wake(spec.get("wake"))
    return 0


def _wake(address_hex: str | None) -> None:
    """Tell the scheduler loop a rank ended (best effort: it also polls every tick)."""
    if not address_hex:
        return
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"x", bytes.fromhex(address_hex))
    except OSError:
        pass


def _write_exit(control_dir: Path, code: int, reason: str, *, init_failed: bool = False) -> None:
    control.write_json_atomic(
        control_dir / control.EXIT,
        {
            "exit_code": code,
            "reason": reason,
            "init_failed": init_failed,
            "ended_at": dt.datetime.now(dt.UTC).isoformat(),
        },
    )


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
