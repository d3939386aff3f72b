"""Queue order of pending chains: effective (aged) priority, then queue time, then id.

This module owns aging: how long waiting raises a pending chain's effective priority.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import groupby
from operator import attrgetter

from scheduler.model.enums import Priority
from scheduler.policy.types import PendingChain, PolicyConfig

_TOP = int(Priority.EXTREME_HIGH)
_BY_ID = attrgetter("id")
_BY_QUEUED_AT = attrgetter("queued_at")
_BY_PRIORITY = attrgetter("priority")


def queue_key(chain: PendingChain) -> tuple[int, float, int]:
    """The queue order without aging: highest priority, then earliest ``queued_at``, then
    lowest id (what ``presorted`` input to :func:`queue_buckets` is sorted by)."""
    return (-chain.priority, chain.queued_at, chain.id)


def effective_priority(chain: PendingChain, config: PolicyConfig, now: float) -> int:
    """Base priority plus one per ``aging_seconds`` waited, capped.

    ``min(base + floor((now - queued_at) / aging_seconds), max(base, aging_max_priority))``;
    the cap never exceeds EXTREME_HIGH, waiting time below zero (clock skew) counts as zero,
    and ``aging_seconds <= 0`` disables aging.
    """
    base = chain.priority
    step = config.aging_seconds
    if step <= 0:
        return base
    waited = now - chain.queued_at
    if waited < step:
        return base
    cap = max(base, min(int(config.aging_max_priority), _TOP))
    return min(base + int(waited // step), cap)


def queue_buckets(
    pending: Sequence[PendingChain], config: PolicyConfig, now: float, presorted: bool = False
) -> Iterable[tuple[int, Iterable[PendingChain]]]:
    """The queue as ``(effective priority, chains)`` buckets, highest priority first; each
    bucket in ``queued_at`` order (a resumed chain keeps its original one), then by id.

    Two stable sorts on single keys and a linear bucketing: cheaper than sorting tuples.
    Aging is inlined here; it must agree with :func:`effective_priority`. Without aging,
    ``presorted`` input (in :func:`queue_key` order) is grouped lazily: a caller that stops
    early pays only for the chains it walked.
    """
    if presorted and config.aging_seconds <= 0:
        return groupby(pending, key=_BY_PRIORITY)
    chains = sorted(pending, key=_BY_ID)
    chains.sort(key=_BY_QUEUED_AT)
    buckets: dict[int, list[PendingChain]] = {}
    step = config.aging_seconds
    if step > 0:
        top = min(int(config.aging_max_priority), _TOP)
        for chain in chains:
            eff = base = chain.priority
            waited = now - chain.queued_at
            if waited >= step:
                eff = base + int(waited // step)
                cap = base if base > top else top
                if eff > cap:
                    eff = cap
            bucket = buckets.get(eff)
            if bucket is None:
                bucket = buckets[eff] = []
            bucket.append(chain)
    else:
        for chain in chains:
            bucket = buckets.get(chain.priority)
            if bucket is None:
                bucket = buckets[chain.priority] = []
            bucket.append(chain)
    return [(eff, buckets[eff]) for eff in sorted(buckets, reverse=True)]


def queue_order(
    pending: Sequence[PendingChain], config: PolicyConfig, now: float
) -> list[tuple[int, PendingChain]]:
    """``(effective priority, chain)`` pairs, highest effective priority first, then
    earliest ``queued_at`` (a resumed chain keeps its original one), then lowest id."""
    return [(eff, chain) for eff, chains in queue_buckets(pending, config, now) for chain in chains]
