"""A rank's whole process tree on this machine: every process it started, found and ended.

A rank runs in a session and process group of its own; a process that calls ``setsid``
leaves both, so where the machine lets us the rank also gets a cgroup of its own, which no
process can leave: a v1 ``freezer`` cgroup (``/sys/fs/cgroup/freezer/hai/<rank>``) or a v2
cgroup (``/sys/fs/cgroup/hai/<rank>``). Ending a rank freezes the cgroup, kills every
member and thaws it, so nothing forks away meanwhile. Where cgroups are not writable (a
non-root service, a container without them) the process group is all there is, and
:func:`mechanism` says so for the start-up log.

The supervisor puts itself into the cgroup just before it starts the user's command (the
command inherits it) and steps out right after, so only the rank's processes are members.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _v1_root() -> Path | None:
    root = CGROUP_ROOT / "freezer"
    return root if (root / "cgroup.procs").exists() else None


def _v2_root() -> Path | None:
    return CGROUP_ROOT if (CGROUP_ROOT / "cgroup.controllers").exists() else None


def _base() -> Path | None:
    """``<hierarchy>/hai`` if this process may create cgroups there, else None."""
    root = _v1_root() or _v2_root()
    if root is None or not os.access(root, os.W_OK):
        return None
    base = root / "hai"
    try:
        base.mkdir(exist_ok=True)
    except OSError:
        return None
    return base


def mechanism() -> str:
    """How rank process trees are tracked here, in words (for the start-up log)."""
    base = _base()
    if base is None:
        return (
            "process groups only (no writable cgroup hierarchy: a rank process that "
            "calls setsid can outlive its rank)"
        )
    return f"cgroups ({base})"


class RankTree:
    """The processes of one rank: its cgroup (if any) and its process group."""

    def __init__(self, name: str, pgid: int | None = None) -> None:
        self.name = name
        self.pgid = pgid
        base = _base()
        self.cgroup = base / name if base is not None else None

    # -- the supervisor's side --------------------------------------------------------
    def create(self) -> None:
        if self.cgroup is not None:
            with contextlib.suppress(FileExistsError):
                self.cgroup.mkdir()

    def enter(self, pid: int) -> bool:
        """Move ``pid`` into the rank's cgroup (False: there is none)."""
        if self.cgroup is None:
            return False
        try:
            (self.cgroup / "cgroup.procs").write_text(str(pid))
        except OSError:
            return False
        return True

    def leave(self, pid: int) -> None:
        """Move ``pid`` back to the hierarchy's root cgroup."""
        if self.cgroup is not None:
            with contextlib.suppress(OSError):
                (self.cgroup.parent.parent / "cgroup.procs").write_text(str(pid))

    # -- anyone's side ----------------------------------------------------------------
    def pids(self) -> set[int]:
        """Every live process of the rank (cgroup members, else the process group's)."""
        found: set[int] = set()
        if self.cgroup is not None:
            with contextlib.suppress(OSError):
                found |= {int(p) for p in (self.cgroup / "cgroup.procs").read_text().split()}
        if self.pgid:
            found |= _group_members(self.pgid)
        return {p for p in found if _alive(p)}

    def signal(self, sig: int) -> None:
        """Send ``sig`` to every process of the rank; SIGKILL freezes the cgroup first so
        nothing escapes by forking meanwhile."""
        frozen = sig == signal.SIGKILL and self._freeze(True)
        try:
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
            if self.pgid:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.pgid, sig)
        finally:
            if frozen:
                self._freeze(False)

    def kill_all(self, timeout: float = 2.0) -> bool:
        """SIGKILL the whole tree and wait until it is gone; True when nothing is left."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.pids()
            if not left:
                self.remove()
                return True
            if time.monotonic() >= deadline:
                return False
            self.signal(signal.SIGKILL)
            time.sleep(0.02)

    def remove(self) -> None:
        if self.cgroup is not None:
            with contextlib.suppress(OSError):
                self.cgroup.rmdir()

    def _freeze(self, frozen: bool) -> bool:
        if self.cgroup is None:
            return False
        v1 = self.cgroup / "freezer.state"
        v2 = self.cgroup / "cgroup.freeze"
        try:
            if v1.exists():
                v1.write_text("FROZEN" if frozen else "THAWED")
            elif v2.exists():
                v2.write_text("1" if frozen else "0")
            else:
                return False
        except OSError:
            return False
        return True


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return state[state.rfind(b")") + 2 : state.rfind(b")") + 3] not in (b"Z", b"X")


def _group_members(pgid: int) -> set[int]:
    """Processes whose process group is ``pgid`` (from /proc, read only when the group
    has a member: one signal-0 call answers that where reading every process's stat would
    cost each ending rank ~2 ms on a busy machine)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return set()
    except PermissionError:  # members we may not signal: find them all the same
        pass
    members = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if int(fields[2]) == pgid:
            members.add(int(entry.name))
    return members
