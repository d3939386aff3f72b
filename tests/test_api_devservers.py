"""Dev-server endpoints of the scheduler API against the real service: who may do what."""

from __future__ import annotations

import httpx
import pytest

from tests.service_helpers import scheduler_process

pytestmark = pytest.mark.slow

CONFIG = """
c.LocalBackend.nodes = [
    {"name": "j0", "group": "jupyter", "gpus": ["MIG-1", "MIG-2"]},
    {"name": "t0", "group": "default", "gpus": 8},
]
c.DevServerManager.lease_seconds = 600
"""


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    users = (("admin", True), ("alice", False), ("bob", False), ("carol", False))
    with scheduler_process(tmp_path_factory.mktemp("devservers"), config=CONFIG, users=users) as s:
        yield s


def call(svc, who, method, path, **kw):
    headers = {"Authorization": f"token {svc.tokens[who]}"}
    return httpx.request(method, f"{svc.url}api/v1/{path}", headers=headers, timeout=30, **kw)


def test_only_admins_allocate_and_release(svc):
    r = call(svc, "alice", "POST", "devservers", json={"user": "alice", "profile": "mig-gpu"})
    assert r.status_code == 403 and "only admins" in r.json()["error"]
    r = call(svc, "admin", "POST", "devservers", json={"user": "alice", "profile": "mig-gpu"})
    assert r.status_code == 201, r.text
    assert r.json()["gpu_ids"] == ["MIG-1"] and r.json()["lease_seconds_left"] > 590
    assert call(svc, "bob", "DELETE", "devservers/alice").status_code == 403
    assert call(svc, "alice", "DELETE", "devservers/alice").status_code == 403


def test_owner_reads_and_renews_others_get_404(svc):
    call(
        svc,
        "admin",
        "POST",
        "devservers",
        json={"user": "bob", "profile": "mig-gpu", "server": "gpu2"},
    )
    mine = call(svc, "bob", "GET", "devservers/bob/gpu2")
    assert mine.status_code == 200 and mine.json()["profile"] == "mig-gpu"
    assert call(svc, "alice", "GET", "devservers/bob/gpu2").status_code == 404
    assert call(svc, "alice", "POST", "devservers/bob/gpu2/renew").status_code == 404
    renewed = call(svc, "bob", "POST", "devservers/bob/gpu2/renew")
    assert renewed.status_code == 200
    listing = call(svc, "bob", "GET", "devservers").json()["devservers"]
    assert [(d["user"], d["server"]) for d in listing] == [("bob", "gpu2")], "only his own"
    everyone = call(svc, "admin", "GET", "devservers").json()["devservers"]
    assert {d["user"] for d in everyone} >= {"alice", "bob"}


def test_bad_input_and_no_capacity_are_4xx_naming_the_problem(svc):
    r = call(svc, "admin", "POST", "devservers", json={"user": "carol", "profile": "gpu"})
    assert r.status_code == 422 and r.json()["field"] == "profile"
    r = call(svc, "admin", "POST", "devservers", json={"user": "carol", "profil": "spot"})
    assert r.status_code == 400 and r.json()["field"] == "profil"
    r = call(svc, "admin", "POST", "devservers", content=b"{not json")
    assert r.status_code == 400 and "malformed JSON" in r.json()["error"]
    r = call(svc, "admin", "POST", "devservers", json={"user": "carol", "profile": "mig-gpu"})
    assert r.status_code == 409 and "no free MIG slice" in r.json()["error"]
    spot = call(svc, "admin", "POST", "devservers", json={"user": "carol", "profile": "spot"})
    assert spot.status_code == 201 and len(spot.json()["gpu_ids"]) == 8
    r = call(svc, "carol", "POST", "devservers/carol/renew")
    assert r.status_code == 409 and "only mig-gpu servers have a lease" in r.json()["error"]
    assert call(svc, "admin", "DELETE", "devservers/carol").status_code == 204
    assert call(svc, "admin", "DELETE", "devservers/carol").status_code == 404


def test_dev_servers_show_in_the_node_view_and_hai_cli_nodes(svc, tmp_path):
    """A spot server holds its whole node; mig-gpu servers their slices: `nodes` shows both."""
    from tests.service_helpers import hai_cli, init_cli

    call(svc, "admin", "POST", "devservers", json={"user": "carol", "profile": "spot"})
    groups = {g["name"]: g for g in call(svc, "carol", "GET", "nodes").json()["groups"]}
    t0 = groups["default"]["node_list"][0]
    assert t0["used_by"] == [{"user": "carol", "dev_server": "spot", "gpus": 8}]
    assert groups["default"]["free_nodes"] == 0 and groups["default"]["used_gpus"] == 8
    jupyter = groups["jupyter"]
    held = [u for n in jupyter["node_list"] for u in n["used_by"]]
    assert all(u["dev_server"] == "mig-gpu" for u in held) and held
    assert jupyter["used_gpus"] == len(held) and jupyter["free_gpus"] == 2 - len(held)
    home = tmp_path / "carol"
    init_cli(home, svc.url, svc.tokens["carol"])
    out = hai_cli(home, "nodes")
    assert out.returncode == 0 and "carol (spot server, 8 GPU)" in out.stdout, out.stdout
    assert call(svc, "admin", "DELETE", "devservers/carol").status_code == 204
