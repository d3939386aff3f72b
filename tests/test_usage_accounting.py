"""GPU-hours accounting on the real scheduler core (local backend: real rank processes)
with an injected clock, on SQLite and on PostgreSQL.

The clock only moves when the test moves it, so every rank starts and ends at a time
the test chose and the expected GPU-hours are known exactly.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from scheduler.accounting.fold import fold_ranks
from scheduler.accounting.report import Filters, recent, report
from scheduler.model.enums import ChainState, Priority, RankState
from scheduler.model.usage import UsageFolded, UsageHour
from tests.sched_harness import ASSETS, chain, make_app, run_until, submit

pytestmark = pytest.mark.slow

HOLD = str(ASSETS / "hold_gpu.py")
T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
NODES = [
    {"name": "n0", "group": "gpu", "gpus": 2},
    {"name": "jup", "group": "jupyter", "gpus": ["mig-a", "mig-b", "mig-c"]},
]


class Clock:
    """The loop's clock: stands still until the test moves it."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at.timestamp()


def start(db_url: str, tmp_path: Path, clock: Clock):
    app = make_app(db_url, tmp_path / "data", NODES, suspend_grace_seconds=600.0)
    app.loop.clock = clock
    return app


def hold(app, tmp_path: Path, user: str, name: str, priority: Priority) -> tuple[int, Path]:
    release = tmp_path / f"release-{name}"
    cid = submit(
        app,
        user,
        name=name,
        entrypoint=HOLD,
        parameters=[str(release)],
        workspace=tmp_path / name,
        priority=priority,
    )
    return cid, release


def running_job(app, cid: int, seq: int):
    def check() -> bool:
        c = chain(app, cid)
        return (
            c.state == ChainState.RUNNING
            and len(c.jobs) == seq + 1
            and c.jobs[seq].ranks[0].rank_state is RankState.RUNNING
        )

    return check


def state_is(app, cid: int, state: ChainState):
    return lambda: chain(app, cid).state == state


def usage(app, now: dt.datetime, by=("user",), **filters) -> dict:
    with app.session_factory() as s:
        f = Filters(since=T0 - 24 * H, until=now, **filters)
        return report(s, f, tuple(by), now)


def per_user(result: dict) -> dict[str, float]:
    return {r["user"]: r["gpu_hours"] for r in result["rows"]}


def test_suspended_and_resumed_chains_count_exact_gpu_hours(db_url, tmp_path):
    clock = Clock(T0)
    app = start(db_url, tmp_path, clock)
    low, low_go = hold(app, tmp_path, "alice", "low", Priority.LOW)
    run_until(app, running_job(app, low, 0), what="low chain to run")

    clock.at = T0 + 2 * H  # bob's urgent chain preempts alice's
    high, high_go = hold(app, tmp_path, "bob", "high", Priority.HIGH)
    run_until(app, running_job(app, high, 0), what="high chain to run after the suspend")
    assert chain(app, low).state == ChainState.SUSPENDED

    clock.at = T0 + 3 * H  # alice waits suspended: her waiting hour counts nothing
    assert per_user(usage(app, clock.at)) == {"alice": 4.0, "bob": 2.0}

    clock.at = T0 + 3 * H + dt.timedelta(minutes=30)
    high_go.touch()
    run_until(app, running_job(app, low, 1), what="low chain to resume")
    clock.at = T0 + 5 * H
    low_go.touch()
    run_until(app, state_is(app, low, ChainState.FINISHED), what="low chain to finish")

    result = usage(app, clock.at, by=("user", "priority"))
    assert [
        (r["user"], r["priority"], r["gpu_hours"], r["node_hours"]) for r in result["rows"]
    ] == [
        ("alice", "LOW", 7.0, 3.5),  # 2 h + 1.5 h on 2 GPUs
        ("bob", "HIGH", 3.0, 1.5),
    ]
    assert result["cluster"] == {"gpu_hours": 10.0, "node_hours": 5.0}
    days = usage(app, clock.at, by=("day", "node_group"), user="alice")["rows"]
    assert days == [{"day": "2026-12-01", "node_group": "gpu", "gpu_hours": 7.0, "node_hours": 3.5}]
    # the same hours, read hour by hour from the rollup: nothing in the suspended hours
    with app.session_factory() as s:
        alice = dict(
            s.execute(
                select(UsageHour.hour, UsageHour.gpu_us).where(UsageHour.user_name == "alice")
            ).all()
        )
    assert {h - T0: us / 3.6e9 for h, us in alice.items()} == {
        0 * H: 2.0,
        1 * H: 2.0,
        3 * H: 1.0,  # resumed at 3:30
        4 * H: 2.0,
    }


