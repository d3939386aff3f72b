"""Lock files: the exact contents of one env, written by ``haienv export`` and read by
``haienv create NAME --from-lock FILE``.

A lock is a valid pip/uv requirements file (``name==version`` per line) with a header of
``# key: value`` comments: python version, platform, the base it extends (with a digest of
the base's packages, so a rebuild can warn when the base changed) and the requested names.
Only the env's *own* packages are listed; an extending env gets the rest from its base.
"""

from __future__ import annotations

import json
import os
from collections import namedtuple
from pathlib import Path

from .errors import InvalidInput
from .spec import canonical, distributions, installed_distributions
from .store import EnvInfo

HEADER = "# haienv lock v1"


class Lock(
    namedtuple(
        "Lock",
        ("python", "platform", "extends", "base_digest", "requested", "packages", "source_name"),
        defaults=("", None, "", (), (), ""),
    )
):
    """A lock as read: ``python`` (its version), ``platform``, ``extends`` (the base's name,
    None: standalone), ``base_digest``, the lists ``requested`` and ``packages`` (by default
    empty tuples), ``source_name``. Immutable: a named tuple rather than a dataclass,
    because ``haienv create`` must not import dataclasses (and inspect; start-up, issue #15)."""

    __slots__ = ()


def pins_of(site_packages: str | os.PathLike) -> list[str]:
    """Exact requirement lines for what is installed in one site-packages folder."""
    lines = []
    for dist in distributions([str(site_packages)]):
        name = dist.metadata["Name"] if dist.metadata else None
        if not name:
            continue
        line = f"{canonical(name)}=={dist.version}"
        direct = dist.read_text("direct_url.json")
        if direct:
            try:
                info = json.loads(direct)
            except ValueError:
                info = {}
            url = info.get("url")
            if url and (info.get("dir_info") or {}).get("editable"):
                line = f"-e {url}"
            elif url and "vcs_info" in info:
                vcs = info["vcs_info"]
                line = f"{canonical(name)} @ {vcs.get('vcs', 'git')}+{url}@{vcs.get('commit_id')}"
            elif url and not url.startswith("file:"):
                line = f"{canonical(name)} @ {url}"
        lines.append(line)
    return sorted(set(lines))


def digest(dists: dict[str, str]) -> str:
    text = "\n".join(f"{k}=={v}" for k, v in sorted(dists.items()))
    import hashlib  # only for locks (a create must start fast)

    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def export_text(env: EnvInfo, base: EnvInfo | None) -> str:
    """The lock of a ready env as text."""
    header = [
        HEADER + f" - rebuild: haienv create NAME --from-lock FILE (exported from {env.name})",
        f"# python: {env.python_version}",
        f"# platform: {env.platform}",
    ]
    if base is not None:
        header.append(f"# extends: {base.name}")
        header.append(f"# base-digest: {digest(installed_distributions(base.site_packages))}")
    header.append(f"# requested: {' '.join(env.requested)}")
    return "\n".join(header + pins_of(env.site_packages)) + "\n"


def read_lock(path: str | os.PathLike) -> Lock:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidInput(f"cannot read lock file {path}: {exc.strerror}") from None
    lines = text.splitlines()
    if not lines or not lines[0].startswith(HEADER):
        raise InvalidInput(f"{path} is not a haienv lock (written by `haienv export`)")
    fields: dict[str, str] = {}
    packages = []
    for raw in lines[1:]:
        line = raw.strip()
        if line.startswith("#"):
            key, sep, value = line[1:].partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        elif line:
            packages.append(line)
    if not fields.get("python"):
        raise InvalidInput(f"{path}: the lock has no '# python:' line")
    return Lock(
        python=fields["python"],
        platform=fields.get("platform", ""),
        extends=fields.get("extends") or None,
        base_digest=fields.get("base-digest", ""),
        requested=fields.get("requested", "").split(),
        packages=packages,
    )
