"""``haienv push``: copy a locally built, standalone env to another haienv root (the cluster
storage, mounted as a path), re-pointed at the target's Python.

What the target runs is learned from the metadata of its shared base envs (built there, so
they record the cluster's Python version, platform and interpreter path). The push is refused
with the reason when no base there has the same platform and ``major.minor`` Python.
URLs are not supported in this version: mount the storage and give its path.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from pathlib import Path

from .config import HaiEnvConfig
from .errors import EnvExists, HaiEnvError, InvalidInput, Unsupported
from .store import READY, EnvInfo, Store, now_iso


def _target_root(target: str) -> Path:
    if target.startswith("file://"):
        target = target[len("file://") :]
    elif re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", target):
        raise Unsupported(
            f"pushing to {target} is not supported in this version: mount the cluster storage "
            "and pass the haienv root there as a path (--to /mnt/cluster/haienv)"
        )
    root = Path(target).expanduser()
    if not root.is_dir():
        raise InvalidInput(f"push target {root} is not a folder (the haienv root there)")
    return root


def compatible_base(env: EnvInfo, target: Store) -> EnvInfo:
    """A ready base in ``target`` with ``env``'s platform and python major.minor."""
    bases = [b for b in target.list(include_user=False) if b.ready]
    if not bases:
        raise InvalidInput(
            f"cannot check the target: {target.config.base_dir} has no ready base env to compare "
            "python version and platform with (create one there first)"
        )
    for b in bases:
        if b.platform == env.platform and b.python_minor == env.python_minor:
            return b
    seen = "; ".join(f"{b.name}: python {b.python_version} on {b.platform}" for b in bases)
    raise InvalidInput(
        f"{env.name!r} is python {env.python_version} on {env.platform}, which the target does "
        f"not run (its bases: {seen}); rebuild it with a matching --python, or build it there"
    )


def push_env(name: str, to: str, *, config: HaiEnvConfig | None = None) -> EnvInfo:
    """Copy the user's ready, non-extending env ``name`` into the target root (same user,
    same name) and return its :class:`EnvInfo` there."""
    config = config if config is not None else HaiEnvConfig()
    env = Store(config).find(name, shared=False)
    if not env.ready:
        raise InvalidInput(f"{name!r} is {env.status}; only ready envs can be pushed")
    if env.extends:
        raise Unsupported(
            f"{name!r} extends base {env.extends}, which exists only here; push works for "
            f"standalone envs (create it with --no_extend, or create it on the cluster)"
        )
    root = _target_root(to)
    target_config = HaiEnvConfig(
        root=str(root),
        user=config.user,
        base_dir_name=config.base_dir_name,
        users_dir_name=config.users_dir_name,
    )
    target = Store(target_config)
    if os.path.realpath(target.env_path(name, False)) == os.path.realpath(env.path):
        raise InvalidInput("the push target is this env's own root")
    match = compatible_base(env, target)
    source_meta = Store(config).read_meta(name, False) or {}
    interpreter = (target.read_meta(match.name, True) or {}).get("interpreter")
    if not interpreter:
        raise InvalidInput(f"base {match.name} in the target does not record its interpreter")
    folder = target.folder(False)
    final = target.env_path(name, False)
    with target.locked(name, False, "pushing"):
        if target.info(name, False) is not None or final.exists():
            raise EnvExists(f"{name!r} already exists in {folder}; remove it there first")
        tmp = folder / f".{name}.build-{secrets.token_hex(4)}"
        try:
            shutil.copytree(env.path, tmp, symlinks=True)
            _repoint(tmp, Path(env.path), final, interpreter, match.python_version)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        meta = {
            **{k: v for k, v in source_meta.items() if k not in ("updated", "haienv_metadata")},
            "owner": config.user,
            "status": READY,
            "reason": "",
            "interpreter": interpreter,
            "python_version": match.python_version,
            "created": now_iso(),
            "annotations": {**env.annotations, "haienv/pushed-from": env.path},
        }
        target.write_meta(name, False, meta)
    info = target.info(name, False)
    assert info is not None
    return info


def _repoint(venv: Path, old: Path, new: Path, interpreter: str, version: str) -> None:
    """Point the copied venv at the target's interpreter; fix absolute shebangs."""
    cfg = venv / "pyvenv.cfg"
    lines = []
    for line in cfg.read_text().splitlines():
        key = line.split("=", 1)[0].strip()
        if key == "home":
            line = f"home = {os.path.dirname(interpreter)}"
        elif key in ("version_info", "version"):
            line = f"{key} = {version}"
        lines.append(line)
    cfg.write_text("\n".join(lines) + "\n")
    bindir = venv / "bin"
    for entry in bindir.iterdir():
        if entry.is_symlink() and os.path.isabs(os.readlink(entry)):
            entry.unlink()
            entry.symlink_to(interpreter)
        elif entry.is_file():
            with contextlib.suppress(OSError, UnicodeDecodeError):
                text = entry.read_text()
                if text.startswith(f"#!{old}/"):
                    entry.write_text(text.replace(f"#!{old}/", f"#!{new}/", 1))
    if not (bindir / "python").is_symlink() and not (bindir / "python").exists():
        raise HaiEnvError(f"the copied env has no bin/python pointing at {interpreter}")
