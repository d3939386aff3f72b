"""The rank control folder: the files through which the scheduler, the rank supervisor
and the user's code talk to each other on one machine.

Layout of ``<data_dir>/ranks/<chain>/<job seq>/<rank>/``::

    spec.json          what to run (written by the scheduler before the supervisor starts)
    lock               held (flock) by the live supervisor for its whole life
    runner.json        the supervisor's pid and process start time
    child.pid          the user process's pid (= its process group id)
    exit.json          the outcome, written once the user process ended
    suspend            present once the scheduler asks the chain to suspend
    suspend_ack        present once the user's code called go_suspend()
    whole_life_state   the integer the user's code stored with set_whole_life_state()

The user-code side of this protocol lives in :mod:`hai_client.task`; the names are
shared through the constants below.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hai_client.task import SUSPEND as SUSPEND
from hai_client.task import SUSPEND_ACK as SUSPEND_ACK
from hai_client.task import WHOLE_LIFE_STATE as WHOLE_LIFE_STATE

SPEC = "spec.json"
LOCK = "lock"
RUNNER = "runner.json"
CHILD_PID = "child.pid"
EXIT = "exit.json"


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


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
