"""The domain model on a real database: schema via alembic, rows, the state machine."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy import inspect, select
from sqlalchemy.orm import sessionmaker

from scheduler.model import ChainState, IllegalTransition, Priority, RankState
from scheduler.model.db import open_database
from scheduler.model.orm import Chain, Job, JobRank, Node, NodeGroup, Quota, User


def test_priority_parse_names_the_allowed_values() -> None:
    assert Priority.parse("high") is Priority.HIGH
    assert Priority.parse("extreme-high") is Priority.EXTREME_HIGH
    assert Priority.parse(0) is Priority.LOW
    with pytest.raises(ValueError, match="LOW, BELOW_NORMAL, NORMAL"):
        Priority.parse("URGENT")
    with pytest.raises(ValueError, match="priority must be one of"):
        Priority.parse(9)
    assert list(Priority) == sorted(Priority)
    assert len(Priority) == 7


def test_migrations_create_every_table(db_url: str) -> None:
    factory = open_database(db_url)
    names = set(inspect(factory.kw["bind"]).get_table_names())
    assert {
        "users",
        "api_tokens",
        "node_groups",
        "nodes",
        "quotas",
        "chains",
        "jobs",
        "job_ranks",
        "alembic_version",
    } <= names
    # Running the migrations again is a no-op, not an error.
    open_database(db_url)


def test_chain_with_jobs_and_ranks_round_trips(db_url: str) -> None:
    factory = open_database(db_url)
    with factory() as s:
        grp = NodeGroup(name="gpu")
        s.add_all([grp, Node(name="n0", group=grp, gpus=8), User(name="alice")])
        s.add(Quota(subject_kind="user", subject="alice", resource="node-gpu-NORMAL", limit=2))
        s.flush()
        alice = s.scalars(select(User).where(User.name == "alice")).one()
        chain = Chain(
            name="train",
            owner=alice,
            group_name="gpu",
            node_count=1,
            entrypoint="train.py",
            parameters=["--lr", "0.1"],
            environment={"A": "1"},
            priority=int(Priority.HIGH),
        )
        s.add(chain)
        job = Job(seq=0)
        chain.jobs.append(job)
        job.ranks.append(JobRank(rank=0, node="n0"))
        s.commit()
        cid = chain.id

    with factory() as s:
        chain = s.get(Chain, cid)
        assert chain.chain_state is ChainState.WAITING_INIT
        assert chain.parameters == ["--lr", "0.1"]
        assert chain.environment == {"A": "1"}
        assert chain.priority_level is Priority.HIGH
        assert chain.created_at.tzinfo is dt.UTC
        rank = chain.current_job.ranks[0]
        rank.set_state(RankState.RUNNING)
        chain.set_state(ChainState.RUNNING)
        s.commit()
        assert rank.started_at is not None

    with factory() as s:
        chain = s.get(Chain, cid)
        rank = chain.current_job.ranks[0]
        assert rank.rank_state is RankState.RUNNING
        with pytest.raises(IllegalTransition, match="rank cannot go from running to building"):
            rank.set_state(RankState.BUILDING)
        with pytest.raises(IllegalTransition, match="chain cannot go from running to waiting_init"):
            chain.set_state(ChainState.WAITING_INIT)
        # the refused transitions left the rows as they were
        assert rank.rank_state is RankState.RUNNING
        assert chain.chain_state is ChainState.RUNNING


@pytest.mark.parametrize(
    ("path", "ok"),
    [
        (["building", "running", "stopped_terminating", "stopped"], True),
        (["running", "succeeded"], True),
        (["unschedulable", "building", "running", "failed_terminating", "failed"], True),
        (["running", "failed", "running"], False),
        (["succeeded", "stopped"], False),
        (["stopped_terminating", "succeeded"], False),
    ],
)
def test_rank_state_machine(path: list[str], ok: bool) -> None:
    rank = JobRank(rank=0, node="n0", state="created")
    try:
        for step in path:
            rank.set_state(RankState(step))
    except IllegalTransition:
        assert not ok
    else:
        assert ok


def _migrate(url: str) -> None:
    from scheduler.model.db import make_engine, upgrade

    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def test_concurrent_migrations_do_not_collide(db_url: str) -> None:
    """A migration job and the scheduler may start together on a fresh database."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_migrate, args=(db_url,)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    factory = open_database(db_url)
    assert "dev_servers" in inspect(factory.kw["bind"]).get_table_names()


def _filled(table: sa.Table, **given: object) -> dict[str, object]:
    """A row for ``table`` as a schema of that revision wants it: ``given``, and a plain
    value for every other NOT NULL column without a default."""
    plain = {sa.Integer: 1, sa.String: "x", sa.Text: "", sa.Boolean: False, sa.JSON: {}}
    row = dict(given)
    for col in table.columns:
        if col.name in row or col.nullable or col.server_default is not None:
            continue
        kind = next((v for t, v in plain.items() if isinstance(col.type, t)), None)
        row[col.name] = dt.datetime(2026, 12, 3) if kind is None else kind
    return row


def test_migration_0005_moves_the_loops_rank_records_out_of_the_handle(db_url: str) -> None:
    """Ranks written before 0005 kept the loop's flags in the backend's handle; the upgrade
    moves them into columns (and only them), the downgrade puts them back."""
    from alembic import command

    from scheduler.model.db import alembic_config, make_engine

    engine = make_engine(db_url)
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))

    def migrate(step, revision: str) -> None:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            step(cfg, revision)

    migrate(command.upgrade, "0004")
    tables = sa.MetaData()
    tables.reflect(engine)
    since, sent = 1764770000.5, 1764770030.25
    old = {"runner_pid": 42, "master_port": 29511, "started": True, "suspend_sent": True}
    old |= {"terminating_since": since, "term_sent": sent, "killed": True}
    ranks = tables.tables["job_ranks"]
    with engine.begin() as conn:
        for name, values in (
            ("users", {"id": 1, "name": "a"}),
            ("chains", {"id": 1, "owner_id": 1, "parameters": [], "state": "running"}),
            ("jobs", {"id": 1, "chain_id": 1, "seq": 0}),
        ):
            conn.execute(
                sa.insert(tables.tables[name]).values(_filled(tables.tables[name], **values))
            )
        conn.execute(sa.insert(ranks).values(_filled(ranks, id=1, job_id=1, rank=0, handle=old)))
        conn.execute(sa.insert(ranks).values(_filled(ranks, id=2, job_id=1, rank=1, handle={})))
    migrate(command.upgrade, "head")
    with sessionmaker(engine)() as s:
        moved, fresh = s.scalars(select(JobRank).order_by(JobRank.id)).all()
    assert moved.handle == {"runner_pid": 42}
    assert (moved.master_port, moved.launched) == (29511, True)
    assert moved.terminating_since == dt.datetime.fromtimestamp(since, dt.UTC)
    assert moved.term_sent_at == dt.datetime.fromtimestamp(sent, dt.UTC)
    assert moved.suspend_sent_at is not None and moved.killed_at is not None
    assert (fresh.handle, fresh.master_port, fresh.launched) == ({}, None, False)
    migrate(command.downgrade, "0004")
    with engine.begin() as conn:
        handle = conn.execute(sa.select(ranks.c.handle).where(ranks.c.id == 1)).scalar_one()
    assert handle == old
