"""How every ``--json`` of ``hai-cli`` and ``hai-admin`` prints: the API's JSON, indented,
one document per command, for scripts (standard library only: it is on the start-up path)."""

from __future__ import annotations

import json
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
