"""The rank supervisor: one small process per rank that outlives scheduler restarts.

It runs the user's command as the rank owner's account (uid, gid, supplementary groups;
the supervisor itself keeps the service's identity, as slurmstepd does), in a session, a
process group and, where possible, a cgroup of its own (:mod:`.proctree`); it stores every
output line with a timestamp (:mod:`scheduler.backends.logfiles`), writes the exit status
to the private control folder (:mod:`.control`), samples its GPUs' utilisation where NVML
exists (:mod:`.gpustats`), and ends whatever the command left running. The
scheduler starts it in a new session, so killing the scheduler (even with SIGKILL) leaves
the rank running; a restarted scheduler adopts it.

Usage: ``python -m scheduler.backends.local.runner CONTROL_DIR``
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import select
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from hai_client.files import flocked, write_json_atomic
from scheduler.backends.local import control, gpustats
from scheduler.backends.local.proctree import RankTree
from scheduler.backends.logfiles import LogWriter


def _signal_exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def run(control_dir: Path, spec: dict | None = None) -> int:
    """Supervise the rank ``spec`` describes (default: the folder's ``spec.json``)."""
    if spec is None:
        spec = control.read_json(control_dir / control.SPEC)
    if spec is None:
        print(f"hai runner: no {control.SPEC} in {control_dir}", file=sys.stderr)
        return 2
    with flocked(control_dir, wait=False) as held:  # the folder itself: no lock file
        if held is None:
            print(f"hai runner {control_dir}: another supervisor holds it", file=sys.stderr)
            return 3
        return _supervise(spec, control_dir)


def set_up(control_dir: Path, spec: dict) -> str:
    """The rank's folders as the fork server's child finds none: its ``spec.json`` in the
    private control folder (made by the caller) and its task folder, its owner's. Made here,
    not by the scheduler's loop, so the loop's cycle does no file work per rank. Returns
    why the rank cannot start ('' when it can)."""
    write_json_atomic(control_dir / control.SPEC, spec)
    try:
        control.make_task_dir(Path(spec["task_dir"]), control.owner_ids(spec.get("account")))
    except OSError as exc:
        return f"cannot make the rank's folder {spec['task_dir']!r}: {exc.strerror}"
    return ""


def fail_to_start(control_dir: Path, spec: dict, reason: str) -> int:
    """Record that the rank could not start (its init failed) and tell the loop."""
    _write_exit(control_dir, 127, reason, init_failed=True)
    _wake(spec.get("wake"))
    return 0


def _supervise(spec: dict, control_dir: Path) -> int:
    """Start the rank and follow it to its end, while this process holds the rank's lock."""
    write_json_atomic(
        control_dir / control.RUNNER,
        {"pid": os.getpid(), "start_time": control.process_start_time(os.getpid())},
    )
    account = spec.get("account")
    writer = LogWriter(
        Path(spec["log_dir"]),
        max_line_bytes=spec.get("max_line_bytes", 16384),
        segment_bytes=spec.get("segment_bytes", 8 << 20),
        keep_segments=spec.get("keep_segments", 4),
        reader_gid=account["gid"] if account else None,
    )
    tree = RankTree(spec["tree"])
    try:
        proc = _start(spec, account, tree)
    except (OSError, ValueError, NoWorkspace) as exc:  # ValueError: a NUL
        reason = _start_failure(spec, account, exc)
        writer.note(reason)
        writer.close()
        return fail_to_start(control_dir, spec, reason)
    (control_dir / control.CHILD_PID).write_text(str(proc.pid))
    control.create_user_flag(Path(spec["task_dir"]), control.RANK_PID, str(proc.pid).encode())
    _wake(spec.get("wake"))  # the rank shows as running at once, not at the next tick
    fd = proc.stdout.fileno()
    gpus = gpustats.sampler_for(spec, control_dir)  # NVML, every few seconds
    while True:
        gpus.tick()
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
    gpus.close()
    RankTree(spec["tree"], pgid=proc.pid).kill_all()  # nothing outlives the rank
    writer.close()
    code = _signal_exit_code(returncode)
    reason = f"killed by signal {-returncode}" if returncode < 0 else ""
    _write_exit(control_dir, code, reason)
    _wake(spec.get("wake"))
    return 0


def _start(spec: dict, account: dict | None, tree: RankTree) -> subprocess.Popen:
    """Start the user's command as its owner, in the workspace, in the rank's cgroup
    (entered by this process just for the fork, so only the command and its children are
    members)."""
    as_owner: dict = {}
    if account and account["uid"] != os.geteuid():
        as_owner = {
            "user": account["uid"],
            "group": account["gid"],
            "extra_groups": account["groups"],
        }
    here = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _enter_workspace(spec["cwd"], account if as_owner else None)
        tree.create()
        entered = tree.enter(os.getpid())
        try:
            # the command inherits the workspace as its working folder: no preexec_fn,
            # whose Python-level fork in this process cost ~1.7 ms of every rank's start
            return subprocess.Popen(
                spec["argv"],
                env=spec["env"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                umask=0o077,
                **as_owner,
            )
        finally:
            if entered:
                tree.leave(os.getpid())
    finally:
        os.fchdir(here)
        os.close(here)


class NoWorkspace(Exception):
    """The rank's owner may not enter the workspace (or it does not exist)."""


def _enter_workspace(cwd: str, account: dict | None) -> None:
    """Make ``cwd`` this process's working folder with the owner's own permissions:
    Popen's ``cwd=`` would enter it as the service, letting a rank work in a folder its
    owner cannot reach (one under another user's 0700 home, say). The effective ids are
    the owner's just for the ``chdir``; the folder entered is the one checked."""
    with _as_owner(account):
        try:
            os.chdir(cwd)
        except OSError as exc:
            raise NoWorkspace(exc.strerror) from None


@contextlib.contextmanager
def _as_owner(account: dict | None) -> Iterator[None]:
    """This process's effective uid, gid and groups are ``account``'s inside (None: they
    stay as they are), and its own again after."""
    if account is None:
        yield
        return
    uid, gid, groups = os.geteuid(), os.getegid(), os.getgroups()
    os.setgroups(account["groups"])
    os.setegid(account["gid"])
    os.seteuid(account["uid"])
    try:
        yield
    finally:
        os.seteuid(uid)
        os.setegid(gid)
        os.setgroups(groups)


def _start_failure(spec: dict, account: dict | None, exc: BaseException) -> str:
    if isinstance(exc, NoWorkspace):
        who = account["name"] if account else "the service's account"
        return f"cannot enter the workspace {spec['cwd']!r} as {who}"
    return f"cannot start {spec['argv'][0]!r}: {getattr(exc, 'strerror', None) or exc}"


def _wake(address_hex: str | None) -> None:
    """Tell the scheduler loop a rank started or ended (best effort: it also polls every
    tick)."""
    if not address_hex:
        return
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"x", bytes.fromhex(address_hex))
    except OSError:
        pass


def _write_exit(control_dir: Path, code: int, reason: str, *, init_failed: bool = False) -> None:
    write_json_atomic(
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
