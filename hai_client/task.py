"""The in-task API: what a training script calls to cooperate with the scheduler.

    from hai_client import task

    for step in range(start, total):
        train_step()
        if task.receive_suspend_command():   # the scheduler wants this chain to pause
            save_checkpoint(step)
            task.set_whole_life_state(step)  # survives the suspend
            task.go_suspend()                # "checkpointed, suspend me now"
            sys.exit(0)

After a suspend the chain resumes as its next job: ``task.is_resume()`` is True and
``task.get_whole_life_state()`` returns what was stored. Outside a scheduled rank (no
``HAI_CONTROL_DIR``) the functions act on nothing: no suspend ever arrives.

The file names below are the protocol between this module and the local backend's rank
supervisor (``scheduler.backends.local.control`` imports them from here).
"""

from __future__ import annotations

import os
from pathlib import Path

CONTROL_DIR_ENV = "HAI_CONTROL_DIR"
SUSPEND = "suspend"
SUSPEND_ACK = "suspend_ack"
WHOLE_LIFE_STATE = "whole_life_state"


def _control_dir() -> Path | None:
    value = os.environ.get(CONTROL_DIR_ENV)
    return Path(value) if value else None


def receive_suspend_command() -> bool:
    """True once the scheduler has asked this chain to suspend.

    The request is a ``suspend`` file in the control folder whose content is not empty
    or ``0`` (on Kubernetes the file is a downward-API projection of a pod annotation,
    so it always exists).
    """
    cdir = _control_dir()
    if cdir is None:
        return False
    try:
        return (cdir / SUSPEND).read_text().strip() not in ("", "0")
    except (FileNotFoundError, IsADirectoryError):
        return False


def go_suspend() -> None:
    """Acknowledge a suspend: the scheduler stops this rank now instead of after the grace."""
    cdir = _control_dir()
    if cdir is not None:
        (cdir / SUSPEND_ACK).touch()


def get_whole_life_state() -> int:
    """The integer kept across suspends (0 until set)."""
    cdir = _control_dir()
    if cdir is not None:
        try:
            return int((cdir / WHOLE_LIFE_STATE).read_text().strip())
        except (FileNotFoundError, ValueError):
            pass
    return int(os.environ.get("HAI_WHOLE_LIFE_STATE", "0") or 0)


def set_whole_life_state(value: int) -> None:
    """Store an integer that survives suspends (e.g. the step of the last checkpoint)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"whole_life_state must be an int, not {type(value).__name__}")
    cdir = _control_dir()
    if cdir is None:
        os.environ["HAI_WHOLE_LIFE_STATE"] = str(value)
        return
    from hai_client.files import write_atomic  # only a script that stores state needs it

    write_atomic(cdir / WHOLE_LIFE_STATE, str(value))


def is_resume() -> bool:
    """True when this job continues a chain that was suspended before."""
    return os.environ.get("HAI_IS_RESUME", "0") == "1"


def suspend_count() -> int:
    return int(os.environ.get("HAI_SUSPEND_COUNT", "0") or 0)


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))
