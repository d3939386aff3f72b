"""Benchmark one scheduling cycle of the policy on a large, busy cluster.

Builds 10,000 pending chains, 1,000 nodes of 8 GPUs in several groups (a few draining),
about 800 running chains (some spot servers, some already releasing), all 7 priorities,
node counts 1/2/4/8 and quotas for many users and groups; then times
:func:`scheduler.policy.decide` over several repetitions and, as the baseline, the naive
:func:`tests.policy_reference.decide_reference` (the test oracle) on the same input, checks
both decide the same, and prints min/median/p95 in milliseconds and the ratio. Every input
is timed twice, interleaved: with fair share off and on (recent usage for every user and
group, shares for the groups and some users). Then, as the loop calls it: the queue
presorted and the walk stopped early (checked to give the complete walk's starts and
suspends; how many chains it walked is printed).

Run from the repository root::

    python benchmarks/bench_policy_cycle.py [--reps 30] [--baseline-reps 3] [--seed 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from scheduler.model.enums import Priority
from scheduler.policy import (
    Decision,
    FairShareConfig,
    FairShareUsage,
    NodeView,
    PendingChain,
    PolicyConfig,
    QuotaTable,
    RunningChain,
    decide,
    quota_resource,
)
from scheduler.policy.ordering import queue_key
from tests.policy_reference import decide_reference

NOW = 1_700_000_000.0
GROUPS = {"a100": 400, "h100": 300, "l40": 200, "v100": 100}  # 1,000 nodes
N_PENDING = 10_000
N_RUNNING = 800
N_USERS = 400
USER_GROUPS = [f"lab{i:02d}" for i in range(25)]


def _node_count(rng: random.Random, weights: tuple[int, int, int, int]) -> int:
    return rng.choices([1, 2, 4, 8], weights=weights)[0]


def build(seed: int, scale: int = 1) -> tuple[Any, ...]:
    """The benchmark input: (pending, running, nodes, quotas, config, now); ``scale``
    multiplies the nodes, the running and the pending chains."""
    rng = random.Random(seed)
    groups = {g: count * scale for g, count in GROUPS.items()}
    n_running, n_pending = N_RUNNING * scale, N_PENDING * scale
    users = [f"user{i:03d}" for i in range(N_USERS)]
    user_group = {u: (rng.choice(USER_GROUPS) if rng.random() < 0.8 else None) for u in users}

    nodes: list[NodeView] = []
    for group, count in groups.items():
        for i in range(count):
            nodes.append(NodeView(f"{group}-{i:05d}", group, 8, schedulable=rng.random() > 0.02))

    # Running: fill ~97% of each group's nodes with about 800 chains.
    running: list[RunningChain] = []
    rid = 1_000_000
    total = sum(groups.values())
    per_group_target = {g: round(n_running * c / total) for g, c in groups.items()}
    for group, count in groups.items():
        pool = [n.name for n in nodes if n.group == group]
        rng.shuffle(pool)
        pool = pool[: int(count * 0.97)]
        made = 0
        while pool and made < per_group_target[group]:
            want = _node_count(rng, (93, 5, 1, 1))
            held, pool = pool[:want], pool[want:]
            user = rng.choice(users)
            spot = rng.random() < 0.05
            running.append(
                RunningChain(
                    rid,
                    user,
                    user_group[user],
                    group,
                    -1 if spot else rng.randrange(7),
                    tuple(held),
                    NOW - rng.uniform(10, 86_400),
                    releasing=rng.random() < 0.03,
                )
            )
            rid += 1
            made += 1

    pending = [
        PendingChain(
            i,
            (user := rng.choice(users)),
            user_group[user],
            rng.choices(list(GROUPS), weights=list(GROUPS.values()))[0],
            rng.randrange(7),
            _node_count(rng, (55, 25, 12, 8)),
            NOW - rng.uniform(0, 7 * 86_400),
            is_resume=rng.random() < 0.1,
        )
        for i in range(1, n_pending + 1)
    ]

    rows: dict[tuple[str, str, str], int] = {}
    for g in USER_GROUPS:
        rows[("group", g, "node")] = rng.randrange(20, 80)
        for group in GROUPS:
            for prio in (Priority.HIGH, Priority.VERY_HIGH, Priority.EXTREME_HIGH):
                rows[("group", g, quota_resource(group, prio))] = rng.randrange(2, 16)
    for user in rng.sample(users, 300):
        rows[("user", user, "node")] = rng.randrange(4, 40)
        for _ in range(3):
            group = rng.choice(list(GROUPS))
            rows[("user", user, quota_resource(group, rng.randrange(7)))] = rng.randrange(1, 12)
    defaults = {"EXTREME_HIGH": 2, "VERY_HIGH": 4, "HIGH": 8, "node": 24}
    config = PolicyConfig(min_run_seconds=1800, aging_seconds=6 * 3600, aging_max_priority=4)
    return pending, running, nodes, QuotaTable(rows, defaults), config, NOW


def with_fair_share(args: tuple[Any, ...], seed: int) -> tuple[Any, ...]:
    """The same input with fair share on: decayed usage (GPU-seconds, about 0-100 GPU-hours a
    user, 80% of users) summed into their groups, shares for every group and 50 users."""
    pending, running, nodes, quotas, config, now = args
    rng = random.Random(seed + 1_000_003)  # its own stream: the base input stays the same
    members = {(c.user, c.user_group) for c in (*pending, *running) if c.priority >= 0}
    users: dict[str, float] = {}
    groups: dict[str, float] = {}
    for user, group in sorted(members, key=str):
        if user in users or rng.random() > 0.8:
            continue
        users[user] = rng.expovariate(1 / (20 * 3600 * 8))
        if group is not None:
            groups[group] = groups.get(group, 0.0) + users[user]
    fair = FairShareConfig(
        user_weight=1.0,
        group_weight=1.0,
        user_shares={u: rng.choice([0.5, 2.0, 4.0]) for u in rng.sample(sorted(users), 50)},
        group_shares={g: float(rng.randrange(1, 10)) for g in USER_GROUPS},
    )
    usage = FairShareUsage(users, groups)
    return pending, running, nodes, quotas, dataclasses.replace(config, fair_share=fair), now, usage


def timed(
    fn: Callable[..., Decision],
    inputs: list[tuple[Any, ...]],
    reps: int,
    clock: Callable[[], float] = time.perf_counter,
) -> list[list[float]]:
    """Times in milliseconds of ``reps`` rounds, each calling ``fn`` once on every input
    in turn (interleaved, so drift on a shared machine hits them alike); GC collected before
    each call, not disabled. One list of times per input."""
    out: list[list[float]] = [[] for _ in inputs]
    for _ in range(reps):
        for args, times in zip(inputs, out, strict=True):
            gc.collect()
            t0 = clock()
            fn(*args)
            times.append((clock() - t0) * 1000)
    return out


def summary(ms: list[float]) -> str:
    ordered = sorted(ms)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"min {ordered[0]:9.1f} ms  median {statistics.median(ordered):9.1f} ms  "
        f"p95 {p95:9.1f} ms  (n={len(ordered)})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30, help="repetitions of decide")
    parser.add_argument("--baseline-reps", type=int, default=3, help="repetitions of the naive")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--scale",
        type=int,
        default=1,
        help="multiply nodes, running and pending chains (10: 100,000 pending on 10,000 "
        "nodes; the naive reference, quadratic, is then left out)",
    )
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time the process's CPU time, not wall time (a busy, shared machine)",
    )
    opts = parser.parse_args(argv)

    args = build(opts.seed, opts.scale)
    fair_args = with_fair_share(args, opts.seed)
    pending, running, nodes, quotas, _config, _now = args
    fast = decide(*args)
    fair = decide(*fair_args)
    checked = opts.scale == 1
    if checked and (fast != decide_reference(*args) or fair != decide_reference(*fair_args)):
        print("MISMATCH: decide and the reference implementation disagree", file=sys.stderr)
        return 1
    n_shapes = sum(len(n.nodes) for n in running)
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus")
    print(
        f"input: {len(pending)} pending, {len(running)} running on {n_shapes} nodes, "
        f"{len(nodes)} nodes in {len(GROUPS)} groups, {len(quotas.rows)} quota rows"
    )
    usage = fair_args[-1]
    print(f"fair share: usage of {len(usage.users)} users and {len(usage.groups)} groups")
    for label, d in (("off", fast), ("on ", fair)):
        print(
            f"decision, fair share {label}: {len(d.starts)} starts, {len(d.suspends)} suspends, "
            f"{len(d.waiting)} waiting"
            + (" (identical to the reference)" if checked else " (reference left out)")
        )
    clock = time.process_time if opts.cpu_time else time.perf_counter
    print(f"clock: {'CPU time of this process' if opts.cpu_time else 'wall time'}")
    fast_ms, fair_ms = timed(decide, [args, fair_args], opts.reps, clock)
    print(f"decide                   {summary(fast_ms)}")
    print(f"decide, fair share       {summary(fair_ms)}")
    # as the loop calls it: the queue kept in order, the walk stopped once nothing more can
    # start or preempt (the starts and suspends are the same; tests/test_policy.py)
    ordered = (sorted(pending, key=queue_key), *args[1:])
    (loop_ms,) = timed(lambda *a: decide(*a, presorted=True, complete=False), [ordered],
                       opts.reps, clock)  # fmt: skip
    print(f"decide as the loop calls it (presorted, stops early) {summary(loop_ms)}")
    part = decide(*ordered, presorted=True, complete=False)
    if (part.starts, part.suspends) != (fast.starts, fast.suspends):
        print("MISMATCH: the early stop and the complete walk disagree", file=sys.stderr)
        return 1
    walked = len(part.starts) + len(part.waiting)
    print(f"  (the complete walk's starts and suspends; {walked:,} of {len(pending):,} walked)")
    if checked:
        base_ms, base_fair_ms = timed(
            decide_reference, [args, fair_args], opts.baseline_reps, clock
        )
        print(f"naive reference          {summary(base_ms)}")
        print(f"naive ref., fair share   {summary(base_fair_ms)}")
        ratio = statistics.median(base_ms) / statistics.median(fast_ms)
        print(f"ratio (median naive / median decide): {ratio:.0f}x")
    cost = statistics.median(fair_ms) - statistics.median(fast_ms)
    print(f"fair share costs {cost:+.1f} ms a cycle (difference of the medians)")
    target = 50.0 if opts.scale == 1 else 250.0 * opts.scale / 10
    ok = max(map(statistics.median, (fast_ms, fair_ms, loop_ms))) < target
    print(
        f"target: one cycle < {target:.0f} ms, fair share off and on and as the loop calls it: "
        f"{'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
