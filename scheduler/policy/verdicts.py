"""The memos of a cycle's quick verdicts: why a pending chain cannot be placed yet.

This module owns :class:`Verdicts`, the tables the queue walk of
:func:`scheduler.policy.decide.decide` reads first for every chain. A chain's quick verdict
(its reason when it is invalid or over a quota, ``""`` when it may be placed) has two
parts, each memoized in its own table: its validity and its node group's quota at its base
priority, which depend only on its ``(user, user group, node group, base priority)``, its
node count and its user's usage at that group and priority; and its user's total-nodes
quota, which depends only on ``(user, user group)``, its node count and its user's total
usage. A table keeps, per key, the key's standing (what the verdicts are computed from)
and each verdict once computed, shared by the keys of equal standing; the caller forgets a
key when the walk charges the usage it follows more nodes, the only thing that changes
it. So a chain costs a few dict lookups, a new node count of a standing one small
judgement, and a new key (or a charge) one look at the quotas: a charge forgets one key of
each table (per user group of the user), not every key of the user. What a standing holds
and how a verdict follows from it are the caller's (``standing`` and ``judge``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: (user, user group, node group, base priority)
VerdictKey = tuple[str, "str | None", str, int]


class _ByNeed(dict[int, str]):
    """One key's verdicts by node count, each judged from its standing on first use."""

    __slots__ = ("judge", "standing")

    def __init__(self, judge: Callable[[Any, int], str], standing: Any) -> None:
        # (an empty dict needs no dict.__init__: one call fewer per new standing)
        self.judge = judge
        self.standing = standing

    def __missing__(self, need: int) -> str:
        verdict = self[need] = self.judge(self.standing, need)
        return verdict


class Verdicts(dict[Any, _ByNeed]):
    """``verdicts[key][need]``: a part of the quick verdict of a chain,
    ``judge(standing(key), need)``, computed on first use; :meth:`forget` drops a key once
    the usage it follows changed. A key is looked at again at most once per forget, so the
    table's bookkeeping is linear in the standings it computes. Keys of equal standing (a
    standing must be hashable: its value is all a verdict follows from) share their
    verdicts, which never go stale: many users have the same quotas and usage."""

    __slots__ = ("by_standing", "judge", "standing")

    def __init__(self, standing: Callable[[Any], Any], judge: Callable[[Any, int], str]) -> None:
        super().__init__()
        self.standing = standing
        self.judge = judge
        self.by_standing: dict[Any, _ByNeed] = {}

    def __missing__(self, key: Any) -> _ByNeed:
        standing = self.standing(key)
        by_need = self.by_standing.get(standing)
        if by_need is None:
            by_need = self.by_standing[standing] = _ByNeed(self.judge, standing)
        self[key] = by_need
        return by_need

    def forget(self, key: Any) -> None:
        """Drop the verdicts of ``key`` (the usage they follow changed), if any."""
        self.pop(key, None)
