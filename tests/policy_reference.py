"""A deliberately naive implementation of the scheduling rules: the test oracle.

This module owns :func:`decide_reference`, which follows the rules literally and re-scans
every node, every running chain and every earlier grant for each pending chain (no
indexes, no counters, no early exits). It is far too slow for the service loop; the tests
compare :func:`scheduler.policy.decide.decide` with it on random inputs, and the benchmark
uses it as the baseline.
"""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.model.enums import MAX_PRIORITY
from scheduler.policy import reasons
from scheduler.policy.fairshare import fair_share_score
from scheduler.policy.ordering import effective_priority
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


def decide_reference(
    pending: Sequence[PendingChain],
    running: Sequence[RunningChain],
    nodes: Sequence[NodeView],
    quotas: QuotaTable,
    config: PolicyConfig,
    now: float,
    usage: FairShareUsage | None = None,
) -> Decision:
    """Same contract and same result as :func:`scheduler.policy.decide.decide`."""
    decision = Decision()
    by_name = {n.name: n for n in nodes}
    taken: set[str] = set()  # started on or claimed this cycle
    chosen: set[int] = set()  # running chain ids chosen as victims this cycle
    # (user, group, base priority, node count) of every start or claim this cycle
    grants: list[tuple[str, str, int, int]] = []

    # Who holds which node is input, not state: index it once so the baseline measures the
    # per-chain re-scans of nodes, running chains and grants, not tuple membership tests.
    holding: dict[str, list[RunningChain]] = {}
    for r in running:
        for name in dict.fromkeys(r.nodes):
            holding.setdefault(name, []).append(r)

    def holders_of(name: str) -> list[RunningChain]:
        return holding.get(name, [])

    def in_use(user: str, group: str | None, prio: int | None) -> int:
        total = 0
        for r in running:
            if (
                r.user == user
                and r.priority >= 0
                and (group is None or r.group == group)
                and (prio is None or r.priority == prio)
            ):
                total += len(set(r.nodes))
        for g_user, g_group, g_prio, g_count in grants:
            if (
                g_user == user
                and (group is None or g_group == group)
                and (prio is None or g_prio == prio)
            ):
                total += g_count
        return total

    def score(chain: PendingChain) -> float:
        if config.fair_share is None:
            return 0.0
        return fair_share_score(chain.user, chain.user_group, config.fair_share, usage)

    queue = sorted(
        ((effective_priority(c, config, now), c) for c in pending),
        key=lambda ec: (-ec[0], score(ec[1]), ec[1].queued_at, ec[1].id),
    )
    for eff, chain in queue:
        group, need, base, user = chain.group, chain.node_count, chain.priority, chain.user
        group_nodes = sorted(
            (n for n in by_name.values() if n.group == group), key=lambda n: n.name
        )
        if not group_nodes:
            decision.waiting[chain.id] = reasons.unknown_group(group)
            continue
        if need < 1:
            decision.waiting[chain.id] = reasons.invalid_node_count(need)
            continue
        if not 0 <= base <= MAX_PRIORITY:
            decision.waiting[chain.id] = reasons.invalid_priority(base)
            continue
        if need > len(group_nodes):
            decision.waiting[chain.id] = reasons.group_too_small(need, group, len(group_nodes))
            continue
        usable = [n.name for n in group_nodes if n.schedulable]
        usable_set = set(usable)
        if need > len(usable):
            decision.waiting[chain.id] = reasons.too_few_schedulable(
                need, group, len(usable), len(group_nodes)
            )
            continue

        resource = quota_resource(group, base)
        used = in_use(user, group, base)
        limit = quotas.limit(user, chain.user_group, resource)
        if limit is not None and used + need > limit:
            decision.waiting[chain.id] = reasons.over_quota(resource, limit, used, need)
            continue
        used = in_use(user, None, None)
        limit = quotas.limit(user, chain.user_group, TOTAL_NODES)
        if limit is not None and used + need > limit:
            decision.waiting[chain.id] = reasons.over_quota(TOTAL_NODES, limit, used, need)
            continue

        free = [n for n in usable if not holders_of(n) and n not in taken]
        if len(free) >= need:
            taken.update(free[:need])
            decision.starts.append(Placement(chain.id, tuple(free[:need])))
            grants.append((user, group, base, need))
            continue

        soon = [
            n
            for n in usable
            if n not in taken and holders_of(n) and all(r.releasing for r in holders_of(n))
        ]
        if len(free) + len(soon) >= need:
            taken.update(free)
            taken.update(soon[: need - len(free)])
            decision.waiting[chain.id] = reasons.waiting_for_release(need - len(free), group)
            grants.append((user, group, base, need))
            continue

        candidates = [
            r
            for r in running
            if r.group == group
            and not r.releasing
            and r.id not in chosen
            and r.priority < eff
            and (r.priority < 0 or now - r.started_at >= config.min_run_seconds)
            and not (r.priority == base and r.user == user)
        ]
        candidates.sort(key=lambda r: (max(r.priority, -1), -r.started_at, -r.id))

        def gone(name: str, victims: list[RunningChain]) -> bool:
            ids = {v.id for v in victims}
            return all(r.releasing or r.id in chosen or r.id in ids for r in holders_of(name))

        picked: list[RunningChain] = []
        for cand in candidates:
            if not any(n in usable_set and n not in taken for n in cand.nodes):
                continue
            picked.append(cand)
            freed = {
                n
                for v in picked
                for n in v.nodes
                if n in usable_set and n not in taken and gone(n, picked)
            }
            if len(free) + len(soon) + len(freed) >= need:
                break
        freed = {
            n
            for v in picked
            for n in v.nodes
            if n in usable_set and n not in taken and gone(n, picked)
        }
        if len(free) + len(soon) + len(freed) < need:
            decision.waiting[chain.id] = reasons.no_nodes(need, group, len(free), len(soon))
            continue
        victims = [v for v in picked if any(n in freed for n in v.nodes)]
        chosen.update(v.id for v in victims)
        decision.suspends.extend(v.id for v in victims)
        taken.update(free)
        taken.update(soon)
        taken.update(freed)
        decision.waiting[chain.id] = reasons.preempting(
            [v.id for v in victims], need - len(free), group
        )
        grants.append((user, group, base, need))

    return decision
