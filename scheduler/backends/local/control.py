"""The rank control folders: the files through which the scheduler, the rank supervisor
and the user's code talk to each other on one machine.

Two folders per rank, both made by the rank's supervisor before the command starts (the
task folder by the scheduler first if it asks the rank to suspend before that). The
**private** one, ``<data_dir>/ranks/<chain>/<job seq>/<rank>/``,
belongs to the service (mode 0700), is held (``flock`` of the folder itself) by the live
supervisor for its whole life, and holds what the scheduler trusts::

    spec.json          what to run (the scheduler's, written by the supervisor it forked)
    runner.json        the supervisor's pid and process start time
    child.pid          the user process's pid (= its process group id)
    exit.json          the outcome, written once the user process ended
    gpu.json           the rank's GPU utilisation samples (:mod:`.gpustats`)

The **task** folder, ``<data_dir>/tasks/<chain>/<job seq>/<rank>/`` (``$HAI_CONTROL_DIR``
in the rank), belongs to the rank's owner (mode 0700) and holds what the rank says::

    rank.pid           the user process's pid, for the owner's tools (hai-cli prof)
    suspend            present once the scheduler asks the chain to suspend
    suspend_ack        present once the user's code called go_suspend()
    whole_life_state   the integer the user's code stored with set_whole_life_state()

Everything in the task folder is untrusted: the scheduler reads it with
:func:`read_user_int` / :func:`user_file_exists` (no links followed, no FIFOs opened, a
few bytes at most, range-checked) and writes ``suspend`` with :func:`create_user_flag`
(never through a link). The user-code side of this protocol lives in
:mod:`hai_client.task`; the names are shared through the constants below.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from hai_client.task import SUSPEND as SUSPEND
from hai_client.task import SUSPEND_ACK as SUSPEND_ACK
from hai_client.task import WHOLE_LIFE_STATE as WHOLE_LIFE_STATE

SPEC = "spec.json"
RUNNER = "runner.json"
CHILD_PID = "child.pid"
EXIT = "exit.json"
RANK_PID = "rank.pid"


USER_FILE_MAX_BYTES = 64


def _open_user_dir(folder: Path) -> int:
    return os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)


class BadUserValue(ValueError):
    """A rank wrote something the protocol does not allow; the message says what."""


def read_user_int(folder: Path, name: str, lo: int, hi: int) -> int | None:
    """An integer the rank wrote into ``folder/name``; None if absent (or being replaced).
    Raises :class:`BadUserValue` for anything but a small plain file holding a whole
    number in ``[lo, hi]``."""
    try:
        dir_fd = _open_user_dir(folder)
    except OSError:
        return None
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:  # a link (ELOOP), a folder, ...
        raise BadUserValue(f"{name} cannot be read as a plain file ({exc.strerror})") from None
    finally:
        os.close(dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise BadUserValue(f"{name} is not a plain file")
        raw = os.read(fd, USER_FILE_MAX_BYTES + 1)
    finally:
        os.close(fd)
    if not raw.strip():
        return None  # written as we read it; the next poll sees the value
    if len(raw) > USER_FILE_MAX_BYTES:
        raise BadUserValue(f"{name} holds more than {USER_FILE_MAX_BYTES} bytes")
    try:
        value = int(raw.strip())
    except ValueError:
        raise BadUserValue(f"{name} is not a whole number: {raw[:20]!r}") from None
    if not lo <= value <= hi:
        raise BadUserValue(f"{name} {value} is outside {lo}..{hi}")
    return value


def user_file_exists(folder: Path, name: str) -> bool:
    """Whether the rank created ``folder/name`` (any kind of entry; links not followed)."""
    try:
        os.stat(folder / name, follow_symlinks=False)
    except OSError:
        return False
    return True


def create_user_flag(folder: Path, name: str, content: bytes = b"1") -> None:
    """Create ``folder/name`` holding ``content`` in the rank's folder without following
    a link the rank may have put there; an existing entry is left alone."""
    try:
        dir_fd = _open_user_dir(folder)
    except OSError:
        return
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        with contextlib.suppress(FileExistsError):
            fd = os.open(name, flags, 0o644, dir_fd=dir_fd)
            try:
                os.write(fd, content)
            finally:
                os.close(fd)
    finally:
        os.close(dir_fd)


def owner_ids(account: dict[str, Any] | None) -> tuple[int, int] | None:
    """(uid, gid) of a rank's account as the backend resolved it when it prepared the rank,
    from the copy in the rank's spec (the supervisor's) or handle (the loop's): one source
    for both; None for the service's own account."""
    return (account["uid"], account["gid"]) if account else None


def make_task_dir(tdir: Path, owner: tuple[int, int] | None) -> None:
    """The rank's task folder: its owner's (uid, gid; None: the service's), mode 0700,
    under root-owned parents that anyone may cross (0711). Made by the rank's supervisor
    before the command starts, or by the scheduler first when it asks a rank to suspend
    that early: each step is the same whoever comes first."""
    for parent in (tdir.parent.parent, tdir.parent):
        parent.mkdir(exist_ok=True)
        parent.chmod(0o711)
    tdir.mkdir(exist_ok=True)
    if owner is not None:
        os.chown(tdir, *owner)
    tdir.chmod(0o700)


def read_json(path: Path) -> Any | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def process_start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), None if not running.

    Together with the pid it identifies a process across pid reuse. A zombie counts as
    not running.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def is_alive(pid: int | None, start_time: int | None) -> bool:
    if not pid:
        return False
    now_start = process_start_time(pid)
    return now_start is not None and (start_time is None or now_start == start_time)
