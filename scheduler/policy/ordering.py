"""Queue order of pending chains: effective (aged) priority, then (with fair share on)
recent usage, then queue time, then id.

This module owns aging: how long waiting raises a pending chain's effective priority.
Fair share's score is :mod:`scheduler.policy.fairshare`'s.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from itertools import chain as joined
from itertools import compress, islice
from operator import attrgetter, eq
from typing import Any

from scheduler.model.enums import Priority
from scheduler.policy.fairshare import OwnerScores, by_fair_share
from scheduler.policy.types import FairShareUsage, PendingChain, PolicyConfig

_TOP = int(Priority.EXTREME_HIGH)
_BY_ID = attrgetter("id")
_BY_QUEUED_AT = attrgetter("queued_at")
_BY_PRIORITY = attrgetter("priority")
_NEGATED_PRIORITY: Callable[[PendingChain], int] = lambda chain: -chain.priority  # noqa: E731
_OWNER = attrgetter("user", "user_group")


def queue_key(chain: PendingChain) -> tuple[int, float, int]:
    """The queue order without aging: highest priority, then earliest ``queued_at``, then
    lowest id (what ``presorted`` input to :func:`queue_buckets` is sorted by)."""
    return (-chain.priority, chain.queued_at, chain.id)


def _priority_slices(pending: Sequence[PendingChain]) -> list[tuple[int, Sequence[PendingChain]]]:
    """Presorted chains as one slice per priority, highest first, found by bisection: a
    slice is copied at C speed, where grouping them one by one stepped through every chain
    in Python (~5 ms a cycle at 100,000 queued, for a walk that stops after a few)."""
    out: list[tuple[int, Sequence[PendingChain]]] = []
    start, end = 0, len(pending)
    while start < end:
        priority = pending[start].priority
        stop = bisect_right(pending, -priority, lo=start, key=_NEGATED_PRIORITY)
        out.append((priority, pending[start:stop]))
        start = stop
    return out


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
    pending: Sequence[PendingChain],
    config: PolicyConfig,
    now: float,
    usage: FairShareUsage | None = None,
    presorted: bool = False,
) -> Iterable[tuple[int, Iterable[PendingChain]]]:
    """The queue as ``(effective priority, chains)`` buckets, highest priority first; each
    bucket in ``queued_at`` order (a resumed chain keeps its original one), then by id,
    and with fair share on, first by the owner's fair-share score (``usage``: split on it
    while bucketing, or for presorted input without aging each bucket sorted once more,
    stably, when it is reached).

    Without aging, ``presorted`` input (in :func:`queue_key` order) is cut into one slice
    per priority by bisection (:func:`_priority_slices`); with aging, it is cut and merged
    (:func:`_aged_presorted`), not sorted again. Other input is sorted on queue times and
    dealt into its buckets (:func:`_bucketed`).
    """
    if presorted and config.aging_seconds <= 0:
        grouped = _priority_slices(pending)
        if config.fair_share is None:
            return grouped
        return by_fair_share(grouped, config.fair_share, usage)
    fair = config.fair_share
    if not presorted:
        return _bucketed(pending, config, now, None if fair is None else OwnerScores(fair, usage))
    ordered = _aged_presorted(pending, config, now)
    return ordered if fair is None else by_fair_share(ordered, fair, usage)


class _Table(dict[Any, Any]):
    """A dict whose missing values are ``make(key)``, made on first use."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[Any], Any]) -> None:
        self.make = make

    def __missing__(self, key: Any) -> Any:
        value = self[key] = self.make(key)
        return value


