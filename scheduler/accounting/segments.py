"""Run segments and their split into hour buckets: pure arithmetic, no database.

A segment is one stretch of holding GPUs: a rank from its start to its end (a suspended
chain's waiting time lies between two jobs' ranks, so it is in no segment), or a dev
server from its allocation to its release. Durations are integer microseconds, so the
buckets of a segment add up to exactly its length.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

HOUR_US = 3_600_000_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Key:
    """The dimensions one rollup row is kept for (besides its hour)."""

    kind: str
    user_name: str
    user_group: str
    node_group: str
    priority: int
    profile: str


@dataclass(frozen=True, slots=True)
class Segment:
    """``gpus`` GPUs and ``nodes`` whole nodes held from ``start`` to ``end``."""

    key: Key
    start: dt.datetime
    end: dt.datetime
    gpus: int
    nodes: int


def to_us(value: dt.datetime) -> int:
    """Microseconds since the epoch (exact: no float on the way)."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=us)


def floor_hour(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(value: dt.datetime) -> dt.datetime:
    floor = floor_hour(value)
    return floor if floor == value else floor + dt.timedelta(hours=1)


def hours(start: dt.datetime, end: dt.datetime) -> Iterator[tuple[dt.datetime, int]]:
    """(hour start, microseconds of [start, end) within that hour), oldest first."""
    lo, hi = to_us(start), to_us(end)
    while lo < hi:
        bucket = lo - lo % HOUR_US
        upto = min(hi, bucket + HOUR_US)
        yield from_us(bucket), upto - lo
        lo = upto


def clip(seg: Segment, since: dt.datetime, until: dt.datetime) -> Segment | None:
    """The part of ``seg`` within [since, until), or None."""
    start, end = max(seg.start, since), min(seg.end, until)
    if end <= start:
        return None
    return Segment(seg.key, start, end, seg.gpus, seg.nodes)


def rank_gpus(gpus_per_node: int | None, node_gpus: int | None) -> int:
    """GPUs a rank holds: what its chain asked per node (at most the node's), else the
    whole node's."""
    if gpus_per_node is None:
        return node_gpus or 0
    return gpus_per_node if node_gpus is None else min(gpus_per_node, node_gpus)
