"""Per-rank log files: timestamps, line caps, rotation, reading from a cursor."""

from __future__ import annotations

import re
from pathlib import Path

from scheduler.backends.logfiles import LogWriter, read_log


def texts(folder: Path, offset: int = 0) -> tuple[list[str], int]:
    out: list[str] = []
    while True:
        chunk = read_log(folder, offset, max_bytes=300)
        out.extend(line.text for line in chunk.lines)
        offset = chunk.next_offset
        if chunk.eof:
            return out, offset


def test_lines_are_timestamped_and_partial_lines_wait_for_their_end(tmp_path: Path) -> None:
    w = LogWriter(tmp_path)
    w.feed(b"hello\nwor")
    assert texts(tmp_path)[0] == ["hello"], "a partial line is not stored yet"
    w.feed(b"ld\r\n")
    chunk = read_log(tmp_path)
    assert [ln.text for ln in chunk.lines] == ["hello", "world"]
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", ln.time) for ln in chunk.lines)
    w.close()


def test_long_lines_are_capped_with_a_marker(tmp_path: Path) -> None:
    w = LogWriter(tmp_path, max_line_bytes=10)
    w.feed(b"x" * 25 + b"\nshort\n")
    w.feed(b"y" * 15)  # an over-long line still being written...
    w.feed(b"y" * 15 + b"\nafter\n")  # ...and its end
    w.close()
    lines, _ = texts(tmp_path)
    assert lines[0] == "x" * 10 + " [hai: truncated 15 bytes]"
    assert lines[1] == "short"
    assert lines[2].startswith("y" * 10) and "truncated" in lines[2]
    assert lines[3] == "[hai: line truncated, 20 bytes dropped]"
    assert lines[4] == "after"


def test_a_10_mib_line_read_in_pieces_is_one_head_and_one_exact_note(tmp_path: Path) -> None:
    w = LogWriter(tmp_path, max_line_bytes=16384)
    size = 10 << 20
    chunk = b"z" * 65536
    for _ in range(size // len(chunk)):  # as the supervisor reads a pipe: 64 KiB at a time
        w.feed(chunk)
    w.feed(b"\nnext line\n")
    w.close()
    lines, _ = texts(tmp_path)
    assert len(lines) == 3, [line[:60] for line in lines]
    assert lines[0] == "z" * 16384 + " [hai: truncated]"
    assert lines[1] == f"[hai: line truncated, {size - 16384} bytes dropped]"
    assert lines[2] == "next line"


def test_rotation_keeps_offsets_valid_and_drops_the_oldest(tmp_path: Path) -> None:
    w = LogWriter(tmp_path, segment_bytes=400, keep_segments=3)
    for i in range(10):
        w.feed(f"line {i:03d}\n".encode())
    first, cursor = texts(tmp_path)
    assert first == [f"line {i:03d}" for i in range(10)]
    for i in range(10, 60):
        w.feed(f"line {i:03d}\n".encode())
    w.close()
    segments = sorted(p.name for p in tmp_path.iterdir())
    assert len(segments) == 3, segments
    # a follower's cursor from before the rotation goes on where it stopped, or at the
    # oldest line still kept if its place rotated away
    rest, _ = texts(tmp_path, cursor)
    assert rest == [f"line {i:03d}" for i in range(60 - len(rest), 60)]
    assert rest[-1] == "line 059" and len(rest) < 50
    everything, end = texts(tmp_path)
    assert everything == rest, "reading from 0 starts at the oldest kept segment"
    assert read_log(tmp_path, end).lines == [] and read_log(tmp_path, end).eof


def test_a_reopened_writer_appends(tmp_path: Path) -> None:
    w = LogWriter(tmp_path)
    w.feed(b"one\n")
    w.close()
    w = LogWriter(tmp_path)  # e.g. the same rank's log after a supervisor restart
    w.feed(b"two\n")
    w.close()
    assert texts(tmp_path)[0] == ["one", "two"]


def test_small_reads_page_through_everything_and_a_huge_line_still_moves(tmp_path: Path) -> None:
    w = LogWriter(tmp_path, max_line_bytes=5000)
    w.feed(b"a\n" + b"z" * 4000 + b"\nb\n")
    w.close()
    got: list[str] = []
    offset, pages = 0, 0
    while True:
        chunk = read_log(tmp_path, offset, max_bytes=100)
        got.extend(line.text for line in chunk.lines)
        assert chunk.next_offset > offset or chunk.eof, "a follower always moves on"
        offset, pages = chunk.next_offset, pages + 1
        if chunk.eof:
            break
    assert got == ["a", "z" * 4000, "b"]
    assert pages >= 2
