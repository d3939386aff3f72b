"""Per-rank log files: timestamped lines in size-capped segments, readable from a byte offset.

A rank's log is a folder of segment files named by the global byte offset at which they
start (``0000000000000000.log``, ``0000000008388608.log`` …). Offsets are global across
segments, so a reader's cursor stays valid when old segments rotate away.
Each stored line is ``<ISO-8601 UTC time> <text>\\n``.

Shared by both backends: the local rank supervisor writes these segments, the Kubernetes
backend archives a finished pod's log as one, and both read them back with :func:`read_log`.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import BinaryIO

from scheduler.backends.types import LogChunk, LogLine

SEGMENT_SUFFIX = ".log"


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _segments(folder: Path) -> list[tuple[int, Path]]:
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        if name.endswith(SEGMENT_SUFFIX):
            try:
                out.append((int(name[: -len(SEGMENT_SUFFIX)]), folder / name))
            except ValueError:
                continue
    out.sort()
    return out


class LogWriter:
    """Appends timestamped lines; caps line length; rotates segments by size."""

    def __init__(
        self,
        folder: Path,
        *,
        max_line_bytes: int = 16384,
        segment_bytes: int = 8 << 20,
        keep_segments: int = 4,
        reader_gid: int | None = None,
    ) -> None:
        """``reader_gid``: the rank owner's group may read the log (folder 0750, files
        0640); the writer keeps ownership, so the rank cannot rewrite its own record."""
        self.folder = folder
        self.max_line_bytes = max_line_bytes
        self.segment_bytes = segment_bytes
        self.keep_segments = keep_segments
        self.reader_gid = reader_gid
        folder.mkdir(parents=True, exist_ok=True)
        if reader_gid is not None:
            os.chown(folder, -1, reader_gid)
            folder.chmod(0o750)
        segs = _segments(folder)
        if segs:
            start, path = segs[-1]
            self._start = start
            self._fh = self._open(path)
            self._size = self._fh.tell()
        else:
            self._start = 0
            self._size = 0
            self._fh = self._open(folder / f"{0:016d}{SEGMENT_SUFFIX}")
        self._partial = b""
        self._dropping = 0  # bytes of an over-long line being dropped

    def _open(self, path: Path) -> BinaryIO:
        fh = open(path, "ab")  # noqa: SIM115 - kept open for the writer's life
        if self.reader_gid is not None:
            os.fchown(fh.fileno(), -1, self.reader_gid)
            os.fchmod(fh.fileno(), 0o640)
        return fh

    def _emit(self, text: bytes) -> None:
        record = _now_iso().encode() + b" " + text + b"\n"
        if self._size and self._size + len(record) > self.segment_bytes:
            self._rotate()
        self._fh.write(record)
        self._size += len(record)

    def _rotate(self) -> None:
        self._fh.close()
        self._start += self._size
        self._size = 0
        self._fh = self._open(self.folder / f"{self._start:016d}{SEGMENT_SUFFIX}")
        for _, old in _segments(self.folder)[: -self.keep_segments]:
            old.unlink(missing_ok=True)

    def feed(self, data: bytes) -> None:
        """Take raw output bytes; complete lines are stored, a partial line is kept. A line
        longer than ``max_line_bytes`` is stored as its head plus one note with the exact
        count of bytes dropped, however many reads it arrives in."""
        if self._dropping:
            head, newline, data = data.partition(b"\n")
            self._dropping += len(head)
            if not newline:
                return
            self._emit(b"[hai: line truncated, %d bytes dropped]" % self._dropping)
            self._dropping = 0
        buf = self._partial + data
        *lines, self._partial = buf.split(b"\n")
        for line in lines:
            if len(line) > self.max_line_bytes:
                extra = len(line) - self.max_line_bytes
                self._emit(line[: self.max_line_bytes] + b" [hai: truncated %d bytes]" % extra)
            else:
                self._emit(line.rstrip(b"\r"))
        if len(self._partial) > self.max_line_bytes:
            self._emit(self._partial[: self.max_line_bytes] + b" [hai: truncated]")
            self._dropping = len(self._partial) - self.max_line_bytes
            self._partial = b""
        self._fh.flush()

    def note(self, text: str) -> None:
        """Store a line of the platform's own (e.g. why a rank could not start)."""
        self._emit(("[hai] " + text).encode())
        self._fh.flush()

    def close(self) -> None:
        if self._partial:
            self._emit(self._partial[: self.max_line_bytes])
            self._partial = b""
        self._fh.close()


def read_log(folder: Path, offset: int = 0, max_bytes: int = 1 << 20) -> LogChunk:
    """Complete lines from global byte ``offset``, at most about ``max_bytes`` of them."""
    segs = _segments(folder)
    if not segs:
        return LogChunk(lines=[], next_offset=offset, eof=True)
    if offset < segs[0][0]:
        offset = segs[0][0]  # the older part rotated away
    lines: list[LogLine] = []
    budget = max_bytes
    for i, (start, path) in enumerate(segs):
        end = segs[i + 1][0] if i + 1 < len(segs) else None
        if end is not None and offset >= end:
            continue
        with open(path, "rb") as fh:
            fh.seek(offset - start)
            data = fh.read(max(budget, 0))
            if b"\n" not in data and len(data) == budget:
                data += fh.readline()  # one line longer than the budget: take it whole
            more = fh.read(1) != b""  # the budget stopped us inside this segment
        cut = data.rfind(b"\n") + 1
        for raw in data[:cut].splitlines():
            stamp, _, text = raw.partition(b" ")
            lines.append(LogLine(time=stamp.decode(), text=text.decode("utf-8", "replace")))
        offset += cut
        budget -= cut
        if more or (end is not None and (budget <= 0 or offset < end)):
            return LogChunk(lines=lines, next_offset=offset, eof=False)
    return LogChunk(lines=lines, next_offset=offset, eof=True)
