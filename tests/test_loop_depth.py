"""The loop's cost follows what changed, not the queue (issue #15): the mechanisms.

A cycle re-reads only the chains writers noted (scheduler/service/queue_index.py), skips
the policy when its input is unchanged and no time rule came due
(scheduler/service/policy_inputs.py), and a periodic full re-read finds writes nobody
noted. These tests count SQL statements and policy runs, not milliseconds; the figures are
in benchmarks/bench_depth.py.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, insert, select, update

from scheduler.model import accounts
from scheduler.model.enums import ChainState, Priority
from scheduler.model.orm import Chain
from scheduler.service.queue_index import WaitingQueue
from tests.sched_harness import TOY, chain, ensure_user, make_app, run_until, submit

T0 = 1_900_000_000.0
# one node: chains asking for two wait for ever ("group too small") and start no process
ONE_NODE = [{"name": "n0", "group": "gpu", "gpus": 1}]


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def queue(
    app, user: str, count: int, *, node_count: int = 2, when: float = T0, group: str = "gpu"
) -> list[int]:
    """``count`` waiting chains inserted in one statement, as the API would (then noted)."""
    ensure_user(app, user)
    at = dt.datetime.fromtimestamp(when, dt.UTC)
    with app.session_factory.begin() as s:
        owner = accounts.get_user(s, user).id
        rows = [
            {
                "name": f"q{i}",
                "owner_id": owner,
                "group_name": group,
                "node_count": node_count,
                "priority": int(Priority.NORMAL),
                "entrypoint": TOY,
                "parameters": [],
                "workspace": "/tmp",
                "environment": {},
                "options": {},
                "state": ChainState.WAITING_INIT.value,
                "queued_at": at,
                "created_at": at,
                "updated_at": at,
            }
            for i in range(count)
        ]
        ids = list(s.scalars(insert(Chain).returning(Chain.id), rows))
    app.loop.note_changed(chains=ids)
    return ids


@contextmanager
def statements(app) -> Iterator[list[str]]:
    """The SQL statements run inside the block."""
    seen: list[str] = []
    engine = app.session_factory.kw["bind"]

    def record(conn, cursor, statement, *args) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def new_app(db_url, tmp_path, **knobs):
    app = make_app(db_url, tmp_path / "data", ONE_NODE, **knobs)
    app.loop.clock = Clock()
    return app


def test_an_idle_cycle_costs_the_same_at_any_depth_and_skips_the_policy(db_url, tmp_path):
    app = new_app(db_url, tmp_path)
    queue(app, "alice", 20)
    app.loop.cycle()
    runs = app.loop.policy_runs
    with statements(app) as shallow:
        app.loop.cycle()
    assert app.loop.policy_runs == runs, "nothing changed: the policy did not run again"

    queue(app, "bob", 3000)
    app.loop.cycle()
    assert app.loop.policy_runs == runs + 1, "noted chains: the policy ran once"
    assert len(app.loop.queue.pending()) == 3020
    assert "group 'gpu' has only 1 node" in chain(app, 3020).reason
    with statements(app) as deep:
        app.loop.cycle()
    assert app.loop.policy_runs == runs + 1
    assert len(deep) == len(shallow), (shallow, deep)
    assert not any("waiting_init" in s or "suspended" in s for s in deep), deep


def test_a_write_nobody_noted_is_found_by_the_periodic_resync(db_url, tmp_path):
    app = new_app(db_url, tmp_path, queue_resync_seconds=60.0)
    (cid,) = queue(app, "alice", 1)
    app.loop.cycle()
    with app.session_factory.begin() as s:  # a writer outside the API: no note
        s.execute(update(Chain).where(Chain.id == cid).values(node_count=1))
    app.loop.cycle()
    assert chain(app, cid).state == ChainState.WAITING_INIT, "not seen yet"
    app.loop.clock.t += 60
    app.loop.cycle()
    assert chain(app, cid).state == ChainState.RUNNING, "the full re-read found it"


def test_aging_runs_the_policy_again_when_a_chain_rises_a_level(db_url, tmp_path):
    app = new_app(db_url, tmp_path, aging_seconds=100.0)
    queue(app, "alice", 5)
    app.loop.cycle()
    runs = app.loop.policy_runs
    app.loop.clock.t += 99
    app.loop.cycle()
    assert app.loop.policy_runs == runs, "no chain aged a level yet"
    app.loop.clock.t += 1
    app.loop.cycle()
    assert app.loop.policy_runs == runs + 1, "a chain aged a level: decided again"


def test_a_users_new_group_reaches_their_queued_chains(db_url, tmp_path):
    app = new_app(db_url, tmp_path, catalog_refresh_seconds=30.0)
    queue(app, "alice", 2)
    app.loop.cycle()
    with app.session_factory.begin() as s:
        accounts.get_user(s, "alice").group_name = "lab"
    app.loop.note_changed(catalog=True)  # as PATCH /users does
    app.loop.cycle()
    assert {p.user_group for p in app.loop.queue.pending()} == {"lab"}


def _full_read(app) -> dict[int, tuple]:
    fresh = WaitingQueue()
    with app.session_factory() as s:
        fresh.reload(s, app.loop.catalog.owners)
    return {cid: (r.state, r.held, r.stop_requested, r.priority, r.node_count, r.reason)
            for cid, r in fresh.rows.items()}  # fmt: skip


def test_the_queue_in_memory_matches_a_full_read_after_random_noted_writes(db_url, tmp_path):
    """Differential: random API-style intents (each noted) and cycles; after every cycle
    the in-memory queue equals what a full read of the database gives."""
    rng = random.Random(15)
    app = new_app(db_url, tmp_path)
    ids = queue(app, "alice", 30, node_count=1) + queue(app, "bob", 30, node_count=2)
    carol = queue(app, "carol", 4, node_count=1, group="other")  # a group without nodes
    ids += carol
    for _ in range(40):
        cid = rng.choice(ids)
        values = rng.choice(
            [
                {"priority": rng.randrange(0, 7)},
                {"held": rng.random() < 0.5},
                {"node_count": rng.randrange(1, 3)},
                {"stop_requested_at": dt.datetime.fromtimestamp(T0, dt.UTC)},
            ]
        )
        with app.session_factory.begin() as s:
            s.execute(
                update(Chain)
                .where(Chain.id == cid, Chain.state != ChainState.FINISHED.value)
                .values(**values)
            )
        app.loop.note_changed(chains=[cid])
        app.loop.cycle()
        mine = {cid: (r.state, r.held, r.stop_requested, r.priority, r.node_count, r.reason)
                for cid, r in app.loop.queue.rows.items()}  # fmt: skip
        assert mine == _full_read(app)
        pending = app.loop.queue.pending()
        assert app.loop.queue.queued_groups() == {chain.group for chain in pending}
    with app.session_factory.begin() as s:  # the last chains of a group leave the queue
        s.execute(update(Chain).where(Chain.id.in_(carol)).values(held=True))
    app.loop.note_changed(chains=carol)
    app.loop.cycle()
    assert "other" not in app.loop.queue.queued_groups()
    with app.session_factory() as s:
        running = s.scalars(select(Chain.id).where(Chain.state == "running")).all()
    assert running, "some chains started on the way"


def test_reasons_behind_the_early_stop_are_filled_in_once_the_queue_settles(db_url, tmp_path):
    app = new_app(db_url, tmp_path)
    ensure_user(app, "alice")
    long_run = submit(
        app, "alice", name="long", entrypoint=TOY, workspace=tmp_path / "w",
        parameters=["100000", "0.1", str(tmp_path / "w" / "r")],
    )  # fmt: skip
    app.loop.cycle()  # it takes the only node (a complete walk: the first one)
    assert chain(app, long_run).state == ChainState.RUNNING
    behind = queue(app, "bob", 5, node_count=1)
    app.loop.cycle()  # something changed: the walk stops at once (nothing can start)
    assert app.loop.last_walk_complete is False
    assert all(chain(app, cid).reason == "" for cid in behind)
    app.loop.cycle()  # nothing new, but too soon to call the queue settled
    assert app.loop.last_walk_complete is False
    app.loop.clock.t += 1
    app.loop.cycle()  # a second without news: settled, every reason is filled in
    assert app.loop.last_walk_complete is True
    assert all("waiting for nodes in group 'gpu'" in chain(app, cid).reason for cid in behind)
    with app.session_factory.begin() as s:
        s.get(Chain, long_run).stop_requested_at = dt.datetime.fromtimestamp(T0, dt.UTC)
    app.loop.note_changed(chains=[long_run])
    run_until(app, lambda: chain(app, long_run).state == ChainState.FINISHED, what="stop")


def test_a_reasons_kind_is_what_it_says_without_its_numbers():
    from scheduler.policy import reasons
    from scheduler.service.loop import reason_kind

    one, other = reasons.no_nodes(1, "gpu", 0, 0), reasons.no_nodes(1, "gpu", 0, 3)
    assert one != other and reason_kind(one) == reason_kind(other)
    quota = reasons.over_quota("node-gpu-HIGH", 2, 2, 1)
    assert reason_kind(quota) != reason_kind(one)
    assert reason_kind("") != reason_kind(one)


def test_a_full_read_of_a_deep_queue_freezes_it_out_of_full_collections(db_url, tmp_path):
    """From ``gc_freeze_queue`` queued chains on, a full read of the queue is followed by
    one collection and a freeze: CPython's full collections no longer walk the queue's
    rows (their pauses were the page p99 at 100,000); the next full read unfreezes first,
    and a queue below the threshold is not frozen."""
    import gc

    from scheduler.service.queue_index import WaitingRow

    app = new_app(db_url, tmp_path, gc_freeze_queue=500, queue_resync_seconds=60.0)
    try:
        queue(app, "alice", 499)
        app.loop.cycle()  # the first cycle reads the whole queue: below the threshold
        assert gc.get_freeze_count() == 0
        queue(app, "bob", 1)
        app.loop.clock.t += 60  # the next full read: 500 queued
        reload, collecting = app.loop.queue.reload, []

        def watched_reload(*args):  # the read allocates the queue anew: no collections
            collecting.append(gc.isenabled())
            return reload(*args)

        app.loop.queue.reload = watched_reload
        app.loop.cycle()
        assert collecting == [False] and gc.isenabled()
        frozen = gc.get_freeze_count()
        assert frozen > 500 * 2, frozen  # the rows and their policy entries, at least
        walked = [o for g in range(3) for o in gc.get_objects(g) if isinstance(o, WaitingRow)]
        assert walked == [], "no collection walks the queue's rows"
        app.loop.cycle()  # a cycle in between (no full read) leaves the freeze in place
        assert gc.get_freeze_count() > frozen // 2  # (frozen objects still die as usual)
        with app.session_factory.begin() as s:  # most chains leave the queue, unnoted
            s.execute(update(Chain).where(Chain.id > 10).values(state="finished"))
        app.loop.clock.t += 60
        app.loop.cycle()
        assert gc.get_freeze_count() == 0, "10 queued: unfrozen, collected as usual"
    finally:
        gc.unfreeze()


def test_a_new_users_first_chain_leaves_everyone_elses_queue_entries_alone(db_url, tmp_path):
    """A new user changes the catalog's owners; only the owners whose name or group moved
    get new policy entries (rebuilding all 100,000 made a new user's first submission cost
    a sort of the whole queue, and unfroze it: scheduler/service/heap.py)."""
    app = new_app(db_url, tmp_path, catalog_refresh_seconds=30.0)
    queue(app, "alice", 40)
    queue(app, "bob", 3)
    app.loop.cycle()
    before = {p.id: p for p in app.loop.queue.pending()}
    carol = queue(app, "carol", 2)  # a user the loop's catalog does not know yet
    with app.session_factory.begin() as s:
        accounts.get_user(s, "bob").group_name = "lab"
    app.loop.note_changed(catalog=True)
    app.loop.cycle()
    after = {p.id: p for p in app.loop.queue.pending()}
    alices = [cid for cid, p in before.items() if p.user == "alice"]
    assert all(after[cid] is before[cid] for cid in alices), "alice's entries untouched"
    assert {p.user_group for p in after.values() if p.user == "bob"} == {"lab"}
    assert {after[cid].user for cid in carol} == {"carol"}
    fresh = WaitingQueue()
    with app.session_factory() as s:
        fresh.reload(s, app.loop.catalog.owners)
    assert [(p.id, p.user, p.user_group) for p in fresh.pending()] == [
        (p.id, p.user, p.user_group) for p in app.loop.queue.pending()
    ], "the same entries, in the same order, as a full read"


def test_thousands_of_reasons_are_written_with_the_collector_paused(db_url, tmp_path):
    """The first walk of a deep queue gives every chain its reason in one executemany; its
    parameter rows set off full collections that walked them all (heap.py)."""
    import gc

    app = new_app(db_url, tmp_path)
    queue(app, "alice", 1200)  # each asks for 2 nodes of a group that has 1
    writes: list[tuple[int, bool]] = []
    engine = app.session_factory.kw["bind"]

    def record(conn, cursor, statement, params, context, executemany) -> None:
        if statement.lstrip().upper().startswith("UPDATE CHAINS") and executemany:
            writes.append((len(params), gc.isenabled()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        app.loop.cycle()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert sum(n for n, _ in writes) >= 1200 and not any(on for _, on in writes), writes
    assert gc.isenabled()
    assert "group 'gpu' has only 1 node" in chain(app, 1200).reason
