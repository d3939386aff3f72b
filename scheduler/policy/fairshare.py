"""Fair share: recent usage orders the pending chains of one effective priority.

This module owns the fair-share score of a chain's owner and the queue step that applies
it. With :attr:`PolicyConfig.fair_share` set, the chains of each effective priority are
ordered by

    score = user_weight * usage(user) / share(user) + group_weight * usage(group) / share(group)

lowest first, then (as without fair share) by queue time and id. Usage is decayed
GPU-seconds (:mod:`scheduler.policy.decay`); a missing share is 1 and a user without a
group is a group of their own (their usage and share count in both terms). The score is
computed once per (user, group) per cycle (:class:`OwnerScores`) and each bucket is
sorted stably on it, so the queue order of equal scores is kept; a queue bucketed from
scratch (:mod:`scheduler.policy.ordering`) is split on (effective priority, score) in the
same pass instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from scheduler.policy.types import FairShareConfig, FairShareUsage, PendingChain

_NO_USAGE = FairShareUsage()


def fair_share_score(
    user: str, user_group: str | None, config: FairShareConfig, usage: FairShareUsage | None
) -> float:
    """The score of ``user`` in ``user_group``: lower goes first among equal priorities."""
    usage = usage or _NO_USAGE
    own = usage.users.get(user, 0.0)
    user_share = config.user_shares.get(user, 1.0)
    if user_group is None:  # a group of their own, with their share
        group_used, group_share = own, user_share
    else:
        group_used = usage.groups.get(user_group, 0.0)
        group_share = config.group_shares.get(user_group, 1.0)
    return config.user_weight * own / user_share + config.group_weight * group_used / group_share


class OwnerScores(dict[tuple[str, "str | None"], float]):
    """``scores[user, user_group]``: the owner's :func:`fair_share_score`, computed on
    first use (once per owner and cycle)."""

    __slots__ = ("config", "usage")

    def __init__(self, config: FairShareConfig, usage: FairShareUsage | None) -> None:
        super().__init__()
        self.config = config
        self.usage = usage

    def __missing__(self, owner: tuple[str, str | None]) -> float:
        score = self[owner] = fair_share_score(owner[0], owner[1], self.config, self.usage)
        return score


def by_fair_share(
    buckets: Iterable[tuple[int, Iterable[PendingChain]]],
    config: FairShareConfig,
    usage: FairShareUsage | None,
) -> Iterator[tuple[int, list[PendingChain]]]:
    """Each bucket of the queue sorted by score, lazily (a caller that stops early sorts
    only the buckets it reached); stable, so chains of equal score keep their (queue time,
    id) order. One score per (user, group), computed on first use."""
    scores = OwnerScores(config, usage)

    def score(chain: PendingChain) -> float:
        return scores[chain.user, chain.user_group]

    for eff, chains in buckets:
        yield eff, sorted(chains, key=score)
