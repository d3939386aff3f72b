"""The scheduling decision: which pending chains start where, which running chains to suspend.

This module owns :func:`decide`, a pure function over the plain data of
:mod:`scheduler.policy.types`. It indexes its input once per call (free nodes per group,
quota usage per user, preemption candidates per group sorted in victim order, and per-group
counts of preemptable nodes by priority, as prefix sums) so that each of the thousands of
pending chains costs O(1) unless it actually preempts: its validity and quotas are one
memoized verdict per kind of chain (:mod:`scheduler.policy.verdicts`), "can free +
releasing + preemptable nodes below my effective priority (less my own bucket) cover my
need?" is one lookup, and a failed victim walk is remembered per group. A walk that may
stop early finds each group's last chain once, from the back of the queue, instead of
counting chains per group as it goes. The queue itself is two stable sorts and a
bucketing (:mod:`scheduler.policy.ordering`), plus, with fair share on, one stable sort per
priority on a score computed once per user, so a cycle is O(n log n).
:mod:`tests.policy_reference` (the test oracle, not shipped) implements the same rules by
re-scanning everything; the two must agree on every input.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from itertools import chain as joined
from operator import attrgetter, itemgetter
from typing import Any

from scheduler.model.enums import MAX_PRIORITY
from scheduler.policy import reasons
from scheduler.policy.ordering import queue_buckets
from scheduler.policy.types import (
    TOTAL_NODES,
    Decision,
    FairShareUsage,
    NodeView,
    PendingChain,
    Placement,
    PolicyConfig,
    QuotaTable,
    RunningChain,
    quota_resource,
)
from scheduler.policy.verdicts import VerdictKey, Verdicts

_LEVELS = MAX_PRIORITY + 2  # victim priority levels: -1 (spot) and 0..MAX_PRIORITY
_NO_VICTIMS = [0] * (_LEVELS + 1)  # `below` of a group without candidates
_UNSEEN: Any = object()  # a cache's "not looked up yet", where None is a value
_OWNER = attrgetter("user", "user_group")
_BUCKET = itemgetter(1)  # the chains of an (effective priority, chains) bucket
#: chains walked, or scanned for owners with room, between two checks of an early stop
_STRIDE = 512


class _Candidate:
    """A running chain that may be chosen as a victim in its group this cycle."""

    __slots__ = ("chosen", "id", "level", "nodes", "priority", "started_at", "user")

    def __init__(self, chain: RunningChain, priority: int, nodes: tuple[str, ...]) -> None:
        self.id = chain.id
        self.user = chain.user
        self.priority = priority  # the base priority; every value below 0 is a spot server
        self.level = priority + 1  # index into the per-level counts
        self.started_at = chain.started_at
        self.nodes = nodes  # its schedulable nodes in its group: what suspending it frees
        self.chosen = False


def _as_list(chains: Iterable[PendingChain]) -> list[PendingChain]:
    """The chains as a list (not copied when they are one: the walk only reads them)."""
    return chains if isinstance(chains, list) else list(chains)


def _prefix(levels: list[int]) -> list[int]:
    """``out[k]`` = preemptable nodes at victim levels below ``k``."""
    out = [0]
    total = 0
    for count in levels:
        total += count
        out.append(total)
    return out


def _pieces(
    bucket: list[PendingChain], cuts: dict[int, list[str]]
) -> list[tuple[list[PendingChain], list[str]]]:
    """The bucket cut after each position in ``cuts``, as (piece, the groups whose last
    chain of the queue ends it)."""
    pieces, start = [], 0
    for end in sorted(cuts):
        pieces.append((bucket[start : end + 1], cuts[end]))
        start = end + 1
    if start < len(bucket):
        pieces.append((bucket[start:], []))
    return pieces


class _Owners:
    """Which of the queue's chains belong to owners (user, user group) that may still be
    granted nodes: the proof behind an early stop that no chain from a position on can be.

    The queue is scanned from the back for a chain of an owner not at their total-nodes
    quota: every chain from ``clear`` on belongs to a full owner (and owners only fill up),
    and ``blocker``, at ``block``, is the last chain of an owner with room found so far.
    The owners are read a chunk of chains at a time (``owners``, of the chains from ``low``
    to ``clear``), a chunk whose owners are all full is passed at once, and each chain is
    read once, so proving the stop costs at most one look at each chain behind it."""

    __slots__ = ("block", "blocker", "chains", "clear", "full", "is_full", "low", "owners")

    def __init__(
        self, chains: list[PendingChain], is_full: Callable[[tuple[str, str | None]], bool]
    ) -> None:
        self.chains = chains
        self.is_full = is_full
        self.clear = self.low = len(chains)
        self.owners: list[tuple[str, str | None]] = []
        self.blocker: tuple[str, str | None] | None = None
        self.block = -1
        self.full: set[tuple[str, str | None]] = set()  # owners found full

    def full_from(self, pos: int) -> bool:
        """Whether every chain from ``pos`` on belongs to an owner at their total quota."""
        full, is_full = self.full, self.is_full
        if self.blocker is not None:
            if pos > self.block:
                return True  # the blocker passed: every chain behind it is clear
            if not is_full(self.blocker):
                return False
            full.add(self.blocker)
            self.blocker = None
        clear, low, owners = self.clear, self.low, self.owners
        while clear > pos:
            if clear == low:  # read the next chunk's owners
                low = max(pos, clear - _STRIDE)
                owners = list(map(_OWNER, self.chains[low:clear]))
                fresh = set(owners).difference(full)
                full.update(owner for owner in fresh if is_full(owner))
                if full.issuperset(fresh):
                    clear = low
                    continue
            for i in range(clear - 1, max(pos, low) - 1, -1):
                owner = owners[i - low]
                if owner not in full:
                    if not is_full(owner):
                        self.blocker, self.block = owner, i
                        self.clear, self.low, self.owners = i + 1, low, owners
                        return False
                    full.add(owner)
            clear = max(pos, low)
        self.clear, self.low, self.owners = clear, low, owners
        return True


def decide(
    pending: Sequence[PendingChain],
    running: Sequence[RunningChain],
    nodes: Sequence[NodeView],
    quotas: QuotaTable,
    config: PolicyConfig,
    now: float,
    usage: FairShareUsage | None = None,
    *,
    presorted: bool = False,
    complete: bool = True,
    queued_groups: Collection[str] | None = None,
) -> Decision:
    """Decide one scheduling cycle. Pure: same input, same output; ``now`` is epoch seconds.

    See ``docs/scheduling-policy.md`` for the rules in user terms.

    ``usage`` (recent usage per user and group) matters only with ``config.fair_share``
    set; None then means nobody used anything. ``presorted``: ``pending`` is already in
    :func:`~scheduler.policy.ordering.queue_key` order (the loop keeps it so), which spares
    the sort. ``complete=False``: stop walking the queue once no later chain can start,
    claim or preempt anything (in every group that still has chains to walk, the free and
    releasing nodes are taken and nothing below the current priority can be preempted);
    ``starts`` and ``suspends`` are then exactly those of a complete walk, and ``waiting``
    has the reasons of the chains walked so far (``Decision.complete`` is False). With a
    deep queue this makes a cycle's cost follow what can happen, not the queue's length.
    ``queued_groups``: the node groups of the pending chains, when the caller keeps them
    (the loop does): the early stop then need not look through the whole queue to learn
    that a group has no chain in it.
    """
    cycle = _Cycle(running, nodes, quotas, config.min_run_seconds, now)
    buckets = queue_buckets(pending, config, now, usage, presorted=presorted)
    walked_all = cycle.walk(buckets) if complete else cycle.walk_until_spent(buckets, queued_groups)
    return Decision(
        starts=cycle.starts, suspends=cycle.suspends, waiting=cycle.waiting, complete=walked_all
    )


#: a key's standing: (group, base priority, schedulable nodes or None, resource, its limit,
#: usage (0 without a limit))
_Standing = tuple[str, int, "int | None", str, "int | None", int]
#: an owner's standing on the total-nodes quota: (its limit, total usage (0 without one))
_TotalStanding = tuple["int | None", int]


class _Cycle:
    """One call of :func:`decide`: the indexes of its input, built once, and what the queue
    walk changes in them as it grants nodes and picks victims.

    :meth:`walk` takes each chain through its steps: its quick verdict (validity and
    quotas, :meth:`judge_steps`, memoized per kind of chain in :attr:`verdicts` and per
    owner in :attr:`totals` until the usage they follow is charged more nodes), then
    placement (closures over the indexes, made once per cycle
    by :meth:`piece_step` and :meth:`placement_step`: they run for nearly every chain,
    where attribute lookups would show), then, rarely, :meth:`preempt`. The commonest
    outcomes (over quota; waiting for nodes it cannot get) take no further call.
    """

    __slots__ = (
        "below",
        "blockers",
        "candidates",
        "first",
        "free",
        "free_pos",
        "group_schedulable",
        "group_total",
        "holders",
        "levels",
        "limit_of",
        "no_nodes_reasons",
        "node_group",
        "node_ok",
        "own",
        "quota_reasons",
        "quotas",
        "resource_of",
        "soon",
        "soon_pos",
        "starts",
        "suspends",
        "total_limit_of",
        "totals",
        "used_prio",
        "used_total",
        "user_groups",
        "verdicts",
        "waiting",
        "walk_failed",
    )

    def __init__(
        self,
        running: Sequence[RunningChain],
        nodes: Sequence[NodeView],
        quotas: QuotaTable,
        min_run: float,
        now: float,
    ) -> None:
        self.quotas = quotas
        self.starts: list[Placement] = []
        self.suspends: list[int] = []
        self.waiting: dict[int, str] = {}
        group_names = self._index_nodes(nodes)
        self._index_running(running, min_run, now)
        self._index_groups(group_names)
        self._index_victims()
        # caches: each (user, user group, group, priority)'s limit; the commonest reasons;
        # the chains' quick verdicts, and the user groups each user's were judged with
        self.limit_of: dict[VerdictKey, int | None] = {}
        self.resource_of: dict[tuple[str, int], str] = {}
        self.total_limit_of: dict[tuple[str, str | None], int | None] = {}
        self.quota_reasons: dict[tuple[str, int, int, int], str] = {}
        self.no_nodes_reasons: dict[tuple[int, str, int, int], str] = {}
        judge, judge_total = self.judge_steps()
        self.verdicts = Verdicts(self._standing, judge)
        self.totals = Verdicts(self._total_standing, judge_total)
        self.user_groups: dict[str, list[str | None]] = {}
        # group -> smallest need a full victim walk could not meet. Only nodes shared between
        # holders make the bound of `place` a walk's result; as the queue goes on (effective
        # priority never rises, free nodes and candidates only shrink) a need that large
        # fails again.
        self.walk_failed: dict[str, int] = {}

    # --- the indexes --------------------------------------------------------------------
    def _index_nodes(self, nodes: Sequence[NodeView]) -> dict[str, list[str]]:
        """Each node's group and whether it is schedulable; returns the nodes per group."""
        node_group: dict[str, str] = {}
        node_ok: dict[str, bool] = {}
        for node in nodes:
            node_group[node.name] = node.group
            node_ok[node.name] = node.schedulable
        group_names: dict[str, list[str]] = {}
        for name, group in node_group.items():
            group_names.setdefault(group, []).append(name)
        self.node_group, self.node_ok = node_group, node_ok
        return group_names

    def _index_running(self, running: Sequence[RunningChain], min_run: float, now: float) -> None:
        """From the running chains: who holds each node, quota usage, victim candidates."""
        node_group, node_ok = self.node_group, self.node_ok
        holders: dict[str, int] = {}  # node -> running entries holding it
        blockers: dict[str, int] = {}  # node -> holders that are neither releasing nor victims
        used_prio: dict[tuple[str, str, int], int] = {}  # (user, group, base priority) -> nodes
        used_total: dict[str, int] = {}  # user -> nodes
        candidates: dict[str, list[_Candidate]] = {}
        for chain in running:
            held = chain.nodes
            if len(held) > 1:
                held = tuple(dict.fromkeys(held))
            for name in held:
                holders[name] = holders.get(name, 0) + 1
                if not chain.releasing:
                    blockers[name] = blockers.get(name, 0) + 1
            prio = chain.priority
            if prio >= 0:
                key = (chain.user, chain.group, prio)
                used_prio[key] = used_prio.get(key, 0) + len(held)
                used_total[chain.user] = used_total.get(chain.user, 0) + len(held)
            if chain.releasing or prio >= MAX_PRIORITY:
                continue  # never a victim: already going, or nothing ranks above it
            if prio >= 0 and now - chain.started_at < min_run:
                continue  # protected by the minimum run time (spot servers never are)
            group = chain.group
            if len(held) == 1:  # most chains: no generator
                freed = held if node_group.get(held[0]) == group and node_ok[held[0]] else ()
            else:
                freed = tuple(n for n in held if node_group.get(n) == group and node_ok[n])
            if freed:
                candidates.setdefault(group, []).append(_Candidate(chain, max(prio, -1), freed))
        self.holders, self.blockers, self.candidates = holders, blockers, candidates
        self.used_prio, self.used_total = used_prio, used_total

    def _index_groups(self, group_names: dict[str, list[str]]) -> None:
        """Per group: its free and its releasing schedulable nodes (by name, taken from the
        front), its size and how many of its nodes are schedulable."""
        node_ok, holders, blockers = self.node_ok, self.holders, self.blockers
        self.free: dict[str, list[str]] = {}
        self.free_pos: dict[str, int] = {}
        self.soon: dict[str, list[str]] = {}  # nodes whose holders are all releasing
        self.soon_pos: dict[str, int] = {}
        self.group_total: dict[str, int] = {}
        self.group_schedulable: dict[str, int] = {}
        for group, names in group_names.items():
            names.sort()
            ok = [n for n in names if node_ok[n]]
            self.free[group] = [n for n in ok if n not in holders]
            self.soon[group] = [n for n in ok if n in holders and n not in blockers]
            self.free_pos[group] = 0
            self.soon_pos[group] = 0
            self.group_total[group] = len(names)
            self.group_schedulable[group] = len(ok)

    def _index_victims(self) -> None:
        """Per group: the candidates in victim order, preemptable nodes per victim level
        (and their prefix sums), per user and base priority, and the first one not chosen."""
        self.levels: dict[str, list[int]] = {}  # group -> preemptable nodes per victim level
        self.below: dict[str, list[int]] = {}  # group -> prefix sums of ``levels``
        self.own: dict[tuple[str, str, int], int] = {}  # (group, user, base prio) -> nodes
        self.first: dict[str, int] = {}  # group -> index of the first candidate not chosen
        own = self.own
        for group, cands in self.candidates.items():
            cands.sort(key=lambda c: (c.priority, -c.started_at, -c.id))
            counts = [0] * _LEVELS
            for cand in cands:
                counts[cand.level] += len(cand.nodes)
                if cand.priority >= 0:
                    key = (group, cand.user, cand.priority)
                    own[key] = own.get(key, 0) + len(cand.nodes)
            self.levels[group] = counts
            self.below[group] = _prefix(counts)
            self.first[group] = 0

    # --- the queue ----------------------------------------------------------------------
    def walk(self, buckets: Iterable[tuple[int, Iterable[PendingChain]]]) -> bool:
        """Walk the whole queue, bucket by effective priority (True: every chain walked)."""
        walk_piece = self.piece_step()
        for eff, bucket in buckets:
            walk_piece(bucket, eff, None)
        return True

    def walk_until_spent(
        self,
        buckets: Iterable[tuple[int, Iterable[PendingChain]]],
        queued_groups: Collection[str] | None = None,
    ) -> bool:
        """Walk the queue until nothing is left for any chain behind (False: stopped early).

        Nothing is left when either every group with chains still to walk is spent (the
        free and releasing nodes taken, nothing preemptable below the current priority), or
        every chain still to walk belongs to an owner at their total-nodes quota
        (:class:`_Owners`): usage only grows, so such a chain can never be granted.

        Only the groups with chains still to walk must be spent, so each bucket is cut after
        the last chain of a group, found once from the back of the queue. Stopping is checked
        where it can newly hold: at a bucket's start, after a chain is granted nodes, after
        the last chain of a group, and for the owners every :data:`_STRIDE` chains."""
        walk_piece = self.piece_step()
        queue = [(eff, _as_list(bucket)) for eff, bucket in buckets]
        last = self._last_chains(queue, queued_groups)
        alive = {group for cuts in last.values() for groups in cuts.values() for group in groups}
        owners = _Owners(list(joined.from_iterable(map(_BUCKET, queue))), self.owner_full)
        walked, total = 0, len(owners.chains)
        for k, (eff, bucket) in enumerate(queue):
            if self.exhausted(eff, alive) or (walked < total and owners.full_from(walked)):
                return False
            pieces = _pieces(bucket, last.get(k, {}))
            for j, (piece, ending) in enumerate(pieces, 1):
                for start in range(0, len(piece), _STRIDE):
                    part = piece if len(piece) <= _STRIDE else piece[start : start + _STRIDE]
                    if walk_piece(part, eff, alive):
                        return False
                    walked += len(part)
                    if start + _STRIDE < len(piece) and (
                        self.exhausted(eff, alive) or owners.full_from(walked)
                    ):
                        return False
                alive.difference_update(ending)
                if ending and j < len(pieces) and self.exhausted(eff, alive):
                    return False
        return True

    def _last_chains(
        self,
        queue: list[tuple[int, list[PendingChain]]],
        queued_groups: Collection[str] | None = None,
    ) -> dict[int, dict[int, list[str]]]:
        """Where each known group's last chain of the queue is: bucket index -> position in
        the bucket -> groups. Scanned from the back, which usually meets every group soon;
        a known group with no chain queued (``queued_groups`` says which have one) would
        make it read the whole queue. (Chains of unknown groups can never be granted
        anything: they keep nothing alive.)"""
        todo = set(self.group_total)
        if queued_groups is not None:
            todo.intersection_update(queued_groups)
        last: dict[int, dict[int, list[str]]] = {}
        for k in range(len(queue) - 1, -1, -1):
            bucket = queue[k][1]
            for i in range(len(bucket) - 1, -1, -1):
                group = bucket[i].group
                if group in todo:
                    todo.discard(group)
                    last.setdefault(k, {}).setdefault(i, []).append(group)
                    if not todo:
                        return last
        return last

    def piece_step(self) -> Callable[[Iterable[PendingChain], int, set[str] | None], bool]:
        """The step that walks a piece of a bucket: each chain's quick verdict (invalid or
        over quota: its reason; see :mod:`scheduler.policy.verdicts`), else its placement.
        With ``alive`` (the groups with chains behind the piece or its last chain), it
        returns True as soon as a grant leaves nothing for them. (A closure over this
        cycle's indexes: it runs for every chain of the queue.)"""
        verdicts, totals, waiting = self.verdicts, self.totals, self.waiting
        place, exhausted = self.placement_step(), self.exhausted

        def walk_piece(piece: Iterable[PendingChain], eff: int, alive: set[str] | None) -> bool:
            for chain in piece:
                user, user_group, need = chain.user, chain.user_group, chain.node_count
                reason = verdicts[user, user_group, chain.group, chain.priority][need]
                if not reason:
                    reason = totals[user, user_group][need]
                if reason:
                    waiting[chain.id] = reason
                elif (
                    place(chain, eff)
                    and alive is not None
                    and chain is not piece[-1]  # type: ignore[index]  # a list when alive
                    and exhausted(eff, alive)
                ):
                    return True
            return False

        return walk_piece

    def exhausted(self, eff: int, alive: Iterable[str]) -> bool:
        """Nothing is left for a chain at ``eff`` or below in any ``alive`` group (one
        with chains still to walk): no free or releasing node, nothing preemptable below
        ``eff``."""
        free, free_pos, soon, soon_pos = self.free, self.free_pos, self.soon, self.soon_pos
        for group in alive:
            flist = free.get(group)
            if flist is None:
                continue  # an unknown group: nothing to give
            if len(flist) > free_pos[group] or len(soon[group]) > soon_pos[group]:
                return False
            if self.below.get(group, _NO_VICTIMS)[eff + 1]:
                return False
        return True

    def invalid(self, group: str, need: int, base: int) -> str:
        """Why a chain of ``group``, ``need`` nodes and base priority ``base`` can never run
        as asked; called for chains that fail the quick test of the same conditions."""
        total = self.group_total.get(group)
        if total is None:
            return reasons.unknown_group(group)
        if need < 1:
            return reasons.invalid_node_count(need)
        if not 0 <= base <= MAX_PRIORITY:
            return reasons.invalid_priority(base)
        if need > total:
            return reasons.group_too_small(need, group, total)
        return reasons.too_few_schedulable(need, group, self.group_schedulable[group], total)

    def _standing(self, key: VerdictKey) -> _Standing:
        """What the group-quota verdicts of a key follow from (see :meth:`judge_steps`): its
        group and base priority, the group's schedulable nodes (None: an unknown group or an
        invalid priority), and its group's quota at its base priority: the resource, the
        limit and the user's usage there, counting nodes held or granted (0 without a
        limit: then it matters to no verdict, and more keys share one standing). (The
        resource names are looked up once per cycle, the limits once per key, which is
        when the key's user group is noted for :meth:`_charge`.)"""
        user, user_group, group, base = key
        schedulable = self.group_schedulable.get(group)
        if schedulable is None or not 0 <= base <= MAX_PRIORITY:
            return group, base, None, TOTAL_NODES, None, 0
        resource = self.resource_of.get((group, base))
        if resource is None:
            resource = self.resource_of[(group, base)] = quota_resource(group, base)
        limit = self.limit_of.get(key, _UNSEEN)
        if limit is _UNSEEN:
            limit = self.limit_of[key] = self.quotas.limit(user, user_group, resource)
            user_groups = self.user_groups.setdefault(user, [])
            if user_group not in user_groups:
                user_groups.append(user_group)
        in_use = 0 if limit is None else self.used_prio.get((user, group, base), 0)
        return group, base, schedulable, resource, limit, in_use

    def _total_standing(self, owner: tuple[str, str | None]) -> _TotalStanding:
        """What the total-quota verdicts of a (user, user group) follow from: the
        total-nodes limit and the user's total usage, counting nodes held or granted (0
        without a limit). (The limit is looked up once per owner and cycle.)"""
        limit = self.total_limit_of.get(owner, _UNSEEN)
        if limit is _UNSEEN:
            limit = self.total_limit_of[owner] = self.quotas.limit(*owner, TOTAL_NODES)
        return limit, 0 if limit is None else self.used_total.get(owner[0], 0)

    def owner_full(self, owner: tuple[str, str | None]) -> bool:
        """Whether a (user, user group) is at their total-nodes quota: no chain of theirs
        can be granted any more this cycle (their usage only grows)."""
        limit, in_use = self._total_standing(owner)
        return limit is not None and in_use >= limit

    def judge_steps(
        self,
    ) -> tuple[Callable[[_Standing, int], str], Callable[[_TotalStanding, int], str]]:
        """The steps that give a chain's quick verdict (see
        :class:`~scheduler.policy.verdicts.Verdicts`), in two parts: from its key's standing,
        why it can never run as asked, else whether its need would exceed its group's quota
        at its base priority; then, when it fits there, from its owner's standing, whether
        it would exceed the total-nodes quota. "" when it fits. (Closures: they run once per
        new node count of a standing, thousands of times in a deep queue; the texts of the
        commonest reasons are cached.)"""
        texts, invalid, over_quota = self.quota_reasons, self.invalid, reasons.over_quota

        def over(resource: str, limit: int, in_use: int, need: int) -> str:
            key = (resource, limit, in_use, need)
            text = texts.get(key)
            if text is None:
                text = texts[key] = over_quota(resource, limit, in_use, need)
            return text

        def judge(standing: _Standing, need: int) -> str:
            group, base, schedulable, resource, limit, in_use = standing
            if schedulable is None or not 1 <= need <= schedulable:
                return invalid(group, need, base)
            if limit is None or in_use + need <= limit:
                return ""
            return over(resource, limit, in_use, need)

        def judge_total(standing: _TotalStanding, need: int) -> str:
            limit, in_use = standing
            if limit is None or in_use + need <= limit:
                return ""
            return over(TOTAL_NODES, limit, in_use, need)

        return judge, judge_total

    def placement_step(self) -> Callable[[PendingChain, int], bool]:
        """The step that places a chain within its quotas: start it on free nodes; else
        claim nodes being released and wait; else, when the bound says victims could make
        room, :meth:`preempt`; else it waits for nodes. True when the chain was granted
        nodes. (A closure over this cycle's indexes: it runs once for every chain within
        its quotas.)"""
        free, free_pos, soon, soon_pos = self.free, self.free_pos, self.soon, self.soon_pos
        below, own, walk_failed = self.below, self.own, self.walk_failed
        no_nodes_reasons, starts, waiting = self.no_nodes_reasons, self.starts, self.waiting
        charge, preempt = self._charge, self.preempt

        def place(chain: PendingChain, eff: int) -> bool:
            group, need = chain.group, chain.node_count
            fpos = free_pos[group]
            flist = free[group]
            nfree = len(flist) - fpos
            if nfree >= need:
                free_pos[group] = fpos + need
                starts.append(Placement(chain.id, tuple(flist[fpos : fpos + need])))
                charge(chain)
                return True
            spos = soon_pos[group]
            nsoon = len(soon[group]) - spos
            if nfree + nsoon >= need:
                free_pos[group] = len(flist)
                soon_pos[group] = spos + need - nfree
                waiting[chain.id] = reasons.waiting_for_release(need - nfree, group)
                charge(chain)
                return True
            # Preemption. Upper bound first (exact unless nodes are shared): O(1).
            reach = nfree + nsoon + below.get(group, _NO_VICTIMS)[eff + 1]
            base = chain.priority
            if base < eff:
                reach -= own.get((group, chain.user, base), 0)
            if reach < need or need >= walk_failed.get(group, need + 1):
                key4 = (need, group, nfree, nsoon)
                reason = no_nodes_reasons.get(key4)
                if reason is None:
                    reason = no_nodes_reasons[key4] = reasons.no_nodes(need, group, nfree, nsoon)
                waiting[chain.id] = reason
                return False
            return preempt(chain, eff, nfree, nsoon)

        return place

    def _charge(self, chain: PendingChain) -> None:
        """Count the nodes granted to the chain in its user's quota usage (which changes
        the verdicts of that user's keys at the chain's group and priority, and of their
        total: forgotten for each user group the user's chains were judged with)."""
        need, user, group, base = chain.node_count, chain.user, chain.group, chain.priority
        for user_group in self.user_groups.get(user, ()):
            self.verdicts.forget((user, user_group, group, base))
            self.totals.forget((user, user_group))
        ukey = (user, group, base)
        self.used_prio[ukey] = self.used_prio.get(ukey, 0) + need
        self.used_total[user] = self.used_total.get(user, 0) + need

    def preempt(self, chain: PendingChain, eff: int, nfree: int, nsoon: int) -> bool:
        """Take the free and releasing nodes and suspend enough victims for the rest (True),
        or, when the victims cannot free enough, leave the chain waiting (and remember it)."""
        group, need = chain.group, chain.node_count
        picked, left, gained, spared_own = self._pick_victims(chain, eff, need - nfree - nsoon)
        if gained < need - nfree - nsoon:
            if not spared_own:  # another user might have been able to use them
                self.walk_failed[group] = min(need, self.walk_failed.get(group, need))
            self.waiting[chain.id] = reasons.no_nodes(need, group, nfree, nsoon)
            return False
        victims = self._suspend(group, picked, left)
        self.suspends.extend(victims)
        self.free_pos[group] = len(self.free[group])
        self.soon_pos[group] += nsoon
        self.waiting[chain.id] = reasons.preempting(victims, need - nfree, group)
        self._charge(chain)
        return True

    def _pick_victims(
        self, chain: PendingChain, eff: int, missing: int
    ) -> tuple[list[_Candidate], dict[str, int], int, bool]:
        """Walk the group's candidates, lowest priority and most recently started first,
        until their nodes free ``missing`` nodes. Returns (picked, blockers left per node if
        they go, nodes gained, whether one of the user's own chains was spared)."""
        cands = self.candidates[chain.group]
        blockers = self.blockers
        base, user = chain.priority, chain.user
        left: dict[str, int] = {}  # node -> blockers left if the picked victims go
        picked: list[_Candidate] = []
        gained = 0
        spared_own = False
        for i in range(self.first[chain.group], len(cands)):
            cand = cands[i]
            if cand.chosen:
                continue
            if cand.priority >= eff:
                break
            if cand.priority == base and cand.user == user:
                spared_own = True
                continue  # a user never preempts their own chains of the same priority
            picked.append(cand)
            for name in cand.nodes:
                rest = left.get(name, blockers[name]) - 1
                left[name] = rest
                if rest == 0:
                    gained += 1
            if gained >= missing:
                break
        return picked, left, gained, spared_own

    def _suspend(self, group: str, picked: list[_Candidate], left: dict[str, int]) -> list[int]:
        """Choose the picked victims that free a node (one whose nodes all stay held by
        others frees nothing: it is spared) and take them out of the indexes; their ids."""
        counts = self.levels[group]
        victims: list[int] = []
        for cand in picked:
            if not any(left[name] == 0 for name in cand.nodes):
                continue
            cand.chosen = True
            victims.append(cand.id)
            counts[cand.level] -= len(cand.nodes)
            if cand.priority >= 0:
                self.own[(group, cand.user, cand.priority)] -= len(cand.nodes)
            for name in cand.nodes:
                self.blockers[name] -= 1
        self.below[group] = _prefix(counts)
        cands = self.candidates[group]
        i = self.first[group]
        while i < len(cands) and cands[i].chosen:
            i += 1
        self.first[group] = i
        return victims
