"""Fair share in the running service: real rank processes (local backend), a real database
and an injected clock replay the worked example of docs/scheduling-policy.md."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from scheduler.model.enums import ChainState
from scheduler.service.app import SchedulerApp
from tests.sched_harness import chain, ensure_user, make_app, run_until, submit

pytestmark = pytest.mark.slow

HOUR = 3600.0
DAY = 24 * HOUR
ONE_NODE = [{"name": "n0", "group": "gpu", "gpus": 8}]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def ran(app: SchedulerApp, clock: Clock, user: str, start: float, end: float, ws: Path) -> None:
    """``user`` runs a chain on the whole node from ``start`` to ``end`` (clock time)."""
    clock.now = start
    cid = submit(app, user, name="history", entrypoint=str(ws / "quick.py"), workspace=ws)
    assert [p.chain_id for p in app.loop.cycle().starts] == [cid]
    clock.now = end
    run_until(app, lambda: chain(app, cid).state == ChainState.FINISHED, what="history run")


def start_order(app: SchedulerApp, ids: list[int]) -> list[int]:
    """Cycle (the clock stands still) until every chain has finished; the chains in the
    order their first job was made (job ids grow; every job has the same clock time)."""
    run_until(
        app,
        lambda: all(chain(app, cid).state == ChainState.FINISHED for cid in ids),
        timeout=60,
        what="the queued chains to finish",
    )
    return sorted(ids, key=lambda cid: chain(app, cid).jobs[0].id)


@pytest.mark.parametrize(
    ("half_life", "expected"),
    [
        (0.0, ["alice", "carol", "bob"]),
        (DAY, ["bob", "carol", "alice"]),
        (7 * DAY, ["carol", "alice", "bob"]),
    ],
    ids=["off", "one-day", "seven-days"],
)
def test_worked_example_start_order(db_url, tmp_path, half_life, expected):
    app = make_app(db_url, tmp_path / "data", ONE_NODE, fair_share_half_life_seconds=half_life)
    clock = Clock(float(int(time.time())))
    app.loop.clock = clock
    now = clock.now
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "quick.py").write_text("print('done')\n")
    for user, group in [("alice", "vision"), ("carol", "vision"), ("bob", "nlp")]:
        ensure_user(app, user, group)
    # bob used the 8-GPU node from 76 h to 72 h ago, alice from 3 h to 1 h ago
    ran(app, clock, "bob", now - 76 * HOUR, now - 72 * HOUR, ws)
    ran(app, clock, "alice", now - 3 * HOUR, now - HOUR, ws)
    clock.now = now
    # all three queue one NORMAL one-node chain, in this order
    ids = {
        u: submit(app, u, name="next", entrypoint=str(ws / "quick.py"), workspace=ws)
        for u in ("alice", "carol", "bob")
    }
    names = {cid: user for user, cid in ids.items()}
    assert [names[cid] for cid in start_order(app, list(ids.values()))] == expected
