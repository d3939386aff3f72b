"""Rank logs on Kubernetes: read live from the pod log API, archived when the pod goes.

The pod log API returns the container's output from its start, each line prefixed with
the runtime's RFC 3339 timestamp — the same ``<time> <text>`` shape as the rank log
segments of :mod:`scheduler.backends.logfiles` (shared with the local backend). Offsets
are byte offsets into that text, so a follower's cursor stays valid when the sweep
archives a finished pod's log into ``<data_dir>/logs/<chain>/<job>/<rank>/`` (read with
that module's reader) and deletes the pod.

Limit: the kubelet rotates container logs (``containerLogMaxSize``, 10 MiB by default) and
the API serves only the newest file, so offsets of a very chatty live rank restart after a
rotation; the archive holds what the API still had when the pod ended.
"""

from __future__ import annotations

from pathlib import Path

from hai_client.files import write_atomic
from scheduler.backends.logfiles import SEGMENT_SUFFIX, read_log
from scheduler.backends.types import LogChunk, LogLine, RankKey


def archive_dir(data_dir: str, key: RankKey) -> Path:
    return Path(data_dir) / "logs" / str(key.chain_id) / str(key.job_seq) / str(key.rank)


def has_archive(folder: Path) -> bool:
    return (folder / f"{0:016d}{SEGMENT_SUFFIX}").exists()


def write_archive(folder: Path, raw: bytes) -> None:
    """Store a finished pod's whole timestamped log as the rank's first log segment."""
    if raw and not raw.endswith(b"\n"):
        raw += b"\n"
    write_atomic(folder / f"{0:016d}{SEGMENT_SUFFIX}", raw, make_parents=True)


def read_archive(folder: Path, offset: int, max_bytes: int) -> LogChunk:
    return read_log(folder, offset, max_bytes)


def chunk_from_raw(raw: bytes, offset: int, max_bytes: int, *, complete: bool) -> LogChunk:
    """Complete lines of ``raw`` (a log from its first byte) from ``offset``.

    ``complete``: ``raw`` is all there is right now (the API returned less than asked).
    """
    data = raw[offset : offset + max_bytes]
    cut = data.rfind(b"\n") + 1
    lines = []
    for line in data[:cut].splitlines():
        stamp, _, text = line.partition(b" ")
        lines.append(LogLine(time=stamp.decode(), text=text.decode("utf-8", "replace")))
    next_offset = offset + cut
    return LogChunk(lines=lines, next_offset=next_offset, eof=complete and next_offset >= len(raw))
