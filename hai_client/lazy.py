"""Deferred imports for the command line's start-up.

``hai-cli`` must answer in tens of milliseconds, so the HTTP client (httpx), the table
library (rich) and YAML are imported by the first command that uses them, not at start.
:func:`lazy_module` is the standard library's recipe (``importlib.util.LazyLoader``): the
returned module runs its code on first attribute access. The import set at start is
asserted by ``tests/test_cli_startup.py``.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """The module ``name``, loaded on first use (or the loaded one, if already there)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:  # pragma: no cover - a broken install
        raise ImportError(f"no module named {name!r}")
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
