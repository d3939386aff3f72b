"""Exponentially decayed usage: how much of a user's GPU time still counts as *recent*.

This module owns the arithmetic of fair share's usage (Slurm's ``PriorityDecayHalfLife``
made exact): a GPU-second used ``age`` seconds ago counts ``2^(-age / half_life)``, so a
run of ``gpus`` GPUs from ``start`` to ``end`` counts, at ``now``,

    gpus * ∫ 2^(-(now - t) / half_life) dt  over [start, end]
      = gpus * half_life / ln 2 * (2^(-(now - end) / half_life) - 2^(-(now - start) / half_life))

decayed GPU-seconds. The sum is linear and decays as a whole, so a total valued at ``t``
is valued at ``now`` by multiplying it by ``2^(-(now - t) / half_life)``: the service
folds finished runs in once and decays the total (:func:`decayed`). Pure: no database,
no clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from scheduler.policy.types import FairShareUsage

_LN2 = math.log(2.0)


@dataclass(slots=True, frozen=True)
class UsageSegment:
    """``gpus`` GPUs used by ``user`` (of ``group``) from ``start`` to ``end`` (epoch
    seconds); ``end`` None: still running, counted up to ``now``."""

    user: str
    group: str | None
    gpus: float
    start: float
    end: float | None = None


def decay_factor(elapsed: float, half_life: float) -> float:
    """``2^(-elapsed / half_life)``: what one unit of usage is worth ``elapsed`` s later."""
    return math.exp(-_LN2 * elapsed / half_life)


def segment_usage(
    gpus: float, start: float, end: float | None, now: float, half_life: float
) -> float:
    """Decayed GPU-seconds at ``now`` of ``gpus`` GPUs used from ``start`` to ``end``.

    ``end`` None or after ``now`` counts up to ``now``; an empty interval counts 0. Written
    with ``expm1`` so a short run long after a long half-life loses no precision.
    """
    stop = now if end is None or end > now else end
    if stop <= start:
        return 0.0
    rate = _LN2 / half_life
    return gpus * math.exp(-rate * (now - stop)) * -math.expm1(-rate * (stop - start)) / rate


def _add(totals: dict[str, float], name: str, value: float) -> None:
    totals[name] = totals.get(name, 0.0) + value


def decayed_usage(segments: Iterable[UsageSegment], now: float, half_life: float) -> FairShareUsage:
    """Decayed GPU-seconds at ``now`` per user and per group (users without a group count
    only as users)."""
    users: dict[str, float] = {}
    groups: dict[str, float] = {}
    for seg in segments:
        value = segment_usage(seg.gpus, seg.start, seg.end, now, half_life)
        _add(users, seg.user, value)
        if seg.group is not None:
            _add(groups, seg.group, value)
    return FairShareUsage(users, groups)


def decayed(totals: Mapping[str, float], elapsed: float, half_life: float) -> dict[str, float]:
    """``totals`` valued ``elapsed`` seconds later (each multiplied by the decay factor)."""
    factor = decay_factor(elapsed, half_life)
    return {name: value * factor for name, value in totals.items()}


def combined(first: FairShareUsage, second: FairShareUsage) -> FairShareUsage:
    """The sum of two usages valued at the same moment."""
    users = dict(first.users)
    groups = dict(first.groups)
    for name, value in second.users.items():
        _add(users, name, value)
    for name, value in second.groups.items():
        _add(groups, name, value)
    return FairShareUsage(users, groups)
