"""Recent usage read from the database (scheduler.service.fairshare) on SQLite and
PostgreSQL: the closed form, whole nodes charged, and the incremental cache agreeing with a
fresh read cycle after cycle; and the scheduler app's fair-share knobs."""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest
from sqlalchemy.orm import Session
from traitlets import TraitError

from scheduler.model.db import open_database
from scheduler.model.orm import Chain, Job, JobRank, Node, NodeGroup, User
from scheduler.policy import FairShareConfig
from scheduler.policy.decay import UsageSegment
from scheduler.policy.decay import decayed_usage as from_segments
from scheduler.service.app import SchedulerApp
from scheduler.service.fairshare import (
    UsageCache,
    decayed_usage,
    fair_share_config,
    fair_share_usage,
)

H = 3600.0
T0 = 1_800_000_000.0


def at(t: float | None) -> dt.datetime | None:
    return None if t is None else dt.datetime.fromtimestamp(t, dt.UTC)


class Cluster:
    """Rows for users, nodes and ranks, written straight into the database."""

    def __init__(self, s: Session) -> None:
        self.s = s
        group = NodeGroup(name="gpu")
        s.add_all([group, Node(name="n8", group=group, gpus=8), Node(name="cpu", group=group)])
        self.users: dict[str, User] = {}

    def user(self, name: str, group: str | None) -> User:
        if name not in self.users:
            self.users[name] = User(name=name, group_name=group)
            self.s.add(self.users[name])
        return self.users[name]

    def rank(self, user: User, node: str, start: float | None, end: float | None) -> JobRank:
        chain = Chain(name="c", owner=user, group_name="gpu", entrypoint="x.py")
        chain.gpus_per_node = None  # no request: charged its whole node, as accounting counts
        rank = JobRank(rank=0, node=node, started_at=at(start), ended_at=at(end))
        chain.jobs.append(Job(seq=0, ranks=[rank]))
        self.s.add(chain)
        self.s.flush()
        return rank


def test_closed_form_whole_nodes_and_groups(db_url: str) -> None:
    with open_database(db_url)() as s:
        c = Cluster(s)
        alice, bob = c.user("alice", "vision"), c.user("bob", None)
        c.rank(alice, "n8", T0 - 3 * H, T0 - H)  # 8 GPUs, 2 h, ended an hour ago
        c.rank(bob, "cpu", T0 - H, None)  # a node without GPUs counts as one; running
        c.rank(bob, "n8", None, None)  # created, never started: nothing yet
        usage = decayed_usage(s, T0, H)
    k = H / math.log(2)
    alice_used = 8 * k * (2**-1 - 2**-3)
    bob_used = 1 * k * (1 - 2**-1)
    assert usage.users["alice"] == pytest.approx(alice_used, rel=1e-9)
    assert usage.users["bob"] == pytest.approx(bob_used, rel=1e-9)
    assert usage.groups == pytest.approx({"vision": alice_used}, rel=1e-9)


def test_half_life_must_be_positive(db_url: str) -> None:
    with open_database(db_url)() as s, pytest.raises(ValueError, match="half_life"):
        decayed_usage(s, T0, 0)


def test_cache_agrees_with_a_fresh_read_cycle_after_cycle(db_url: str) -> None:
    """Ranks start and end between cycles; the cached, folded usage must equal both a fresh
    read and the pure sum over the same segments at every cycle."""
    rng = random.Random(3)
    cache = UsageCache()
    groups = {"u0": "lab", "u1": "lab", "u2": None, "u3": "ops"}
    with open_database(db_url)() as s:
        c = Cluster(s)
        live: list[tuple[JobRank, str, float]] = []
        segments: list[UsageSegment] = []
        now = T0
        for _ in range(40):
            now += rng.choice([1.0, 30.0, 600.0, 5 * H])
            for rank, user, start in list(live):  # some running ranks end
                if rng.random() < 0.4:
                    rank.ended_at = at(now - rng.uniform(0, 1))
                    live.remove((rank, user, start))
                    node_gpus = 8 if rank.node == "n8" else 1
                    segments.append(
                        UsageSegment(
                            user, groups[user], node_gpus, start, rank.ended_at.timestamp()
                        )
                    )
            for _ in range(rng.randrange(3)):  # new ranks start
                user = rng.choice(list(groups))
                start = at(now - rng.uniform(0, 2)).timestamp()  # as stored: microseconds
                node = rng.choice(["n8", "cpu"])
                live.append((c.rank(c.user(user, groups[user]), node, start, None), user, start))
            s.flush()
            running = [
                UsageSegment(u, groups[u], 8 if r.node == "n8" else 1, st, None)
                for r, u, st in live
            ]
            expected = from_segments(segments + running, now, H)
            cached = decayed_usage(s, now, H, cache)
            fresh = decayed_usage(s, now, H)
            for got in (cached, fresh):
                assert got.users == pytest.approx(expected.users, rel=1e-9, abs=1e-9)
                assert got.groups == pytest.approx(expected.groups, rel=1e-9, abs=1e-9)
        assert segments, "the random walk must end some ranks"
        assert cache.open_ids == {r.id for r, _, _ in live}


def test_a_deleted_running_rank_is_forgotten(db_url: str) -> None:
    with open_database(db_url)() as s:
        c = Cluster(s)
        rank = c.rank(c.user("alice", None), "n8", T0 - H, None)
        cache = UsageCache()
        assert decayed_usage(s, T0, H, cache).users["alice"] > 0
        assert cache.open_ids == {rank.id}
        s.delete(rank.job.chain)
        s.flush()
        assert decayed_usage(s, T0 + 1, H, cache).users == {}
        assert cache.open_ids == set()


def test_cache_restarts_when_the_clock_goes_back_or_the_half_life_changes(db_url: str) -> None:
    with open_database(db_url)() as s:
        c = Cluster(s)
        c.rank(c.user("alice", None), "n8", T0 - H, T0)
        cache = UsageCache()
        for now, half_life in [(T0 + H, H), (T0, H), (T0 + H, 2 * H), (T0 + 2 * H, 2 * H)]:
            got = decayed_usage(s, now, half_life, cache)
            assert got == decayed_usage(s, now, half_life)


def test_app_knobs_off_by_default_and_checked(db_url: str) -> None:
    app = SchedulerApp()
    assert app.fair_share_half_life_seconds == 0
    assert fair_share_config(app) is None
    with open_database(db_url)() as s:
        assert fair_share_usage(app, s, T0) is None
    app.fair_share_half_life_seconds = 2 * H
    app.fair_share_group_weight = 0.5
    app.fair_share_user_shares = {"alice": 2}
    assert fair_share_config(app) == FairShareConfig(
        user_weight=1.0, group_weight=0.5, user_shares={"alice": 2.0}
    )
    with pytest.raises(TraitError, match="half_life"):
        app.fair_share_half_life_seconds = -1
    with pytest.raises(TraitError, match="user_weight"):
        app.fair_share_user_weight = float("inf")
    with pytest.raises(TraitError, match="'lab'"):
        app.fair_share_group_shares = {"lab": 0}
