"""Fair share in the policy: the docs' worked example, the rules around it, and a
randomized comparison of decide() with the reference implementation with fair share on."""

from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import given

from scheduler.policy import (
    Decision,
    FairShareConfig,
    FairShareUsage,
    PendingChain,
    PolicyConfig,
    QuotaTable,
    decide,
    fair_share_score,
)
from scheduler.policy.decay import UsageSegment, decayed_usage
from scheduler.policy.ordering import queue_key, queue_order
from tests.policy_reference import decide_reference
from tests.test_policy import (
    HIGH,
    LOW,
    NORMAL,
    NOW,
    RANDOM_CASES,
    _cases,
    _sized_case,
    nodes,
    pend,
    run,
)

HOUR = 3600.0
DAY = 24 * HOUR
ON = PolicyConfig(fair_share=FairShareConfig())


def go(
    pending: list[PendingChain],
    usage: FairShareUsage | None,
    config: PolicyConfig = ON,
    node_count: int = 1,
    running: list | None = None,
) -> Decision:
    args = (pending, running or [], nodes(node_count), QuotaTable(), config, NOW, usage)
    decision = decide(*args)
    assert decision == decide_reference(*args)
    return decision


def order(pending: list[PendingChain], usage: FairShareUsage | None, config=ON) -> list[int]:
    return [chain.id for _, chain in queue_order(pending, config, NOW, usage)]


# --- the worked example of docs/scheduling-policy.md -----------------------------------

# alice (group vision) ran a whole 8-GPU node from 3 h to 1 h ago; bob (group nlp) from
# 76 h to 72 h ago; carol (vision) ran nothing. All three queue a NORMAL one-node chain, in
# the order alice, carol, bob, and one node is free.
HISTORY = [
    UsageSegment("alice", "vision", 8, NOW - 3 * HOUR, NOW - 1 * HOUR),
    UsageSegment("bob", "nlp", 8, NOW - 76 * HOUR, NOW - 72 * HOUR),
]
EXAMPLE = [
    pend(1, NORMAL, user="alice", user_group="vision", queued_at=NOW - 30),
    pend(2, NORMAL, user="carol", user_group="vision", queued_at=NOW - 20),
    pend(3, NORMAL, user="bob", user_group="nlp", queued_at=NOW - 10),
]


def test_worked_example_off_is_queue_order() -> None:
    usage = decayed_usage(HISTORY, NOW, DAY)
    assert order(EXAMPLE, usage, PolicyConfig()) == [1, 2, 3]
    assert go(EXAMPLE, usage, PolicyConfig()).starts[0].chain_id == 1


def test_worked_example_one_day_half_life_bob_first() -> None:
    usage = decayed_usage(HISTORY, NOW, DAY)
    # bob's 32 GPU-hours, three days old, count less than alice's 16 from this morning
    assert usage.users["bob"] < usage.users["alice"]
    assert order(EXAMPLE, usage) == [3, 2, 1]  # bob, carol (her group's usage), alice
    d = go(EXAMPLE, usage)
    assert d.starts[0].chain_id == 3
    assert set(d.waiting) == {1, 2}


def test_worked_example_seven_day_half_life_old_usage_still_counts() -> None:
    usage = decayed_usage(HISTORY, NOW, 7 * DAY)
    assert usage.users["bob"] > usage.users["alice"]
    assert order(EXAMPLE, usage) == [2, 1, 3]  # carol, alice, bob
    assert go(EXAMPLE, usage).starts[0].chain_id == 2


def test_the_example_scores_follow_the_formula() -> None:
    usage = decayed_usage(HISTORY, NOW, DAY)
    cfg = FairShareConfig()
    a, b = usage.users["alice"], usage.users["bob"]
    assert fair_share_score("alice", "vision", cfg, usage) == a + a
    assert fair_share_score("carol", "vision", cfg, usage) == 0 + a
    assert fair_share_score("bob", "nlp", cfg, usage) == b + b


# --- the rules -----------------------------------------------------------------------


