"""The kinds of script ``hai-cli`` runs -- ``python``, ``bash``, ``exec``: one home for
their names, what each runs, the file suffix a cluster submission requires, and the
command line that runs one here.

Imported at ``hai-cli``'s start (it names the commands), so it imports nothing heavy.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from hai_client.errors import HaiError

#: each kind, and what it runs (the command's help says "Run <this> on the cluster ...")
KINDS = {"python": "a Python script", "bash": "a bash script", "exec": "a program"}
#: the suffix of the file a kind submits (exec runs any program)
SUFFIX = {"python": ".py", "bash": ".sh"}


def kind_of(path: str) -> str:
    """The kind that runs the file ``path``: by its suffix, else ``exec``."""
    return next((kind for kind, suffix in SUFFIX.items() if path.endswith(suffix)), "exec")


def local_argv(kind: str, script: str, args: Sequence[str], python: str | None = None) -> list[str]:
    """The command line for ``kind`` (python, bash or exec); ``python``: the interpreter
    (default: this one, as a rank without a haienv runs with the platform's)."""
    if kind == "python":
        return [python or sys.executable, script, *args]
    if kind == "bash":
        return ["bash", script, *args]
    if kind == "exec":
        return [script, *args]
    raise HaiError(f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
