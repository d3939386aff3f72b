"""Dev-container allocations in the scheduler's inventory: MIG slices, spot nodes, leases."""

from __future__ import annotations

import datetime as dt

import pytest

from scheduler.model.enums import ChainState
from scheduler.model.orm import DevServer
from scheduler.service.devservers import NoCapacity
from tests.sched_harness import TOY, chain, make_app, run_until, submit

NODES = [
    {"name": "j0", "group": "jupyter", "gpus": ["MIG-aaa", "MIG-bbb"]},
    {"name": "t0", "group": "gpu", "gpus": 8},
]
T0 = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)


def alloc(app, user, profile, server="", now=T0):
    with app.inventory_lock, app.session_factory.begin() as s:
        ds = app.devservers.allocate(s, user, server, profile, now)
        return ds.node, list(ds.gpu_ids)


def test_mig_slices_are_handed_out_once_each(db_url, tmp_path):
    app = make_app(db_url, tmp_path / "d", NODES)
    assert alloc(app, "alice", "mig-gpu") == ("j0", ["MIG-aaa"])
    assert alloc(app, "bob", "mig-gpu") == ("j0", ["MIG-bbb"])
    assert alloc(app, "alice", "mig-gpu") == ("j0", ["MIG-aaa"]), "same server, same slice"
    with pytest.raises(NoCapacity, match="all 2 slices of group 'jupyter' are in use"):
        alloc(app, "carol", "mig-gpu")
    with pytest.raises(ValueError, match="profile must be one of mig-gpu, spot"):
        alloc(app, "carol", "gpu-please")
    with app.session_factory.begin() as s:
        assert app.devservers.release(s, "bob", "")
    assert alloc(app, "carol", "mig-gpu") == ("j0", ["MIG-bbb"])


def test_lease_renewal_extends_up_to_the_maximum(db_url, tmp_path):
    app = make_app(db_url, tmp_path / "d", NODES)
    app.devservers.lease_seconds = 3600
    app.devservers.lease_max_seconds = 5400
    alloc(app, "alice", "mig-gpu")
    alloc(app, "bob", "spot")
    with app.session_factory.begin() as s:
        ds = app.devservers.renew(s, "alice", "", T0 + dt.timedelta(minutes=30))
        assert ds.lease_expires_at == T0 + dt.timedelta(minutes=90), "capped at the maximum"
        with pytest.raises(ValueError, match="only mig-gpu servers have a lease"):
            app.devservers.renew(s, "bob", "", T0)
        with pytest.raises(LookupError, match="carol has no running server"):
            app.devservers.renew(s, "carol", "", T0)
        with pytest.raises(ValueError, match="expired"):
            app.devservers.renew(s, "alice", "", T0 + dt.timedelta(hours=3))


@pytest.mark.slow
def test_a_slice_in_use_keeps_chains_off_the_jupyter_node(db_url, tmp_path):
    app = make_app(db_url, tmp_path / "d", NODES)
    alloc(app, "alice", "mig-gpu")
    cid = submit(
        app,
        "bob",
        name="j",
        entrypoint=TOY,
        group="jupyter",
        workspace=tmp_path / "w",
        parameters=["1", "0", str(tmp_path / "r")],
    )
    app.loop.cycle()
    c = chain(app, cid)
    assert c.state == ChainState.WAITING_INIT
    assert "jupyter" in c.reason


@pytest.mark.slow
def test_spot_node_is_reclaimed_for_training(db_url, tmp_path):
    app = make_app(db_url, tmp_path / "d", NODES)
    assert alloc(app, "alice", "spot", now=dt.datetime.now(dt.UTC))[0] == "t0"
    with pytest.raises(NoCapacity, match="no idle training node"):
        alloc(app, "bob", "spot")
    cid = submit(
        app,
        "bob",
        name="train",
        entrypoint=TOY,
        workspace=tmp_path / "w",
        parameters=["1", "0", str(tmp_path / "r")],
    )
    app.loop.cycle()
    with app.session_factory() as s:
        ds = s.query(DevServer).one()
        assert ds.reclaim_requested_at is not None
        assert ds.reclaim_deadline == ds.reclaim_requested_at + dt.timedelta(
            seconds=app.devservers.spot_grace_seconds
        )
        assert ds.reclaim_reason == "a training chain needs the node"
    assert chain(app, cid).state == ChainState.WAITING_INIT, "waits for the spot server to go"
    app.loop.cycle()
    why = chain(app, cid).reason
    assert "alice's spot server on t0 is being reclaimed" in why, why
    assert "to save its work (spot grace" in why and "chain(s) -" not in why
    # the hub stops the server and releases the node: the chain runs
    with app.session_factory.begin() as s:
        app.devservers.release(s, "alice", "")
    run_until(app, lambda: chain(app, cid).state == ChainState.FINISHED, what="chain on t0")
    assert chain(app, cid).jobs[0].ranks[0].node == "t0"


@pytest.mark.slow
def test_overdue_spot_server_is_freed_by_the_scheduler(db_url, tmp_path):
    app = make_app(db_url, tmp_path / "d", NODES)
    app.devservers.spot_grace_seconds = 0
    app.devservers.release_slack_seconds = 0
    alloc(app, "alice", "spot", now=dt.datetime.now(dt.UTC))
    cid = submit(
        app,
        "bob",
        name="train",
        entrypoint=TOY,
        workspace=tmp_path / "w",
        parameters=["1", "0", str(tmp_path / "r")],
    )
    run_until(app, lambda: chain(app, cid).state == ChainState.FINISHED, what="chain")
    with app.session_factory() as s:
        assert s.query(DevServer).count() == 0