def test_priority_comes_before_fair_share() -> None:
    usage = FairShareUsage({"heavy": 1e9}, {})
    pending = [pend(1, NORMAL, user="light"), pend(2, HIGH, user="heavy")]
    assert order(pending, usage) == [2, 1]


def test_aged_priority_comes_before_fair_share() -> None:
    usage = FairShareUsage({"heavy": 1e9}, {})
    cfg = PolicyConfig(aging_seconds=100, fair_share=FairShareConfig())
    pending = [pend(1, NORMAL, user="light", queued_at=NOW), pend(2, LOW, user="heavy")]
    assert order(pending, usage, cfg) == [2, 1]  # heavy's LOW chain has aged above NORMAL


def test_equal_scores_keep_queue_time_then_id() -> None:
    usage = FairShareUsage({"a": 5.0, "b": 5.0}, {})
    pending = [
        pend(4, user="b", queued_at=20),
        pend(3, user="a", queued_at=20),
        pend(1, user="b", queued_at=30),
        pend(2, user="c", queued_at=40),
    ]
    assert order(pending, usage) == [2, 3, 4, 1]  # c used nothing; a and b tie


def test_shares_divide_usage() -> None:
    usage = FairShareUsage({"alice": 300.0, "bob": 200.0}, {})
    pending = [pend(1, user="alice", queued_at=2), pend(2, user="bob", queued_at=1)]
    assert order(pending, usage) == [2, 1]
    cfg = PolicyConfig(fair_share=FairShareConfig(user_shares={"alice": 2}))
    assert order(pending, usage, cfg) == [1, 2]  # 300 / 2 < 200 / 1


def test_group_usage_and_weights() -> None:
    # equal own usage; alice's group used more
    usage = FairShareUsage({"alice": 10.0, "bob": 10.0}, {"big": 1000.0, "small": 10.0})
    pending = [
        pend(1, user="alice", user_group="big", queued_at=1),
        pend(2, user="bob", user_group="small", queued_at=2),
    ]
    assert order(pending, usage) == [2, 1]
    only_users = PolicyConfig(fair_share=FairShareConfig(group_weight=0))
    assert order(pending, usage, only_users) == [1, 2]  # a tie: queue order
    shared = PolicyConfig(fair_share=FairShareConfig(group_shares={"big": 200}))
    assert order(pending, usage, shared) == [1, 2]  # 10 + 1000/200 < 10 + 10


def test_a_user_without_group_is_a_group_of_their_own() -> None:
    usage = FairShareUsage({"solo": 10.0, "member": 10.0}, {"lab": 15.0})
    cfg = FairShareConfig(user_shares={"solo": 4.0})
    assert fair_share_score("solo", None, cfg, usage) == 10 / 4 + 10 / 4
    assert fair_share_score("member", "lab", cfg, usage) == 10 + 15
    assert fair_share_score("new", None, cfg, usage) == 0.0


def test_off_by_default_usage_is_ignored() -> None:
    usage = FairShareUsage({"alice": 1e9}, {})
    pending = [pend(1, user="alice", queued_at=1), pend(2, user="bob", queued_at=2)]
    assert PolicyConfig().fair_share is None
    assert go(pending, usage, PolicyConfig()).starts[0].chain_id == 1
    assert go(pending, None, ON).starts[0].chain_id == 1  # on, but nobody used anything


def test_fair_share_never_lets_equal_priority_preempt() -> None:
    usage = FairShareUsage({"bob": 1e9}, {})
    d = go([pend(1, NORMAL, user="alice")], usage, running=[run(10, NORMAL, ["gpu00"])])
    assert d.suspends == []
    assert "not enough lower-priority chains" in d.waiting[1]


def test_invalid_weights_and_shares_are_refused() -> None:
    with pytest.raises(ValueError, match="user_weight"):
        FairShareConfig(user_weight=-1)
    with pytest.raises(ValueError, match="group_weight"):
        FairShareConfig(group_weight=float("nan"))
    with pytest.raises(ValueError, match="share of user 'alice'"):
        FairShareConfig(user_shares={"alice": 0})
    with pytest.raises(ValueError, match="share of group 'lab'"):
        FairShareConfig(group_shares={"lab": float("inf")})


