"""Environments on disk: the layout, the metadata file beside each env, locks and listing.

Layout under ``root`` (see docs/haienv.md)::

    <root>/<base_dir_name>/<name>/        a shared base env (a venv)
    <root>/<base_dir_name>/<name>.json    its metadata
    <root>/users/<user>/<name>/           a user's env
    <root>/users/<user>/<name>.json       metadata: owner, python, extends, labels, status, ...
    <root>/users/<user>/<name>.log        build log (kept after a failure)
    <root>/users/<user>/<name>.lock       held (flock) while the env is created or removed
    <root>/users/<user>/.<name>.build-*/  a build in progress (renamed to <name>/ when ready)
    <root>/cache/uv/                      the uv cache shared by everyone

The metadata file is the only record: listing reads these small JSON files and a few
``stat`` calls, never runs a subprocess and never imports anything from an env. Metadata
writes are atomic (temporary file + ``os.replace``), so readers see old or new, never half.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import namedtuple
from collections.abc import Iterator
from pathlib import Path

from hai_client.files import flocked, is_locked, write_json_atomic

from .errors import EnvBusy, EnvNotFound, HaiEnvError
from .locations import Locations, default_locations
from .names import check_name, is_valid_name

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    import datetime as _dt
    from typing import TypeVar

    from .config import HaiEnvConfig

    _T = TypeVar("_T")

CREATING = "creating"
READY = "ready"
FAILED = "failed"
STATUSES = (CREATING, READY, FAILED)

METADATA_VERSION = 1


#: the fields of EnvInfo without a default; then those with one (None: a fresh ``{}``)
_ENV_FIELDS = [
    "name",
    "owner",
    "path",
    "python",
    "python_version",
    "is_base",
    "extends",
    "status",
    "reason",
]
_ENV_DEFAULTS = {
    **{"labels": None, "annotations": None, "note": "", "created": "", "platform": ""},
    **{"extends_path": None, "site_packages": "", "log_path": "", "requested": ()},
}


class EnvInfo(
    namedtuple("EnvInfo", [*_ENV_FIELDS, *_ENV_DEFAULTS], defaults=_ENV_DEFAULTS.values())
):
    """What haienv knows about one environment (read from its metadata file).

    ``python`` is the env's interpreter (``<path>/bin/python``); ``python_version`` its full
    version. ``extends`` names the base env it layers on (``None`` for a standalone env).
    ``status`` is ``creating``, ``ready`` or ``failed``; ``reason`` says why it failed.
    Immutable: a named tuple rather than a dataclass, because ``source haienv NAME`` builds
    one and must not import dataclasses (and inspect, ~6 ms).
    """

    __slots__ = ()

    def __new__(cls, *args: object, **kwargs: object) -> EnvInfo:
        return fresh_dicts(super().__new__(cls, *args, **kwargs))

    @property
    def ready(self) -> bool:
        return self.status == READY

    @property
    def bin_dir(self) -> str:
        return os.path.join(self.path, "bin")

    @property
    def python_minor(self) -> str:
        """``'3.11'`` from ``'3.11.7'``."""
        return ".".join(self.python_version.split(".")[:2])

    @property
    def created_at(self) -> _dt.datetime | None:
        import datetime as _dt  # not at import: `source haienv` never needs it (start-up)

        try:
            return _dt.datetime.fromisoformat(self.created)
        except ValueError:
            return None

    def to_dict(self) -> dict:
        d = self._asdict()
        d.update(labels=dict(self.labels), annotations=dict(self.annotations))
        d["requested"] = list(self.requested)
        return d


def fresh_dicts(record: _T, keys: tuple[str, ...] = ("labels", "annotations")) -> _T:
    """``record`` (a named tuple) with a new ``{}`` for each of ``keys`` that is None: a
    named tuple's defaults are shared by all its instances, so a dict's default is None."""
    fresh = {k: {} for k in keys if getattr(record, k) is None}
    return record._replace(**fresh) if fresh else record


def now_iso() -> str:
    """Now, UTC, to the second, as ``datetime.isoformat`` writes it (without importing
    datetime: a create writes it, and must start fast)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())


