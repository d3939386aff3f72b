"""Deferred imports for the command line's start-up.

``hai-cli`` must answer in tens of milliseconds, so the API client (hai_client.client), the table
library (rich) and YAML are imported by the first command that uses them, not at start.
:func:`lazy_module` returns a stand-in whose attributes come from the real module,
imported on first use through ``importlib.import_module``. The stand-in never enters
``sys.modules``: every other importer (the lab server, a kernel) gets the real module, and
the import system's own locks make the first use safe from several threads (the standard
library's ``LazyLoader`` is not, before Python 3.12). The import set at start is asserted
by ``tests/test_cli_startup.py``.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any


class _Deferred:
    """A module imported when one of its attributes is first read."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self) -> str:
        return f"<deferred module {self._name!r}>"


def lazy_module(name: str) -> Any:
    """The module ``name``, imported when first used."""
    return _Deferred(name)