# --- randomized comparison with the reference -----------------------------------------------


def _fair_share_case(seed: int | random.Random) -> tuple:
    """A random cluster (as in test_policy) with fair share on and random usage: many
    ties (unused users, equal values) and groups with and without shares. ``seed``: a
    seed, or the random source itself."""
    rng = seed if isinstance(seed, random.Random) else random.Random(seed)
    args = _sized_case(rng)
    pending, running, node_list, quotas, config, now = args
    users = sorted({c.user for c in pending} | {c.user for c in running})
    values = [0.0, 0.0, 100.0, 100.0, 250.0, rng.uniform(0, 1000)]
    usage = FairShareUsage(
        {u: rng.choice(values) for u in users if rng.random() < 0.8},
        {g: rng.choice(values) for g in ("lab", "ops") if rng.random() < 0.8},
    )
    fair = FairShareConfig(
        user_weight=rng.choice([0.0, 1.0, 2.5]),
        group_weight=rng.choice([0.0, 1.0, 0.1]),
        user_shares={u: rng.choice([0.5, 1.0, 4.0]) for u in users if rng.random() < 0.3},
        group_shares={g: rng.choice([1.0, 3.0]) for g in ("lab", "ops") if rng.random() < 0.5},
    )
    config = dataclasses.replace(config, fair_share=fair)
    return pending, running, node_list, quotas, config, now, usage


@_cases(300)
@given(rng=RANDOM_CASES)
def test_matches_reference_with_fair_share_on_random_inputs(rng: random.Random) -> None:
    args = _fair_share_case(rng)
    assert decide(*args) == decide_reference(*args)


def test_random_fair_share_cases_change_decisions() -> None:
    """Guard for the comparison above: fair share must change the decision often."""
    changed = 0
    for seed in range(300):
        pending, running, node_list, quotas, config, now, usage = _fair_share_case(seed)
        off = dataclasses.replace(config, fair_share=None)
        on = decide(pending, running, node_list, quotas, config, now, usage)
        changed += on != decide(pending, running, node_list, quotas, off, now, usage)
    assert changed >= 60


def test_fair_share_decision_is_independent_of_input_order() -> None:
    pending, running, node_list, quotas, config, now, usage = _fair_share_case(5)
    first = decide(pending, running, node_list, quotas, config, now, usage)
    rng = random.Random(1)
    for _ in range(3):
        p, r = list(pending), list(running)
        rng.shuffle(p)
        rng.shuffle(r)
        assert decide(p, r, node_list, quotas, config, now, usage) == first


def _presorted(case: tuple, complete: bool) -> Decision:
    """decide() as the loop calls it: pending kept in queue_key order."""
    pending, running, node_list, quotas, config, now, usage = case
    ordered = sorted(pending, key=queue_key)
    return decide(
        ordered, running, node_list, quotas, config, now, usage, presorted=True, complete=complete
    )


@_cases(150)
@given(rng=RANDOM_CASES)
def test_presorted_early_stop_with_fair_share_decides_the_same(rng: random.Random) -> None:
    """The loop's deep-queue mode (input kept in queue_key order, walk stopped once nothing
    can start or preempt) with fair share on: the reference's starts and suspends, and its
    reasons for every chain walked."""
    case = _fair_share_case(rng)
    full = decide_reference(*case)
    assert _presorted(case, complete=True) == full
    part = _presorted(case, complete=False)
    assert (part.starts, part.suspends) == (full.starts, full.suspends)
    assert part.waiting.items() <= full.waiting.items()
    assert part.complete == (part.waiting.keys() == full.waiting.keys())


def test_random_fair_share_cases_take_the_lazy_presorted_path() -> None:
    """Guard: without aging, presorted input is grouped lazily and sorted by score per
    bucket; many of those cases must also stop early."""
    lazy = stopped = 0
    for seed in range(0, 300, 2):
        case = _fair_share_case(seed)
        if case[4].aging_seconds > 0:
            continue
        lazy += 1
        stopped += not _presorted(case, complete=False).complete
    assert lazy >= 30 and stopped >= 5, (lazy, stopped)
