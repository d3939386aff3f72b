"""The platform's client in every haienv kernel, and nothing else of the platform.

A haienv kernel runs the env's own interpreter, which has neither ``hai_client`` (for
``%hai``) nor ``haienv``. :func:`kernel_site` makes a folder of links to exactly those two
packages and the distributions they need (httpx, click, rich, pyyaml, ipywidgets, ... and
what those need), found with :mod:`importlib.metadata`; the kernel appends it to
``sys.path`` (``kernel_startup.py``), so the env's own packages always win and nothing
else of the platform (JupyterHub, the scheduler, ...) can be imported there.

The folder lives in the user's cache (``~/.cache/hai/``), named after the platform's
location and versions, and is made once (links, so it costs nothing to keep).
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from packaging.requirements import Requirement

#: what hai_client and haienv import (the closure of these is linked)
CLIENT_DISTRIBUTIONS = ("httpx", "click", "rich", "pyyaml", "packaging", "traitlets", "ipywidgets")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(roots: Iterable[str]) -> list[md.Distribution]:
    """The installed distributions ``roots`` need, transitively (extras left out)."""
    todo, seen, found = list(roots), set(), []
    while todo:
        name = _normal(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        found.append(dist)
        for req in dist.requires or []:
            r = Requirement(req)
            if r.marker is None or r.marker.evaluate({"extra": ""}):
                todo.append(r.name)
    return found


def link_distributions(folder: Path, dists: Iterable[md.Distribution]) -> None:
    """Links in ``folder`` to each distribution's top-level packages, modules and metadata."""
    folder.mkdir(parents=True, exist_ok=True)
    for dist in dists:
        for f in dist.files or []:
            top = f.parts[0]
            if top in ("..", "__pycache__") or top.endswith(".pth"):
                continue
            source = Path(dist.locate_file(top))
            target = folder / top
            if source.exists() and not target.exists():
                target.symlink_to(source)


def _platform_packages() -> list[Path]:
    import hai_client
    import haienv

    return [Path(hai_client.__file__).resolve().parent, Path(haienv.__file__).resolve().parent]


def kernel_site(cache: Path | None = None) -> str:
    """The folder (made once) with hai_client, haienv and what they need."""
    dists = closure(CLIENT_DISTRIBUTIONS)
    packages = _platform_packages()
    key = "|".join(
        [sys.version, *map(str, packages), *(f"{d.metadata['Name']}={d.version}" for d in dists)]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    cache = cache or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hai"
    folder = cache / f"kernel-site-{digest}"
    if folder.is_dir():
        return str(folder)
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".kernel-site-", dir=cache))
    try:
        link_distributions(work, dists)
        for package in packages:
            target = work / package.name
            if not target.exists():
                target.symlink_to(package)
        os.replace(work, folder)  # another server may have made it meanwhile: theirs stays
    except OSError:
        if not folder.is_dir():
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return str(folder)
