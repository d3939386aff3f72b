"""File-system helpers every HAI package uses: atomic writes and flock locks.

This is the lowest layer they share: a few standard-library modules (no typing, which
``source haienv`` must not load), in the core install, and ``hai_client``'s package import
is empty, so haienv, the scheduler (its per-rank supervisor included), hai-cli and the hub
pay for this module alone.

- :func:`write_atomic`, :func:`write_json_atomic`: readers see the old file or the new
  one, never half of one;
- :func:`flocked`: hold an advisory ``flock`` on a lock file (or a folder) for a ``with`` block,
  waiting for it or not; the lock dies with its process, whatever way it ends;
- :func:`is_locked`: whether some process holds that lock now.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from typing import Any


def write_atomic(
    path: Path, data: bytes | str, *, mode: int | None = None, make_parents: bool = False
) -> None:
    """Write ``data`` to ``path`` through a temporary file beside it and a rename.

    ``mode`` sets the file's permission bits, the temporary file's from its creation on
    (default: 0666 less the umask); ``make_parents`` creates the missing folders first.
    The temporary file is removed when the write fails.
    """
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        if mode is not None:
            os.chmod(tmp, mode)  # the umask may have taken bits away
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_json_atomic(
    path: Path,
    data: Any,
    *,
    indent: int | None = None,
    sort_keys: bool = False,
    mode: int | None = None,
    make_parents: bool = False,
) -> None:
    """:func:`write_atomic` of ``data`` as JSON; ``indent``/``sort_keys`` as for
    :func:`json.dumps` (an indented file ends with a newline)."""
    text = json.dumps(data, indent=indent, sort_keys=sort_keys)
    if indent is not None:
        text += "\n"
    write_atomic(path, text, mode=mode, make_parents=make_parents)


def _busy(exc: OSError) -> bool:
    return exc.errno in (errno.EAGAIN, errno.EACCES)


@contextlib.contextmanager
def flocked(
    path: str | os.PathLike[str], *, wait: bool = True, mode: int = 0o666
) -> Iterator[int | None]:
    """Hold the exclusive ``flock`` of ``path`` (created with ``mode`` less the umask) for
    the ``with`` block, and yield the open descriptor. A folder is locked itself (no lock
    file to create).

    ``wait=False`` does not wait: it yields None when another process holds the lock (the
    block decides what that means). The descriptor is closed, and so the lock released, when
    the block ends. Errors opening the file (PermissionError, ...) propagate.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, mode)
    except IsADirectoryError:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if wait or not _busy(exc):
                raise
            os.close(fd)
            fd = -1
            yield None
            return
        yield fd
    finally:
        if fd >= 0:
            os.close(fd)


def is_locked(path: str | os.PathLike[str]) -> bool:
    """True when some process holds the ``flock`` of ``path`` (False when there is no such
    file or it cannot be read)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False
