"""The memo of a cycle's quick verdicts: why a pending chain cannot be placed yet.

This module owns :class:`Verdicts`, the table the queue walk of
:func:`scheduler.policy.decide.decide` reads first for every chain. A chain's quick
verdict (its reason when it is invalid or over a quota, ``""`` when it may be placed)
depends only on its ``(user, user group, node group, base priority)``, its node count and
its user's quota usage. The table keeps, per such key, the key's standing (what the
verdicts are computed from: its quotas and its user's usage) and each verdict once
computed, shared by the keys of equal standing, and forgets a user's keys when the walk
charges that user more nodes: the only thing that changes them. So a chain costs two
dict lookups, a new node count of a standing one small judgement, and a new key (or a
charge) one look at the quotas. What a standing
holds and how a verdict follows from it are the caller's (``standing`` and ``judge``).
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
        super().__init__()
        self.judge = judge
        self.standing = standing

    def __missing__(self, need: int) -> str:
        verdict = self[need] = self.judge(self.standing, need)
        return verdict


class Verdicts(dict[VerdictKey, _ByNeed]):
    """``verdicts[key][need]``: the quick verdict of a chain, ``judge(standing(key),
    need)``, computed on first use; :meth:`forget` drops a user's keys once their usage
    changed. A key is looked at again at most once per forget of its user, so the table's
    bookkeeping is linear in the standings it computes. Keys of equal standing (a standing
    must be hashable: its value is all a verdict follows from) share their verdicts, which
    never go stale: many users have the same quotas and usage."""

    __slots__ = ("by_standing", "judge", "of_user", "standing")

    def __init__(
        self, standing: Callable[[VerdictKey], Any], judge: Callable[[Any, int], str]
    ) -> None:
        super().__init__()
        self.standing = standing
        self.judge = judge
        self.of_user: dict[str, list[VerdictKey]] = {}
        self.by_standing: dict[Any, _ByNeed] = {}

    def __missing__(self, key: VerdictKey) -> _ByNeed:
        standing = self.standing(key)
        by_need = self.by_standing.get(standing)
        if by_need is None:
            by_need = self.by_standing[standing] = _ByNeed(self.judge, standing)
        self[key] = by_need
        self.of_user.setdefault(key[0], []).append(key)
        return by_need

    def forget(self, user: str) -> None:
        """Drop every verdict of ``user`` (their quota usage changed)."""
        for key in self.of_user.pop(user, ()):
            del self[key]
