"""The scheduling decision: which pending chains start where, which running chains to suspend.

This module owns :func:`decide`, a pure function over the plain data of
:mod:`scheduler.policy.types`. It indexes its input once per call (free nodes per group,
quota usage per user, preemption candidates per group sorted in victim order, and per-group
counts of preemptable nodes by priority, as prefix sums) so that each of the thousands of
pending chains costs O(1) unless it actually preempts: "can free + releasing + preemptable
nodes below my effective priority (less my own bucket) cover my need?" is one lookup, and a
failed victim walk is remembered per group. The queue itself is two stable sorts and a
bucketing (:mod:`scheduler.policy.ordering`), plus, with fair share on, one stable sort per
priority on a score computed once per user, so a cycle is O(n log n).
:mod:`scheduler.policy.reference` implements the same rules by re-scanning everything; the
two must agree on every input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scheduler.model.enums import Priority
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

_MAX_PRIORITY = int(max(Priority))
_LEVELS = _MAX_PRIORITY + 2  # victim priority levels: -1 (spot) and 0.._MAX_PRIORITY
_UNSET: Any = object()


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


def _prefix(levels: list[int]) -> list[int]:
    """``out[k]`` = preemptable nodes at victim levels below ``k``."""
    out = [0]
    total = 0
    for count in levels:
        total += count
        out.append(total)
    return out


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
) -> Decision:
    """Decide one scheduling cycle. Pure: same input, same output; ``now`` is epoch seconds.

    See ``docs/scheduling-policy.md`` for the rules in user terms.

    ``usage`` (recent usage per user and group) matters only with ``config.fair_share``
    set; None then means nobody used anything. ``presorted``: ``pending`` is already in
    :func:`~scheduler.policy.ordering.queue_key` order (the loop keeps it so), which spares
    the sort. ``complete=False``: stop walking the queue once no later chain can start,
    claim or preempt anything (every group's free and releasing nodes are taken and
    nothing below the current priority can be preempted);
    ``starts`` and ``suspends`` are then exactly those of a complete walk, and ``waiting``
    has the reasons of the chains walked so far (``Decision.complete`` is False). With a
    deep queue this makes a cycle's cost follow what can happen, not the queue's length.
    """
    starts: list[Placement] = []
    suspends: list[int] = []
    waiting: dict[int, str] = {}

    # --- nodes --------------------------------------------------------------------------
    node_group: dict[str, str] = {}
    node_ok: dict[str, bool] = {}
    for node in nodes:
        node_group[node.name] = node.group
        node_ok[node.name] = node.schedulable
    group_names: dict[str, list[str]] = {}
    for name, group in node_group.items():
        group_names.setdefault(group, []).append(name)

    # --- running chains: holders, quota usage, victim candidates -------------------------
    holders: dict[str, int] = {}  # node -> running entries holding it
    blockers: dict[str, int] = {}  # node -> holders that are neither releasing nor victims
    used_prio: dict[tuple[str, str, int], int] = {}  # (user, group, base priority) -> nodes
    used_total: dict[str, int] = {}  # user -> nodes
    candidates: dict[str, list[_Candidate]] = {}
    min_run = config.min_run_seconds
    for chain in running:
        held = tuple(dict.fromkeys(chain.nodes))
        for name in held:
            holders[name] = holders.get(name, 0) + 1
            if not chain.releasing:
                blockers[name] = blockers.get(name, 0) + 1
        prio = chain.priority
        if prio >= 0:
            key = (chain.user, chain.group, prio)
            used_prio[key] = used_prio.get(key, 0) + len(held)
            used_total[chain.user] = used_total.get(chain.user, 0) + len(held)
        if chain.releasing or prio >= _MAX_PRIORITY:
            continue  # never a victim: already going, or nothing ranks above it
        if prio >= 0 and now - chain.started_at < min_run:
            continue  # protected by the minimum run time (spot servers never are)
        group = chain.group
        freed = tuple(n for n in held if node_group.get(n) == group and node_ok[n])
        if freed:
            candidates.setdefault(group, []).append(_Candidate(chain, max(prio, -1), freed))

    # --- per-group indexes ----------------------------------------------------------------
    free: dict[str, list[str]] = {}  # free schedulable nodes, by name; taken from the front
    free_pos: dict[str, int] = {}
    soon: dict[str, list[str]] = {}  # nodes whose holders are all releasing, by name
    soon_pos: dict[str, int] = {}
    group_total: dict[str, int] = {}
    group_schedulable: dict[str, int] = {}
    for group, names in group_names.items():
        names.sort()
        ok = [n for n in names if node_ok[n]]
        free[group] = [n for n in ok if n not in holders]
        soon[group] = [n for n in ok if n in holders and n not in blockers]
        free_pos[group] = 0
        soon_pos[group] = 0
        group_total[group] = len(names)
        group_schedulable[group] = len(ok)

    levels: dict[str, list[int]] = {}  # group -> preemptable nodes per victim level
    below: dict[str, list[int]] = {}  # group -> prefix sums of ``levels``
    own: dict[tuple[str, str, int], int] = {}  # (group, user, base priority) -> preemptable
    first: dict[str, int] = {}  # group -> index of the first candidate not yet chosen
    for group, cands in candidates.items():
        cands.sort(key=lambda c: (c.priority, -c.started_at, -c.id))
        counts = [0] * _LEVELS
        for cand in cands:
            counts[cand.level] += len(cand.nodes)
            if cand.priority >= 0:
                key = (group, cand.user, cand.priority)
                own[key] = own.get(key, 0) + len(cand.nodes)
        levels[group] = counts
        below[group] = _prefix(counts)
        first[group] = 0
    no_victims = [0] * (_LEVELS + 1)

    # --- caches: quota names and limits, the commonest reason ---------------------------
    resource_names: dict[tuple[str, int], str] = {}
    limits: dict[tuple[str, str | None, str], int | None] = {}
    no_nodes_reasons: dict[tuple[int, str, int, int], str] = {}
    # group -> smallest need a full victim walk could not meet. Only nodes shared between
    # holders make the bound above a walk's result; as the queue goes on (effective priority
    # never rises, free nodes and candidates only shrink) a need that large fails again.
    walk_failed: dict[str, int] = {}

    def exhausted(eff: int) -> bool:
        """Nothing is left for a chain at ``eff`` or below: no free or releasing node in
        any group, nothing preemptable below ``eff``."""
        for group in group_total:
            if len(free[group]) > free_pos[group] or len(soon[group]) > soon_pos[group]:
                return False
            if below.get(group, no_victims)[eff + 1]:
                return False
        return True

    # --- the queue -----------------------------------------------------------------------
    walked_all = True
    for eff, bucket in queue_buckets(pending, config, now, usage, presorted=presorted):
        if not complete and exhausted(eff):
            walked_all = False
            break
        consumed = len(starts) + len(suspends)
        for chain in bucket:
            if not complete and len(starts) + len(suspends) != consumed:
                consumed = len(starts) + len(suspends)
                if exhausted(eff):
                    walked_all = False
                    break
            cid = chain.id
            group = chain.group
            need = chain.node_count
            base = chain.priority
            total = group_total.get(group)
            if total is None:
                waiting[cid] = reasons.unknown_group(group)
                continue
            if need < 1:
                waiting[cid] = reasons.invalid_node_count(need)
                continue
            if not 0 <= base <= _MAX_PRIORITY:
                waiting[cid] = reasons.invalid_priority(base)
                continue
            if need > total:
                waiting[cid] = reasons.group_too_small(need, group, total)
                continue
            if need > group_schedulable[group]:
                waiting[cid] = reasons.too_few_schedulable(
                    need, group, group_schedulable[group], total
                )
                continue

            # Quotas: base priority, nodes held or granted this cycle.
            user = chain.user
            user_group = chain.user_group
            rkey = (group, base)
            resource = resource_names.get(rkey)
            if resource is None:
                resource = resource_names[rkey] = quota_resource(group, base)
            ukey = (user, group, base)
            in_use = used_prio.get(ukey, 0)
            lkey = (user, user_group, resource)
            limit = limits.get(lkey, _UNSET)
            if limit is _UNSET:
                limit = limits[lkey] = quotas.limit(user, user_group, resource)
            if limit is not None and in_use + need > limit:
                waiting[cid] = reasons.over_quota(resource, limit, in_use, need)
                continue
            in_use_total = used_total.get(user, 0)
            lkey = (user, user_group, TOTAL_NODES)
            limit = limits.get(lkey, _UNSET)
            if limit is _UNSET:
                limit = limits[lkey] = quotas.limit(user, user_group, TOTAL_NODES)
            if limit is not None and in_use_total + need > limit:
                waiting[cid] = reasons.over_quota(TOTAL_NODES, limit, in_use_total, need)
                continue

            # Free nodes: start now.
            fpos = free_pos[group]
            flist = free[group]
            nfree = len(flist) - fpos
            if nfree >= need:
                free_pos[group] = fpos + need
                starts.append(Placement(cid, tuple(flist[fpos : fpos + need])))
                used_prio[ukey] = in_use + need
                used_total[user] = in_use_total + need
                continue

            # Nodes already being released: claim them and wait.
            spos = soon_pos[group]
            nsoon = len(soon[group]) - spos
            if nfree + nsoon >= need:
                free_pos[group] = len(flist)
                soon_pos[group] = spos + need - nfree
                waiting[cid] = reasons.waiting_for_release(need - nfree, group)
                used_prio[ukey] = in_use + need
                used_total[user] = in_use_total + need
                continue

            # Preemption. Upper bound first (exact unless nodes are shared): O(1).
            reach = nfree + nsoon + below.get(group, no_victims)[eff + 1]
            if base < eff:
                reach -= own.get((group, user, base), 0)
            if reach < need or need >= walk_failed.get(group, need + 1):
                key4 = (need, group, nfree, nsoon)
                reason = no_nodes_reasons.get(key4)
                if reason is None:
                    reason = no_nodes_reasons[key4] = reasons.no_nodes(need, group, nfree, nsoon)
                waiting[cid] = reason
                continue

            # Walk the victims, lowest priority and most recently started first.
            missing = need - nfree - nsoon
            cands = candidates[group]
            left: dict[str, int] = {}  # node -> blockers left if the picked victims go
            picked: list[_Candidate] = []
            gained = 0
            spared_own = False
            for i in range(first[group], len(cands)):
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
            if gained < missing:
                if not spared_own:  # another user might have been able to use them
                    walk_failed[group] = min(need, walk_failed.get(group, need))
                waiting[cid] = reasons.no_nodes(need, group, nfree, nsoon)
                continue

            # A victim whose nodes all stay held by others frees nothing: spare it.
            counts = levels[group]
            victims: list[int] = []
            for cand in picked:
                if not any(left[name] == 0 for name in cand.nodes):
                    continue
                cand.chosen = True
                victims.append(cand.id)
                counts[cand.level] -= len(cand.nodes)
                if cand.priority >= 0:
                    key = (group, cand.user, cand.priority)
                    own[key] -= len(cand.nodes)
                for name in cand.nodes:
                    blockers[name] -= 1
            below[group] = _prefix(counts)
            i = first[group]
            while i < len(cands) and cands[i].chosen:
                i += 1
            first[group] = i
            suspends.extend(victims)
            free_pos[group] = len(flist)
            soon_pos[group] = spos + nsoon
            waiting[cid] = reasons.preempting(victims, need - nfree, group)
            used_prio[ukey] = in_use + need
            used_total[user] = in_use_total + need

        if not walked_all:
            break

    return Decision(starts=starts, suspends=suspends, waiting=waiting, complete=walked_all)
