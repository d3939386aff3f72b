"""The chain name a client makes up when none is given: from the script's file name.

Shared by ``hai-cli`` (``run``/``python``/``bash``), the ``%hai`` magics and the lab
extension's submit, so a notebook submitted from the sidebar is named as ``hai-cli`` would
name it. Standard library only (the lab extension does not import the click CLI).
"""

from __future__ import annotations

import re
from pathlib import Path

_NAME_BAD = re.compile(r"[^A-Za-z0-9._+=-]+")


def default_name(script: str) -> str:
    """A chain name from a script path: ``train/run.py`` → ``run``."""
    stem = Path(script).stem or "task"
    name = _NAME_BAD.sub("-", stem).strip("-._+=")[:128] or "task"
    return f"task-{name}" if name.isdigit() else name