def _bucketed(
    pending: Sequence[PendingChain], config: PolicyConfig, now: float, scores: OwnerScores | None
) -> list[tuple[int, list[PendingChain]]]:
    """Chains in any order as ``(effective priority, chains)`` buckets, highest first, each
    in (queued_at, id) order, or with ``scores`` (fair share on) in (score, queued_at, id)
    order: split on (effective priority, score) in the same pass.

    In queue-time order the aging boost never rises, so the queue is cut by bisection into
    runs of one boost, in which a chain's effective priority follows from its base
    priority alone; each run is dealt into its buckets by ``map`` (no Python-level step
    per chain). The boost is :func:`effective_priority`'s."""
    chains = sorted(pending, key=_BY_ID)
    chains.sort(key=_BY_QUEUED_AT)
    step = config.aging_seconds
    top = min(int(config.aging_max_priority), _TOP)

    def boost(chain: PendingChain) -> int:
        waited = now - chain.queued_at
        return int(waited // step) if waited >= step else 0

    def lower(chain: PendingChain) -> int:
        return -boost(chain)

    buckets: _Table = _Table(lambda key: [])
    start = 0
    while start < len(chains):
        if step <= 0:
            end, up = len(chains), 0
        else:
            up = boost(chains[start])
            end = bisect_right(chains, -up, lo=start, key=lower)
        run = chains[start:end]
        if up:
            eff_of = _Table(lambda base, up=up: min(base + up, base if base > top else top))
            effs = map(eff_of.__getitem__, map(_BY_PRIORITY, run))
        else:
            effs = map(_BY_PRIORITY, run)
        keys = (
            effs
            if scores is None
            else zip(effs, map(scores.__getitem__, map(_OWNER, run)), strict=True)
        )
        deque(map(list.append, map(buckets.__getitem__, keys), run), maxlen=0)
        start = end
    if scores is None:
        return [(eff, buckets[eff]) for eff in sorted(buckets, reverse=True)]
    out: list[tuple[int, list[PendingChain]]] = []
    for key in sorted(buckets, key=lambda k: (-k[0], k[1])):
        if out and out[-1][0] == key[0]:
            out[-1][1].extend(buckets[key])
        else:
            out.append((key[0], buckets[key]))
    return out


def _aged_presorted(
    pending: Sequence[PendingChain], config: PolicyConfig, now: float
) -> list[tuple[int, list[PendingChain]]]:
    """Chains in :func:`queue_key` order as ``(effective priority, chains)`` buckets,
    highest first, each in (queued_at, id) order. The chains of one base priority are a
    run in (queued_at, id) order along which the effective priority never rises: it is cut
    where it drops (by bisection) and the pieces of one effective priority are merged."""

    def lower(chain: PendingChain) -> int:
        return -effective_priority(chain, config, now)

    pieces: dict[int, list[list[PendingChain]]] = {}
    for _base, chains in _priority_slices(pending):
        start = 0
        while start < len(chains):
            eff = effective_priority(chains[start], config, now)
            end = bisect_right(chains, -eff, lo=start, key=lower)
            pieces.setdefault(eff, []).append(chains[start:end])
            start = end
    return [(eff, _merged(pieces[eff])) for eff in sorted(pieces, reverse=True)]


def _merged(pieces: list[list[PendingChain]]) -> list[PendingChain]:
    """Lists each in (queued_at, id) order merged into one in that order: a stable sort
    on the queue times alone, which is the merge unless equal times of different pieces
    come out of id order; then (rarely) a sort on both."""
    if len(pieces) == 1:
        return pieces[0]
    merged = sorted(joined.from_iterable(pieces), key=_BY_QUEUED_AT)
    times = list(map(_BY_QUEUED_AT, merged))
    for i in compress(range(len(times) - 1), map(eq, times, islice(times, 1, None))):
        if merged[i].id > merged[i + 1].id:
            merged.sort(key=_BY_ID)
            merged.sort(key=_BY_QUEUED_AT)
            break
    return merged


def queue_order(
    pending: Sequence[PendingChain],
    config: PolicyConfig,
    now: float,
    usage: FairShareUsage | None = None,
) -> list[tuple[int, PendingChain]]:
    """``(effective priority, chain)`` pairs, highest effective priority first, then
    (fair share on) lowest fair-share score, then earliest ``queued_at`` (a resumed chain
    keeps its original one), then lowest id."""
    buckets = queue_buckets(pending, config, now, usage)
    return [(eff, chain) for eff, chains in buckets for chain in chains]