class Store:
    """Paths and metadata for one configuration (root + user). Cheap to construct."""

    def __init__(self, config: HaiEnvConfig | Locations | None = None) -> None:
        """``config``: a HaiEnvConfig, or only the Locations (default: the environment's)."""
        self.config = config if config is not None else default_locations()

    # -- layout ---------------------------------------------------------------------------
    def folder(self, shared: bool) -> Path:
        return self.config.base_dir if shared else self.config.user_dir

    def env_path(self, name: str, shared: bool) -> Path:
        return self.folder(shared) / check_name(name)

    def meta_path(self, name: str, shared: bool) -> Path:
        return self.folder(shared) / f"{check_name(name)}.json"

    def log_path(self, name: str, shared: bool) -> Path:
        return self.folder(shared) / f"{check_name(name)}.log"

    def lock_path(self, name: str, shared: bool) -> Path:
        return self.folder(shared) / f"{check_name(name)}.lock"

    # -- metadata -------------------------------------------------------------------------
    def write_meta(self, name: str, shared: bool, data: dict) -> None:
        """Atomically replace the metadata file of ``name``."""
        path = self.meta_path(name, shared)
        data = {"haienv_metadata": METADATA_VERSION, **data, "updated": now_iso()}
        write_json_atomic(path, data, indent=2, sort_keys=True, mode=0o644, make_parents=True)

    def read_meta(self, name: str, shared: bool) -> dict | None:
        return read_json(self.meta_path(name, shared))

    def info(self, name: str, shared: bool) -> EnvInfo | None:
        """The env's :class:`EnvInfo`, or None when it has no metadata."""
        meta = self.read_meta(name, shared)
        if meta is None:
            return None
        return self._info_from_meta(name, shared, meta)

    def _info_from_meta(self, name: str, shared: bool, meta: dict) -> EnvInfo:
        folder = self.folder(shared)
        path = folder / name
        status = meta.get("status") if meta.get("status") in STATUSES else FAILED
        reason = str(meta.get("reason") or "")
        extends_path = meta.get("extends_path")
        # The disk is the truth: derive what the metadata alone cannot know.
        if status == CREATING and not is_locked(folder / f"{name}.lock"):
            status, reason = FAILED, "build interrupted: the creating process is gone"
        elif status == READY and not path.is_dir():
            status, reason = FAILED, f"environment folder {path} is missing"
        elif status == READY and extends_path and not os.path.isdir(extends_path):
            status, reason = FAILED, f"base env {meta.get('extends')!r} ({extends_path}) is gone"
        sp_rel = str(meta.get("site_packages") or "")
        return EnvInfo(
            name=name,
            owner=str(meta.get("owner") or ""),
            path=str(path),
            python=str(path / "bin" / "python"),
            python_version=str(meta.get("python_version") or ""),
            is_base=bool(meta.get("is_base", shared)),
            extends=meta.get("extends") or None,
            status=status,
            reason=reason,
            labels=dict(meta.get("labels") or {}),
            annotations=dict(meta.get("annotations") or {}),
            note=str(meta.get("note") or ""),
            created=str(meta.get("created") or ""),
            platform=str(meta.get("platform") or ""),
            extends_path=extends_path or None,
            site_packages=str(path / sp_rel) if sp_rel else "",
            log_path=str(folder / f"{name}.log"),
            requested=tuple(meta.get("requested") or ()),
        )

    # -- listing --------------------------------------------------------------------------
    def list(self, include_bases: bool = True, include_user: bool = True) -> list[EnvInfo]:
        """Every env with a metadata file: the user's first, then the shared bases."""
        out: list[EnvInfo] = []
        folders = []
        if include_user:
            folders.append(False)
        if include_bases:
            folders.append(True)
        for shared in folders:
            folder = self.folder(shared)
            try:
                entries = sorted(os.listdir(folder))
            except (FileNotFoundError, NotADirectoryError, PermissionError):
                continue
            for entry in entries:
                stem, ext = os.path.splitext(entry)
                if ext != ".json" or not is_valid_name(stem):
                    continue
                meta = read_json(folder / entry)
                if meta is not None:
                    out.append(self._info_from_meta(stem, shared, meta))
        return out

    def find(self, name: str, shared: bool | None = None) -> EnvInfo:
        """The user's env ``name``, else the shared base ``name`` (``shared`` forces one)."""
        check_name(name)
        for is_shared in (False, True) if shared is None else (shared,):
            info = self.info(name, is_shared)
            if info is not None:
                return info
        where = "shared base" if shared else "environment"
        raise EnvNotFound(f"no {where} named {name!r} (see `haienv list`)")

    def change_token(self) -> str:
        """Changes whenever an env is created, updated or removed (a few ``stat`` calls).

        Every metadata write is a rename inside the user or base folder, which updates that
        folder's mtime/ctime; callers can cache ``list_envs`` until the token changes.
        """
        parts = []
        for shared in (False, True):
            try:
                st = os.stat(self.folder(shared))
                parts.append(f"{st.st_ino}:{st.st_mtime_ns}:{st.st_ctime_ns}")
            except OSError:
                parts.append("-")
        return "|".join(parts)

    # -- locking --------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self, name: str, shared: bool, doing: str) -> Iterator[None]:
        """Hold the exclusive lock of ``name`` (non-blocking): a second creator or remover
        gets :class:`EnvBusy` at once. The lock dies with its process (flock)."""
        folder = self.folder(shared)
        try:
            _make_folder(folder, shared)
        except PermissionError:
            raise HaiEnvError(
                f"cannot write to {folder}: "
                + ("shared bases are managed by administrators" if shared else "permission denied")
            ) from None
        path = self.lock_path(name, shared)
        while True:
            with contextlib.ExitStack() as stack:
                try:
                    fd = stack.enter_context(flocked(path, wait=False, mode=0o664))
                except PermissionError:
                    raise HaiEnvError(f"cannot write to {folder}: permission denied") from None
                if fd is None:
                    holder = self._holder(name, shared)
                    raise EnvBusy(
                        f"environment {name!r} is being created or removed by another process"
                        f"{holder}; try again when it has finished (`haienv status {name}`)"
                    )
                # The file may have been unlinked by a remover between open and flock: retry.
                try:
                    same = os.path.samestat(os.fstat(fd), os.stat(path))
                except FileNotFoundError:
                    same = False
                if not same:
                    continue
                os.ftruncate(fd, 0)
                host = os.uname().nodename  # socket.gethostname(), without importing socket
                os.write(fd, f"{os.getpid()} {host} {doing}\n".encode())
                yield
                return

    def _holder(self, name: str, shared: bool) -> str:
        try:
            text = self.lock_path(name, shared).read_text().split()
            return f" (pid {text[0]} on {text[1]}, {text[2]})" if len(text) >= 3 else ""
        except OSError:
            return ""


def read_json(path: Path) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError):
        return {"status": FAILED, "reason": f"unreadable metadata file {path}"}
    return data if isinstance(data, dict) else None


def _make_folder(folder: Path, shared: bool) -> None:
    """A shared base folder is readable by everyone (0755); a user's folder by its owner
    only (0700), under a ``users`` folder nobody but its owner can list (0711)."""
    existed = folder.is_dir()
    folder.mkdir(parents=True, exist_ok=True)
    if existed:
        return
    if shared:
        folder.chmod(0o755)
        return
    folder.chmod(0o700)
    with contextlib.suppress(OSError):  # the users folder may be someone else's already
        if folder.parent.stat().st_uid == os.geteuid():
            folder.parent.chmod(0o711)