def test_restarting_the_scheduler_mid_run_double_counts_nothing(db_url, tmp_path):
    clock = Clock(T0)
    first = start(db_url, tmp_path, clock)
    cid, go = hold(first, tmp_path, "alice", "long", Priority.NORMAL)
    other, other_go = hold(first, tmp_path, "bob", "short", Priority.NORMAL)
    run_until(first, running_job(first, cid, 0), what="alice's chain to run")
    clock.at = T0 + H
    assert per_user(usage(first, clock.at)) == {"alice": 2.0}  # running: counted live

    # the scheduler restarts (a new core on the same database and data folder); the rank
    # process lives on and is adopted
    second = start(db_url, tmp_path, clock)
    clock.at = T0 + 2 * H
    go.touch()
    run_until(second, state_is(second, cid, ChainState.FINISHED), what="the adopted chain to end")
    run_until(second, running_job(second, other, 0), what="bob's chain to run")
    clock.at = T0 + 2 * H + dt.timedelta(minutes=15)
    other_go.touch()
    run_until(second, state_is(second, other, ChainState.FINISHED), what="bob's chain to end")

    # a fold that dies before its commit leaves no trace
    with second.session_factory() as s:
        assert fold_ranks(s, clock.at) == 2
        s.rollback()
    # folds from both cores, repeatedly and at the same time
    errors: list[BaseException] = []

    def fold(app) -> None:
        try:
            for _ in range(3):
                app.accountant.fold(app.session_factory, clock.at)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=fold, args=(app,)) for app in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    for app in (first, second):
        result = usage(app, clock.at)
        assert per_user(result) == {"alice": 4.0, "bob": 0.5}
        assert result["total"] == {"gpu_hours": 4.5, "node_hours": 2.25}
    with second.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(UsageFolded)) == 2


def test_dev_servers_count_by_profile_live_and_after_release(db_url, tmp_path):
    clock = Clock(T0)
    app = start(db_url, tmp_path, clock)
    with app.session_factory.begin() as s:
        app.devservers.allocate(s, "carol", "", "mig-gpu", T0)
        app.devservers.allocate(s, "dave", "", "spot", T0 + H)
    now = T0 + 3 * H
    live = usage(app, now, by=("user", "profile"), kind="devserver")["rows"]
    assert live == [
        {"user": "carol", "profile": "mig-gpu", "gpu_hours": 3.0, "node_hours": 0.0},
        {"user": "dave", "profile": "spot", "gpu_hours": 4.0, "node_hours": 2.0},  # n0: 2 GPUs
    ]
    with app.session_factory.begin() as s:
        assert app.devservers.release(s, "dave", "", T0 + 2 * H + dt.timedelta(minutes=30))
    ended = usage(app, now, by=("profile",), kind="devserver")["rows"]
    assert ended == [
        {"profile": "mig-gpu", "gpu_hours": 3.0, "node_hours": 0.0},
        {"profile": "spot", "gpu_hours": 3.0, "node_hours": 1.5},
    ]
    assert usage(app, now, kind="training")["rows"] == []
    with app.session_factory() as s:
        mine = recent(s, "dave", now)
    assert mine["today"] == {
        "gpu_hours": 3.0,
        "node_hours": 1.5,
        "cluster_gpu_hours": 6.0,
        "share": 0.5,
    }
