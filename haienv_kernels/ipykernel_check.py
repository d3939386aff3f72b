"""Can an env run a Jupyter kernel? Decided from the file system only, never a subprocess.

An env can run ``python -m ipykernel_launcher`` when an ``ipykernel`` distribution
(``ipykernel-<version>.dist-info`` or ``.egg-info``) is in a folder its interpreter puts on
``sys.path``: its own site-packages, its base's site-packages (an extending env reads the
base through ``zzz_haienv_base.pth``), or a folder that a ``.pth`` file in one of those adds
(plain path lines, and ``site.addsitedir('...')`` lines as haienv writes them; the folders
that ``addsitedir`` adds have their own ``.pth`` files followed in turn). The caller lists
the env's site-packages and its base's (from the metadata), so haienv's own layer file is
not read again.

What one folder offers (has ipykernel? which folders do its ``.pth`` files add?) is cached by
the folder's path and mtime: installing or removing a distribution, or adding a ``.pth``
file, renames entries in that folder and so changes its mtime. A check therefore costs one
``stat`` per folder when nothing changed (and once per pass over many envs for a folder
they share, such as a base's site-packages).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

_DIST_RE = re.compile(r"^ipykernel-[^-]+\.(dist|egg)-info$", re.IGNORECASE)
_ADDSITEDIR_RE = re.compile(r"addsitedir\(\s*(['\"])(.+?)\1")
MAX_DEPTH = 4
#: ``.pth`` files not read: haienv's base layer (the caller passes the base's site-packages,
#: named by the env's metadata), uv's venv patch and setuptools' distutils shim (neither adds
#: a folder). Every env has the first two; skipping them halves the cost of a cold check.
KNOWN_PTH = frozenset({"zzz_haienv_base.pth", "_virtualenv.pth", "distutils-precedence.pth"})


@dataclass(frozen=True)
class FolderFacts:
    """What one site folder offers: an ipykernel distribution, and the folders its ``.pth``
    files add (``(path, is_sitedir)``; a sitedir's ``.pth`` files are processed too)."""

    mtime_ns: int
    has_ipykernel: bool
    adds: tuple[tuple[str, bool], ...]


class IpykernelCheck:
    """Finds an ``ipykernel`` distribution reachable from an env, caching each folder's
    facts by mtime. One instance per kernel-spec manager; not thread-safe (it need not be:
    Jupyter calls it from the event loop)."""

    def __init__(self) -> None:
        self._facts: dict[str, FolderFacts] = {}
        self._fresh: set[str] | None = None  # folders checked during the current pass

    @contextlib.contextmanager
    def one_pass(self) -> Iterator[None]:
        """Check many envs at once: a folder they share (a base's site-packages) is then
        stat'ed once for all of them, not once per env."""
        self._fresh = set()
        try:
            yield
        finally:
            self._fresh = None

    def folder_mtime(self, path: str) -> int | None:
        try:
            return os.stat(path).st_mtime_ns
        except OSError:
            return None

    def seen_mtime(self, path: str) -> int | None:
        """The mtime ``path`` had when it was last scanned (None: missing or never)."""
        cached = self._facts.get(path)
        return cached.mtime_ns if cached is not None else None

    def facts(self, path: str) -> FolderFacts | None:
        """The facts of ``path`` (a site-packages-like folder), or None if it is missing."""
        if self._fresh is not None:
            if path in self._fresh:
                return self._facts.get(path)
            self._fresh.add(path)
        mtime = self.folder_mtime(path)
        if mtime is None:
            self._facts.pop(path, None)
            return None
        cached = self._facts.get(path)
        if cached is not None and cached.mtime_ns == mtime:
            return cached
        facts = _scan(path, mtime)
        self._facts[path] = facts
        return facts

    def find(self, site_dirs: list[str]) -> str | None:
        """The folder holding ipykernel, searching ``site_dirs`` (each a sitedir) in order
        and what their ``.pth`` files add; None when no ipykernel is reachable."""
        seen: set[str] = set()
        todo = [(d, True, 0) for d in site_dirs if d]
        while todo:
            path, is_sitedir, depth = todo.pop(0)
            if path in seen:
                continue
            seen.add(path)
            facts = self.facts(path)
            if facts is None:
                continue
            if facts.has_ipykernel:
                return path
            if is_sitedir and depth < MAX_DEPTH:
                todo.extend((p, sd, depth + 1) for p, sd in facts.adds)
        return None

    def forget(self) -> None:
        self._facts.clear()


def _scan(path: str, mtime: int) -> FolderFacts:
    try:
        entries = sorted(os.listdir(path))
    except OSError:
        return FolderFacts(mtime, False, ())
    has = any(_DIST_RE.match(e) for e in entries)
    adds: list[tuple[str, bool]] = []
    for entry in entries:
        if not entry.endswith(".pth") or entry.startswith(".") or entry in KNOWN_PTH:
            continue
        adds.extend(_pth_targets(os.path.join(path, entry), path))
    return FolderFacts(mtime, has, tuple(adds))


def _pth_targets(pth: str, sitedir: str) -> list[tuple[str, bool]]:
    """Folders a ``.pth`` file adds, read statically (``site.addpackage`` semantics: plain
    lines are paths relative to the sitedir; ``import`` lines run code - of which only
    ``site.addsitedir('<literal>')`` is understood here)."""
    out: list[tuple[str, bool]] = []
    try:
        with open(pth, encoding="utf-8", errors="replace") as f:
            lines = f.read(65536).splitlines()
    except OSError:
        return out
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("import ", "import\t")):
            out.extend((m.group(2), True) for m in _ADDSITEDIR_RE.finditer(line))
            continue
        out.append((os.path.normpath(os.path.join(sitedir, line)), False))
    return out
