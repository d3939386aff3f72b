"""The HTTP API, served in-process on 127.0.0.1, against SQLite and PostgreSQL.

There is no scheduling loop here: tests play the loop by writing chain, job and rank
rows directly, and the fake backend's logs.
"""

from __future__ import annotations

import datetime as dt
import inspect
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from scheduler.backends.base import RankKey
from scheduler.model import accounts
from scheduler.model.orm import Chain, Job, JobRank, User
from scheduler.service.auth import Authenticator, Identity
from scheduler.service.web import ROUTES
from tests.service_helpers import ApiServer, add_nodes, api_server

SPEC = {
    "name": "train",
    "spec": {"entrypoint": "train.py", "workspace": "/w"},
    "resource": {"node_count": 1},
}


@pytest.fixture
def srv(db_url: str) -> Iterator[ApiServer]:
    with api_server(db_url, default_quota={"EXTREME_HIGH": 0}) as server:
        add_nodes(server.factory, "gpu", 4, gpus=8)
        add_nodes(server.factory, "cpu", 2, gpus=0)
        yield server


class Api:
    """httpx client for one user; ``ok`` asserts a 2xx, ``fail`` a given 4xx with a field."""

    def __init__(self, server: ApiServer, token: str | None) -> None:
        headers = {"Authorization": f"token {token}"} if token else {}
        self.http = httpx.Client(base_url=server.api, headers=headers, timeout=30)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.http, name)

    def ok(self, method: str, path: str, **kw: Any) -> Any:
        resp = self.http.request(method, path, **kw)
        assert resp.status_code < 300, (resp.status_code, resp.text)
        return resp.json()

    def fail(self, method: str, path: str, status: int, field: str | None = None, **kw: Any):
        resp = self.http.request(method, path, **kw)
        assert resp.status_code == status, (resp.status_code, resp.text)
        body = resp.json()
        assert body["error"], body
        if field is not None:
            assert body["field"] == field, body
        return body

    def submit(self, **changes: Any) -> dict[str, Any]:
        spec = {**SPEC, **changes}
        return self.ok("POST", "/chains", json=spec)


@pytest.fixture
def alice(srv: ApiServer) -> Api:
    return Api(srv, srv.user("alice", group="vision"))


@pytest.fixture
def bob(srv: ApiServer) -> Api:
    return Api(srv, srv.user("bob"))


@pytest.fixture
def admin(srv: ApiServer) -> Api:
    return Api(srv, srv.user("root", admin=True))


def play_loop(
    srv: ApiServer,
    chain_id: int,
    *,
    state: str = "running",
    jobs: int = 1,
    rank_state: str = "running",
    nodes: tuple[str, ...] = ("gpu-n0",),
    suspend_count: int = 0,
) -> None:
    """Put a chain in ``state`` with ``jobs`` jobs (all but the last ended)."""
    now = dt.datetime.now(dt.UTC)
    with srv.factory.begin() as s:
        chain = s.get(Chain, chain_id)
        chain.state = state
        chain.suspend_count = suspend_count
        chain.started_at = now
        if state == "finished":
            chain.finished_at = now
            chain.stop_code = "succeeded"
        for seq in range(jobs):
            last = seq == jobs - 1
            job = Job(chain_id=chain_id, seq=seq, created_at=now + dt.timedelta(seconds=seq))
            if not last:
                job.ended_at = now
                job.stop_code = "preempted"
            s.add(job)
            for r, node in enumerate(nodes):
                s.add(
                    JobRank(
                        job=job,
                        rank=r,
                        node=node,
                        state=rank_state if last else "stopped",
                        started_at=now,
                    )
                )


def woken(srv: ApiServer, before: int, timeout: float = 2.0) -> None:
    """The API woke the loop (bursts are folded into one wake per ``wake_interval``)."""
    deadline = time.monotonic() + timeout
    while srv.app.loop.wakes <= before:
        assert time.monotonic() < deadline, "the loop was not woken"
        time.sleep(0.01)


# --------------------------------------------------------------------------- documents


def test_openapi_documents_every_route_and_method(srv: ApiServer) -> None:
    doc = httpx.get(f"{srv.api}/openapi.json").json()  # no token needed
    assert doc["openapi"].startswith("3.")
    assert doc["servers"][0]["url"] == "/api/v1"
    for _pattern, handler, path in ROUTES:
        assert path in doc["paths"], path
        for method in ("get", "post", "patch", "put", "delete"):
            implemented = getattr(handler, method) is not getattr(
                __import__("tornado.web").web.RequestHandler, method
            )
            if implemented:
                assert method in doc["paths"][path], (path, method)
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            for resp in op["responses"].values():
                schema = resp.get("content", {}).get("application/json", {}).get("schema", {})
                ref = schema.get("$ref")
                if ref:
                    assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"], (path, ref)


def test_info_needs_no_token(srv: ApiServer) -> None:
    body = httpx.get(f"{srv.api}/").json()
    assert body["service"] == "hai-scheduler" and body["api"] == "v1"


def test_unknown_endpoint_is_json_404(srv: ApiServer, alice: Api) -> None:
    body = alice.fail("GET", "/nothing/here", 404)
    assert "no such endpoint" in body["error"]
    resp = httpx.get(srv.url + "elsewhere")
    assert resp.status_code == 404 and resp.json()["error"]


def test_wrong_method_is_json_405(alice: Api) -> None:
    chain = alice.submit()
    alice.fail("DELETE", f"/chains/{chain['id']}", 405)
    alice.fail("GET", f"/chains/{chain['id']}/stop", 405)


# --------------------------------------------------------------------------- auth


def test_requests_without_a_valid_token_get_401(srv: ApiServer) -> None:
    token = srv.user("carol")
    for headers in ({}, {"Authorization": "token nope"}, {"Authorization": "Basic abc"}):
        resp = httpx.get(f"{srv.api}/whoami", headers=headers)
        assert resp.status_code == 401
        assert resp.json()["field"] == "Authorization"
    for scheme in ("token", "Bearer", "bearer"):
        resp = httpx.get(f"{srv.api}/whoami", headers={"Authorization": f"{scheme} {token}"})
        assert resp.status_code == 200 and resp.json()["name"] == "carol"


class HeaderAuthenticator(Authenticator):
    """A stand-in for JupyterHub's HubAuth: trusts an ``X-Hub-User`` header."""

    def credential(self, headers: Any) -> str | None:
        return headers.get("X-Hub-User")

    def authenticate(self, session: Any, headers: Any) -> Identity | None:
        name = headers.get("X-Hub-User")
        return Identity(name, admin=name == "hubadmin") if name else None


def test_swapped_authenticator_creates_users_on_first_request(db_url: str) -> None:
    with api_server(
        db_url, base_url="/services/hai/", authenticator_class=HeaderAuthenticator
    ) as s:
        add_nodes(s.factory, "gpu", 1)
        assert s.api.endswith("/services/hai/api/v1")
        http = httpx.Client(base_url=s.api, headers={"X-Hub-User": "dora"})
        assert http.get("/whoami").json()["name"] == "dora"
        created = http.post("/chains", json=SPEC)
        assert created.status_code == 201 and created.json()["owner"] == "dora"
        with s.factory() as session:
            assert accounts.get_user(session, "dora") is not None
        admin = httpx.get(f"{s.api}/whoami", headers={"X-Hub-User": "hubadmin"}).json()
        assert admin["admin"] is True
        bad = httpx.get(f"{s.api}/whoami", headers={"X-Hub-User": "bad name!"})
        assert bad.status_code == 403 and "invalid user name" in bad.json()["error"]
        assert httpx.get(f"{s.api}/whoami").status_code == 401
        # the prefix is honoured: nothing is served outside it
        assert httpx.get(s.url.replace("/services/hai/", "/") + "api/v1/").status_code == 404


# --------------------------------------------------------------------------- submit


def test_submit_json_creates_a_waiting_chain_and_wakes_the_loop(srv: ApiServer, alice: Api):
    wakes = srv.app.loop.wakes
    resp = alice.http.post("/chains", json=SPEC)
    assert resp.status_code == 201
    chain = resp.json()
    assert resp.headers["Location"].endswith(f"/api/v1/chains/{chain['id']}")
    assert chain["state"] == "waiting_init" and chain["owner"] == "alice"
    assert chain["priority"] == "NORMAL" and chain["group"] == "gpu"  # largest group
    woken(srv, wakes)
    burst = srv.app.loop.wakes
    for i in range(5):
        alice.submit(name=f"burst-{i}")
    time.sleep(0.5)
    assert srv.app.loop.wakes - burst <= 3  # folded, not one wake per submission
    assert srv.app.loop.wakes > burst
    with srv.factory() as s:
        row = s.get(Chain, chain["id"])
        assert row.state == "waiting_init" and row.queued_at is not None
        assert row.entrypoint == "train.py" and row.owner.name == "alice"


def test_every_write_names_what_it_changed_for_the_loop(
    srv: ApiServer, alice: Api, admin: Api
) -> None:
    """The loop re-reads only what the API names (scheduler/service/queue_index.py): each
    chain written is noted by id, and quota, node and user changes as the catalog."""
    loop = srv.app.loop
    cid = alice.submit(name="noted")["id"]
    assert loop.noted_chains[-1] == cid, "a submission is noted by its id"
    assert alice.http.post(f"/chains/{cid}/stop").status_code == 200
    assert loop.noted_chains[-1] == cid, "an intent is noted by the chain's id"
    before = loop.catalog_notes
    resp = admin.http.put("/quotas/user/alice/node-gpu-NORMAL", json={"limit": 3})
    assert resp.status_code == 200 and loop.catalog_notes == before + 1
    assert admin.http.patch("/users/alice", json={"group": "lab"}).status_code == 200
    assert loop.catalog_notes == before + 2


def test_submit_yaml_text_and_envelope_with_overrides(alice: Api) -> None:
    text = "name: y1\nspec:\n  workspace: /w\n  entrypoint: run.sh\nresource:\n  node_count: 2\n"
    raw = alice.ok("POST", "/chains", content=text, headers={"Content-Type": "application/yaml"})
    assert raw["name"] == "y1" and raw["node_count"] == 2
    env = alice.ok(
        "POST",
        "/chains",
        json={"task": text, "overrides": {"name": "y2", "node_count": 3, "group": "gpu"}},
    )
    assert env["name"] == "y2" and env["node_count"] == 3 and env["group"] == "gpu"
    obj = alice.ok("POST", "/chains", json={"task": SPEC, "overrides": {"priority": "HIGH"}})
    assert obj["priority"] == "HIGH"


def test_bad_submissions_get_4xx_naming_the_field(srv: ApiServer, alice: Api) -> None:
    yaml_headers = {"Content-Type": "application/yaml"}
    alice.fail("POST", "/chains", 400, "body", content=b"{not json")
    alice.fail("POST", "/chains", 400, "body", content=b"")
    alice.fail("POST", "/chains", 400, "body", content=b"\xff\xfe", headers=yaml_headers)
    body = alice.fail("POST", "/chains", 422, "", content="name: [x\nspec: {", headers=yaml_headers)
    assert "invalid YAML" in body["error"] and body["line"]
    body = alice.fail(
        "POST",
        "/chains",
        422,
        "spec.entrypont",
        content="name: a\nspec:\n  entrypont: x\n",
        headers=yaml_headers,
    )
    assert body["line"] == 3 and "did you mean 'entrypoint'" in body["error"]
    assert "3 |   entrypont: x" in body["error"]
    alice.fail(
        "POST",
        "/chains",
        422,
        "resource.node_count",
        json={**SPEC, "resource": {"node_count": "2"}},
    )
    alice.fail("POST", "/chains", 422, "name", json={**SPEC, "name": "n" * 129})
    alice.fail(
        "POST", "/chains", 422, "resource.group", json={**SPEC, "resource": {"group": "tpu"}}
    )
    alice.fail(
        "POST",
        "/chains",
        422,
        "overrides.group",
        json={"task": SPEC, "overrides": {"group": "tpu"}},
    )
    alice.fail(
        "POST", "/chains", 422, "overrides.bogus", json={"task": SPEC, "overrides": {"bogus": 1}}
    )
    alice.fail("POST", "/chains", 400, "extra", json={"task": SPEC, "extra": 1})
    alice.fail("POST", "/chains", 400, "overrides", json={"task": SPEC, "overrides": [1]})
    alice.fail("POST", "/chains", 422, "", json=[1, 2])
    alice.fail(
        "POST", "/chains", 422, "resource.node_count", json={**SPEC, "resource": {"node_count": 5}}
    )  # group gpu has 4 nodes
    alice.fail(
        "POST",
        "/chains",
        422,
        "resource.gpus_per_node",
        json={**SPEC, "resource": {"group": "cpu", "gpus_per_node": 1}},
    )
    alice.fail("POST", "/chains?x=1", 400, "x", json=SPEC)
    huge = {
        **SPEC,
        "spec": {"entrypoint": "x", "workspace": "/w", "parameters": ["a" * 1024] * 1100},
    }
    alice.fail("POST", "/chains", 413, "body", json=huge)


def test_priority_above_quota_is_refused_at_submit(srv: ApiServer, alice: Api) -> None:
    # default_quota of the server: EXTREME_HIGH 0 nodes
    body = alice.fail("POST", "/chains", 403, "priority", json={**SPEC, "priority": "EXTREME_HIGH"})
    assert "above your quota" in body["error"]
    with srv.factory.begin() as s:
        accounts.set_quota(s, "group", "vision", "node-gpu-HIGH", 1)
        accounts.set_quota(s, "user", "alice", "node", 3)
    srv.ctx.forget_catalog()
    alice.fail(
        "POST",
        "/chains",
        403,
        "priority",
        json={**SPEC, "priority": "HIGH", "resource": {"node_count": 2}},
    )
    alice.ok("POST", "/chains", json={**SPEC, "priority": "HIGH"})
    alice.fail(
        "POST", "/chains", 403, "resource.node_count", json={**SPEC, "resource": {"node_count": 4}}
    )
    with srv.factory.begin() as s:  # a user row wins over the group's
        accounts.set_quota(s, "user", "alice", "node-gpu-HIGH", 2)
    srv.ctx.forget_catalog()
    alice.ok("POST", "/chains", json={**SPEC, "priority": "HIGH", "resource": {"node_count": 2}})


# --------------------------------------------------------------------------- read


def test_list_pages_and_filters(srv: ApiServer, alice: Api, bob: Api) -> None:
    ids = [alice.submit(name=f"exp-{i:02d}")["id"] for i in range(23)]
    alice.submit(name="other_1", resource={"group": "cpu"})
    bob.submit(name="exp-bob")
    play_loop(srv, ids[0], state="finished", rank_state="succeeded")
    page = alice.ok("GET", "/chains", params={"page_size": 10})
    assert (page["total"], page["pages"], page["page"]) == (24, 3, 1)
    assert [c["name"] for c in page["chains"]][:2] == ["other_1", "exp-22"]  # newest first
    last = alice.ok("GET", "/chains", params={"page_size": 10, "page": 3})
    assert len(last["chains"]) == 4 and last["chains"][-1]["id"] == ids[0]
    beyond = alice.ok("GET", "/chains", params={"page_size": 10, "page": 9})
    assert beyond["chains"] == [] and beyond["total"] == 24
    assert alice.ok("GET", "/chains", params={"name": "exp-0*"})["total"] == 10
    assert alice.ok("GET", "/chains", params={"name": "EXP-1?"})["total"] == 10
    assert alice.ok("GET", "/chains", params={"name": "her_"})["total"] == 1  # '_' is literal
    assert alice.ok("GET", "/chains", params={"name": "r%1"})["total"] == 0  # '%' is literal
    assert alice.ok("GET", "/chains", params={"state": "finished"})["total"] == 1
    assert alice.ok("GET", "/chains", params={"state": "waiting_init,finished"})["total"] == 24
    assert alice.ok("GET", "/chains", params={"group": "cpu"})["total"] == 1
    assert alice.ok("GET", "/chains", params={"owner": "bob"})["total"] == 0  # not an admin


def test_list_bad_parameters_name_the_parameter(alice: Api) -> None:
    body = alice.fail("GET", "/chains", 400, "page_size", params={"page_size": 51})
    assert "at most 50" in body["error"]
    alice.fail("GET", "/chains", 400, "page_size", params={"page_size": 0})
    alice.fail("GET", "/chains", 400, "page", params={"page": "two"})
    alice.fail("GET", "/chains", 400, "page", params={"page": 0})
    alice.fail("GET", "/chains", 400, "state", params={"state": "sleeping"})
    alice.fail("GET", "/chains", 422, "group", params={"group": "tpu"})
    alice.fail("GET", "/chains", 400, "sort", params={"sort": "name"})
    alice.fail("GET", "/chains", 400, "name", params={"name": "x" * 300})


def test_get_by_id_or_newest_by_name(srv: ApiServer, alice: Api) -> None:
    first = alice.submit(name="same")
    second = alice.submit(name="same")
    assert alice.ok("GET", "/chains/same")["id"] == second["id"]
    assert alice.ok("GET", f"/chains/{first['id']}")["id"] == first["id"]
    play_loop(srv, first["id"], jobs=2, nodes=("gpu-n0",), suspend_count=1)
    got = alice.ok("GET", f"/chains/{first['id']}")
    assert got["state"] == "running" and got["suspend_count"] == 1
    assert [j["seq"] for j in got["jobs"]] == [0, 1]
    assert got["jobs"][0]["stop_code"] == "preempted"
    rank = got["jobs"][1]["ranks"][0]
    assert rank["rank"] == 0 and rank["state"] == "running" and rank["node"] == "gpu-n0"
    assert rank["started_at"].endswith("Z")
    for key in (
        "created_at",
        "updated_at",
        "started_at",
        "finished_at",
        "whole_life_state",
        "reason",
        "stop_code",
        "priority",
        "node_count",
        "group",
        "suspend_count",
    ):
        assert key in got
    alice.fail("GET", "/chains/nonesuch", 404, "ref")
    alice.fail("GET", "/chains/999999", 404, "ref")


def test_describe_returns_yaml_that_resubmits(alice: Api) -> None:
    spec = {
        "name": "desc",
        "priority": "LOW",
        "spec": {
            "entrypoint": "t.py",
            "workspace": "/w",
            "parameters": ["--a", "1"],
            "environments": {"X": "1"},
        },
        "resource": {"node_count": 2},
        "options": {"tags": ["t"], "timeout": 60},
    }
    chain = alice.ok("POST", "/chains", json=spec)
    described = alice.ok("GET", f"/chains/{chain['id']}/describe")
    assert described["spec"]["resource"]["group"] == "gpu"
    again = alice.ok("POST", "/chains", json={"task": described["yaml"]})
    redescribed = alice.ok("GET", f"/chains/{again['id']}/describe")
    assert redescribed["yaml"] == described["yaml"]


def test_rank_details_for_ssh_and_prof(srv: ApiServer, alice: Api) -> None:
    chain = alice.submit(
        resource={"node_count": 2},
        spec={"entrypoint": "t.py", "workspace": "/w", "environments": {"A": "b"}},
    )
    before = alice.ok("GET", f"/chains/{chain['id']}/ranks/1")
    assert before["state"] is None and before["environment"]["RANK"] == "1"
    play_loop(srv, chain["id"], nodes=("gpu-n0", "gpu-n1"))
    detail = alice.ok("GET", f"/chains/{chain['id']}/ranks/1")
    assert detail["node"] == "gpu-n1" and detail["state"] == "running"
    assert detail["environment"]["A"] == "b" and detail["environment"]["WORLD_SIZE"] == "2"
    alice.fail("GET", f"/chains/{chain['id']}/ranks/2", 422, "rank")


# --------------------------------------------------------------------------- intents


def test_stop_records_the_intent_once_and_finished_chains_refuse(srv: ApiServer, alice: Api):
    chain = alice.submit()
    wakes = srv.app.loop.wakes
    stopped = alice.ok("POST", f"/chains/{chain['id']}/stop")
    assert stopped["stop_requested"] is True and stopped["state"] == "waiting_init"
    woken(srv, wakes)
    with srv.factory() as s:
        first = s.get(Chain, chain["id"]).stop_requested_at
    alice.ok("POST", f"/chains/{chain['id']}/stop")
    with srv.factory() as s:
        assert s.get(Chain, chain["id"]).stop_requested_at == first  # idempotent
    done = alice.submit(name="done")
    play_loop(srv, done["id"], state="finished", rank_state="succeeded")
    alice.fail("POST", f"/chains/{done['id']}/stop", 409, "ref")
    alice.fail("POST", f"/chains/{chain['id']}/stop", 400, "x", json={"x": 1})


def test_admin_suspend_holds_and_resume_releases(srv: ApiServer, alice: Api, admin: Api):
    chain = alice.submit()
    play_loop(srv, chain["id"])
    body = alice.fail("POST", f"/chains/{chain['id']}/suspend", 403, "action")
    assert "admin" in body["error"]
    alice.fail("POST", f"/chains/{chain['id']}/resume", 403, "action")
    held = admin.ok("POST", f"/chains/{chain['id']}/suspend")
    assert held["held"] is True
    with srv.factory() as s:
        row = s.get(Chain, chain["id"])
        assert row.suspend_requested_at is not None
        assert row.suspend_code == "suspended_by_admin" and row.held
        assert row.state == "running"  # the loop, not the API, changes states
    released = admin.ok("POST", f"/chains/{chain['id']}/resume")
    assert released["held"] is False


def test_priority_change_within_quota(srv: ApiServer, alice: Api, admin: Api) -> None:
    chain = alice.submit()
    changed = alice.ok("PATCH", f"/chains/{chain['id']}", json={"priority": "HIGH"})
    assert changed["priority"] == "HIGH"
    body = alice.fail(
        "PATCH", f"/chains/{chain['id']}", 403, "priority", json={"priority": "EXTREME_HIGH"}
    )
    assert "above your quota" in body["error"]
    assert admin.ok("PATCH", f"/chains/{chain['id']}", json={"priority": 6})["priority"] == (
        "EXTREME_HIGH"
    )
    alice.fail("PATCH", f"/chains/{chain['id']}", 400, "priority", json={"priority": "URGENT"})
    alice.fail("PATCH", f"/chains/{chain['id']}", 400, "priority", json={})
    alice.fail("PATCH", f"/chains/{chain['id']}", 400, "name", json={"name": "x"})
    alice.fail("PATCH", f"/chains/{chain['id']}", 400, "body", content=b"[")
    play_loop(srv, chain["id"], state="finished", rank_state="succeeded")
    alice.fail("PATCH", f"/chains/{chain['id']}", 409, "ref", json={"priority": "LOW"})


# --------------------------------------------------------------------------- logs


def test_logs_follow_across_jobs_with_an_opaque_cursor(srv: ApiServer, alice: Api) -> None:
    chain = alice.submit(resource={"node_count": 2})
    cid = chain["id"]
    empty = alice.ok("GET", f"/chains/{cid}/logs")
    assert empty["lines"] == [] and empty["done"] is False
    play_loop(srv, cid, jobs=1, nodes=("gpu-n0", "gpu-n1"))
    backend = srv.app.backend
    backend.add_log(RankKey(cid, 0, 0), "epoch 0", "epoch 1")
    backend.add_log(RankKey(cid, 0, 1), "rank one")
    page = alice.ok("GET", f"/chains/{cid}/logs")
    assert [x["text"] for x in page["lines"]] == ["epoch 0", "epoch 1"]
    assert all(x["time"] for x in page["lines"])
    assert page["eof"] is True and page["done"] is False
    cursor = page["cursor"]
    again = alice.ok("GET", f"/chains/{cid}/logs", params={"cursor": cursor})
    assert again["lines"] == [] and again["cursor"] == cursor
    one = alice.ok("GET", f"/chains/{cid}/logs", params={"rank": 1})
    assert [x["text"] for x in one["lines"]] == ["rank one"]
    # preempted and resumed: job 0 ends, job 1 starts
    with srv.factory.begin() as s:
        job0 = s.scalars(select(Job).where(Job.chain_id == cid, Job.seq == 0)).one()
        job0.ended_at = dt.datetime.now(dt.UTC)
        for r in job0.ranks:
            r.state = "stopped"
        job1 = Job(chain_id=cid, seq=1)
        s.add(job1)
        s.add_all([JobRank(job=job1, rank=r, node=f"gpu-n{r}", state="running") for r in (0, 1)])
        s.get(Chain, cid).suspend_count = 1
    backend.add_log(RankKey(cid, 0, 0), "checkpoint saved")
    backend.add_log(RankKey(cid, 1, 0), "resumed at epoch 2")
    page = alice.ok("GET", f"/chains/{cid}/logs", params={"cursor": cursor})
    texts = [x["text"] for x in page["lines"]]
    assert texts == ["checkpoint saved", "--- job 1 (resumed) ---", "resumed at epoch 2"]
    assert page["lines"][1]["marker"] is True and page["lines"][2]["job"] == 1
    cursor = page["cursor"]
    play_loop_finish(srv, cid)
    backend.add_log(RankKey(cid, 1, 0), "done")
    page = alice.ok("GET", f"/chains/{cid}/logs", params={"cursor": cursor})
    assert [x["text"] for x in page["lines"]] == ["done"] and page["done"] is True
    # small pages: max_bytes splits, the cursor continues exactly
    seen, cur = [], ""
    for _ in range(20):
        p = alice.ok("GET", f"/chains/{cid}/logs", params={"cursor": cur, "max_bytes": 8})
        seen += [x["text"] for x in p["lines"]]
        cur = p["cursor"]
        if p["done"]:
            break
    assert seen == [
        "epoch 0",
        "epoch 1",
        "checkpoint saved",
        "--- job 1 (resumed) ---",
        "resumed at epoch 2",
        "done",
    ]


def play_loop_finish(srv: ApiServer, chain_id: int) -> None:
    with srv.factory.begin() as s:
        chain = s.get(Chain, chain_id)
        chain.state = "finished"
        chain.stop_code = "succeeded"
        chain.finished_at = dt.datetime.now(dt.UTC)
        for job in chain.jobs:
            job.ended_at = job.ended_at or chain.finished_at
            for r in job.ranks:
                if r.state == "running":
                    r.state = "succeeded"


def test_logs_bad_parameters(alice: Api) -> None:
    chain = alice.submit()
    alice.fail("GET", f"/chains/{chain['id']}/logs", 400, "cursor", params={"cursor": "!!"})
    # well-formed (base64url) but not a cursor this server gave out: unprocessable
    alice.fail("GET", f"/chains/{chain['id']}/logs", 422, "cursor", params={"cursor": "LTE6MA"})
    alice.fail("GET", f"/chains/{chain['id']}/logs", 400, "rank", params={"rank": "-1"})
    alice.fail("GET", f"/chains/{chain['id']}/logs", 422, "rank", params={"rank": 3})
    alice.fail("GET", f"/chains/{chain['id']}/logs", 400, "max_bytes", params={"max_bytes": 0})
    alice.fail("GET", f"/chains/{chain['id']}/logs", 400, "tail", params={"tail": 5})


# --------------------------------------------------------------------------- nodes, whoami


def test_nodes_show_who_runs_where_without_leaking_chain_names(
    srv: ApiServer, alice: Api, bob: Api, admin: Api
) -> None:
    secret = alice.submit(name="secret-project", resource={"node_count": 2})
    play_loop(srv, secret["id"], nodes=("gpu-n0", "gpu-n1"))
    mine = bob.submit(name="bobs")
    play_loop(srv, mine["id"], nodes=("gpu-n2",))
    groups = {g["name"]: g for g in bob.ok("GET", "/nodes")["groups"]}
    gpu = groups["gpu"]
    assert (gpu["nodes"], gpu["used_nodes"], gpu["free_nodes"]) == (4, 3, 1)
    assert (gpu["gpus"], gpu["used_gpus"], gpu["free_gpus"]) == (32, 24, 8)
    used = {n["name"]: n["used_by"] for n in gpu["node_list"]}
    assert used["gpu-n0"] == [{"user": "alice", "priority": "NORMAL"}]
    assert used["gpu-n2"][0]["chain_name"] == "bobs"
    assert "secret-project" not in bob.http.get("/nodes").text
    assert "secret-project" in admin.http.get("/nodes").text
    assert groups["cpu"]["gpus"] == 0 and groups["cpu"]["free_nodes"] == 2


def test_whoami_shows_role_quotas_and_usage(srv: ApiServer, alice: Api, admin: Api) -> None:
    with srv.factory.begin() as s:
        accounts.set_quota(s, "group", "vision", "node-gpu-NORMAL", 3)
    srv.ctx.forget_catalog()
    chain = alice.submit(resource={"node_count": 2})
    play_loop(srv, chain["id"], nodes=("gpu-n0", "gpu-n1"))
    alice.submit(name="waiting")
    me = alice.ok("GET", "/whoami")
    assert (me["name"], me["role"], me["admin"], me["group"]) == ("alice", "user", False, "vision")
    assert me["quotas"]["node-gpu-NORMAL"] == 3
    assert me["quotas"]["node-gpu-EXTREME_HIGH"] == 0  # the server's default
    assert me["quotas"]["node"] is None
    assert me["usage"]["nodes_in_use"] == 2
    assert me["usage"]["by_resource"] == {"node-gpu-NORMAL": 2}
    assert me["usage"]["chains_by_state"]["running"] == 1
    assert me["usage"]["chains_by_state"]["waiting_init"] == 1
    root = admin.ok("GET", "/whoami")
    assert root["role"] == "admin" and root["usage"]["nodes_in_use"] == 0


def test_overview_counts_own_chains_or_all_for_admins(
    srv: ApiServer, alice: Api, bob: Api, admin: Api
) -> None:
    a = alice.submit()
    play_loop(srv, a["id"])
    bob.submit()
    bob_view = bob.ok("GET", "/overview")
    assert bob_view["scope"] == "own"
    assert bob_view["chains_by_state"] == {
        "waiting_init": 1,
        "running": 0,
        "suspended": 0,
        "finished": 0,
    }
    assert {g["name"]: g["used_gpus"] for g in bob_view["groups"]}["gpu"] == 8
    all_view = admin.ok("GET", "/overview")
    assert all_view["scope"] == "all" and all_view["chains_by_state"]["running"] == 1
    assert all_view["chains_by_state"]["waiting_init"] == 1


# --------------------------------------------------------------------------- isolation


def _chain_endpoints(ref: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("GET", f"/chains/{ref}", {}),
        ("PATCH", f"/chains/{ref}", {"json": {"priority": "LOW"}}),
        ("POST", f"/chains/{ref}/stop", {}),
        ("POST", f"/chains/{ref}/suspend", {}),
        ("POST", f"/chains/{ref}/resume", {}),
        ("GET", f"/chains/{ref}/describe", {}),
        ("GET", f"/chains/{ref}/logs", {}),
        ("GET", f"/chains/{ref}/ranks/0", {}),
    ]


def test_another_user_gets_404_on_every_chain_endpoint_and_nothing_leaks(
    srv: ApiServer, alice: Api, bob: Api, admin: Api
) -> None:
    chain = alice.submit(
        name="alices-secret", spec={"entrypoint": "hidden-entry.py", "workspace": "/w"}
    )
    play_loop(srv, chain["id"])
    srv.app.backend.add_log(RankKey(chain["id"], 0, 0), "private log line")
    for ref in (str(chain["id"]), "alices-secret"):
        for method, path, kw in _chain_endpoints(ref):
            resp = bob.http.request(method, path, **kw)
            assert resp.status_code == 404, (method, path, resp.status_code, resp.text)
            assert resp.json() == {
                "error": f"no chain {ref!r} (or it is not yours)",
                "field": "ref",
            }, (method, path, resp.text)
            # ... exactly like a chain that does not exist
            missing = bob.http.request(method, path.replace(ref, "999999"), **kw)
            assert missing.status_code == 404
    for path in ("/chains", "/chains?name=alices", "/overview", "/whoami", "/nodes"):
        text = bob.http.get(path).text
        assert "alices-secret" not in text and "hidden-entry" not in text, path
    assert bob.ok("GET", "/chains")["total"] == 0
    assert bob.ok("GET", "/overview")["chains_by_state"]["running"] == 0
    with srv.factory() as s:  # bob's attempts changed nothing
        row = s.get(Chain, chain["id"])
        assert row.stop_requested_at is None and not row.held and row.priority == 2
    # the owner and admins see and act on it
    for who in (alice, admin):
        assert who.ok("GET", "/chains/alices-secret")["id"] == chain["id"]
        assert "hidden-entry" in who.ok("GET", f"/chains/{chain['id']}/describe")["yaml"]
        texts = [x["text"] for x in who.ok("GET", f"/chains/{chain['id']}/logs")["lines"]]
        assert texts == ["private log line"]
    listing = admin.ok("GET", "/chains", params={"owner": "alice"})
    assert listing["total"] == 1 and listing["chains"][0]["owner"] == "alice"
    assert admin.ok("POST", f"/chains/{chain['id']}/stop")["stop_requested"] is True


# --------------------------------------------------------------------------- robustness


def test_garbage_never_gets_a_500(srv: ApiServer, alice: Api) -> None:
    chain = alice.submit()
    bodies: list[Any] = [
        b"",
        b"null",
        b"1",
        b'"x"',
        b"[]",
        b"{}",
        b"\x00\xff",
        b"{" * 5000,
        b'{"task": 5}',
        b'{"task": null}',
        b'{"name": {"a": 1}}',
        b'{"task": "a: [", "overrides": {}}',
        b'{"priority": [1]}',
    ]
    paths = [
        ("POST", "/chains"),
        ("PATCH", f"/chains/{chain['id']}"),
        ("POST", f"/chains/{chain['id']}/stop"),
    ]
    for method, path in paths:
        for body in bodies:
            for ctype in ("application/json", "application/yaml", "text/plain"):
                resp = alice.http.request(
                    method, path, content=body, headers={"Content-Type": ctype}
                )
                assert resp.status_code < 500, (method, path, body, resp.text)
                if resp.status_code >= 400:
                    assert resp.json()["error"]
    for path in (
        "/chains/%00",
        "/chains/" + "x" * 5000,
        "/chains/%E2%98%83/logs",
        "/chains/1/ranks/99999999999",
        "/chains?page=99999999999999999999",
    ):
        resp = alice.http.get(path)
        assert resp.status_code < 500, (path, resp.text)


def test_every_handler_module_has_a_docstring() -> None:
    from scheduler.service import handlers, queries, web
    from scheduler.service.handlers import base, chains, context, intents, logs, nodes, openapi
    from scheduler.service.handlers import tokens as tokens_mod
    from scheduler.service.handlers import users as users_mod
    from scheduler.service.handlers import whoami as whoami_mod

    for mod in (
        handlers,
        queries,
        web,
        base,
        chains,
        context,
        intents,
        logs,
        nodes,
        openapi,
        tokens_mod,
        users_mod,
        whoami_mod,
    ):
        assert inspect.getdoc(mod), mod.__name__


def test_users_table_untouched_by_reads(srv: ApiServer, alice: Api) -> None:
    alice.ok("GET", "/whoami")
    with srv.factory() as s:
        assert [u.name for u in s.scalars(select(User).order_by(User.name))] == ["alice"]


def test_admin_disables_a_user_and_their_tokens_stop_at_once(
    srv: ApiServer, alice: Api, bob: Api, admin: Api
) -> None:
    assert alice.ok("GET", "/whoami")["name"] == "alice"  # now remembered by the auth cache
    assert alice.ok("GET", "/users/alice")["disabled"] is False
    bob.fail("GET", "/users/alice", 404, "user")
    bob.fail("GET", "/users", 403)
    bob.fail("PATCH", "/users/alice", 403, json={"disabled": True})
    admin.fail("PATCH", "/users/alice", 400, "disabled", json={"disabled": "yes"})
    admin.fail("PATCH", "/users/alice", 400, "shell", json={"shell": "/bin/sh"})
    admin.fail("PATCH", "/users/root", 409, "disabled", json={"disabled": True})

    assert admin.ok("PATCH", "/users/alice", json={"disabled": True})["disabled"] is True
    alice.fail("GET", "/whoami", 401, "Authorization")  # the very next request
    alice.fail("POST", "/chains", 401, json=SPEC)
    assert bob.ok("GET", "/whoami")["name"] == "bob", "others are untouched"
    names = {u["name"]: u["disabled"] for u in admin.ok("GET", "/users")["users"]}
    assert names == {"alice": True, "bob": False, "root": False}

    admin.ok("PATCH", "/users/alice", json={"disabled": False})
    assert alice.ok("GET", "/whoami")["name"] == "alice"
    # flags set for a hub user the scheduler has not met yet are kept for their first call
    assert admin.ok("PATCH", "/users/erin", json={"admin": True})["admin"] is True
    admin.fail("PATCH", "/users/bad%20name", 400, "user", json={"admin": True})
    admin.fail("PATCH", "/users/erin%0A", 400, "user", json={"admin": True})  # no final newline


HOSTILE_YAML = [
    (
        "name: a\nspec: {workspace: /w, entrypoint: x}\nresource: {node_count: !!int abc}\n",
        "resource.node_count",
    ),
    (
        "name: a\nspec: {workspace: /w, entrypoint: x}\noptions: {timeout: !!float abc}\n",
        "options.timeout",
    ),
    (
        "name: a\nspec: {workspace: /w, entrypoint: x}\noptions: {tags: [!!timestamp abc]}\n",
        "options.tags[0]",
    ),
    (
        "name: a\nspec: {workspace: /w, entrypoint: x}\noptions: {timeout: " + "9" * 5000 + "}\n",
        "options.timeout",
    ),
    (
        "name: a\nspec: {workspace: /w, entrypoint: x}\noptions: {timeout: " + "9" * 400 + "}\n",
        "options.timeout",
    ),
    (
        "name: a\nspec: {workspace: /w, entrypoint: x}\n"
        "options: {whole_life_state: 9223372036854775808}\n",
        "options.whole_life_state",
    ),
    (
        "name: a\nspec: {workspace: /w, entrypoint: x}\noptions: {whole_life_state: 2147483648}\n",
        "options.whole_life_state",
    ),
    ("name: a\nspec: {workspace: work, entrypoint: x}\n", "spec.workspace"),
    ("name: a\nspec: {workspace: ../.., entrypoint: x}\n", "spec.workspace"),
    ("name: a\nspec: {entrypoint: x}\n", "spec.workspace"),
    (
        "name: a\nspec: {workspace: /w, entrypoint: x}\noptions: {watchdog_time: 60}\n",
        "options.watchdog_time",
    ),
]


@pytest.mark.parametrize(("text", "field"), HOSTILE_YAML)
def test_hostile_yaml_gets_a_422_naming_the_field(alice: Api, text: str, field: str) -> None:
    body = alice.fail(
        "POST", "/chains", 422, field, content=text, headers={"Content-Type": "application/yaml"}
    )
    assert body["error"]


def test_hostile_json_and_nul_bytes_get_4xx(alice: Api) -> None:
    raw = (
        '{"name": "a", "spec": {"workspace": "/w", "entrypoint": "x"}, "resource": {"node_count": '
        + "1" * 5000
        + "}}"
    )
    alice.fail(
        "POST", "/chains", 400, "body", content=raw, headers={"Content-Type": "application/json"}
    )
    for spec, field in (
        ({"workspace": "/w\x00x", "entrypoint": "x"}, "spec.workspace"),
        ({"workspace": "/w", "entrypoint": "x", "parameters": ["a\x00b"]}, "spec.parameters"),
        (
            {"workspace": "/w", "entrypoint": "x", "environments": {"A": "b\x00"}},
            "spec.environments",
        ),
        ({"workspace": "/w", "entrypoint": "x\x00"}, "spec.entrypoint"),
    ):
        alice.fail("POST", "/chains", 422, field, json={**SPEC, "spec": spec})
    alice.fail(
        "POST",
        "/chains",
        422,
        "options.whole_life_state",
        json={**SPEC, "options": {"whole_life_state": 2**63}},
    )
    alice.fail("GET", "/chains?name=a%00b", 400, "name")


def test_nul_bytes_in_paths_and_dev_server_names_get_4xx(alice: Api, admin: Api) -> None:
    alice.fail("GET", "/chains/a%00b", 400, "ref")
    admin.fail("GET", "/devservers/a%00b", 400, "user")
    admin.fail("PATCH", "/users/a%00b", 400, "user", json={"admin": True})
    admin.fail(
        "POST",
        "/devservers",
        422,
        "server",
        json={"user": "u", "server": "x\x00", "profile": "mig-gpu"},
    )
    admin.fail("POST", "/devservers", 422, "user", json={"user": "u" * 200, "profile": "mig-gpu"})


def test_an_oversized_body_is_refused_from_its_headers(srv: ApiServer) -> None:
    """No token and a 95 MiB Content-Length: refused before a byte of the body is sent."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(srv.api)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(
            f"POST {url.path}/chains HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {95 << 20}\r\n\r\n".encode()
        )
        answer = sock.recv(200)
    assert answer.startswith(b"HTTP/1.1 400"), answer
    try:  # a client that sends it anyway is cut off (an answer, or a reset mid-send)
        big = httpx.post(f"{srv.api}/chains", content=b"x" * (3 << 20), timeout=30)
        assert big.status_code == 400
    except httpx.TransportError:
        pass


def test_tokens_listed_issued_expired_and_revoked_at_once(
    srv: ApiServer, alice: Api, bob: Api, admin: Api
) -> None:
    mine = alice.ok("GET", "/tokens")["tokens"]
    assert [t["user"] for t in mine] == ["alice"] and "token" not in mine[0]
    made = alice.ok("POST", "/tokens", json={"note": "laptop", "expires_in_days": 30})
    assert made["note"] == "laptop" and made["expires_at"] and len(made["token"]) >= 32
    laptop = Api(srv, made["token"])
    assert laptop.ok("GET", "/whoami")["name"] == "alice"
    # others' tokens are invisible and cannot be revoked; admins see and revoke any
    bob.fail("GET", "/tokens?user=alice", 403, "user")
    bob.fail("DELETE", f"/tokens/{made['id']}", 404, "id")
    bob.fail("POST", "/tokens", 403, "user", json={"user": "alice"})
    assert {t["user"] for t in admin.ok("GET", "/tokens")["tokens"]} >= {"alice", "bob"}
    alice.fail("POST", "/tokens", 400, "expires_in_days", json={"expires_in_days": 0})
    alice.fail("POST", "/tokens", 400, "expires_in_days", json={"expires_in_days": 10**30})
    alice.fail("POST", "/tokens", 400, "note", json={"note": "x" * 300})
    # an optional body that is there must be JSON: \v or \f is not (schemathesis found it)
    for junk in (b"\x0b", b"\x0c", b" \x1c "):
        alice.fail(
            "POST",
            "/tokens",
            400,
            "body",
            content=junk,
            headers={"Content-Type": "application/json"},
        )
    assert alice.ok("POST", "/tokens", content=b" \n")["user"] == "alice"  # empty: defaults
    # revoked: refused from the very next request, though it was just remembered
    assert laptop.ok("GET", "/whoami")["name"] == "alice"
    assert laptop.http.delete(f"/tokens/{made['id']}").status_code == 204
    laptop.fail("GET", "/whoami", 401, "Authorization")
    assert alice.ok("GET", "/whoami")["name"] == "alice", "her other tokens still work"
    # an expired token is refused like an unknown one (its end is also kept with the cached
    # identity; here the 10-second cache is dropped instead of waited out)
    short = Api(srv, admin.ok("POST", "/tokens", json={"user": "bob"})["token"])
    assert short.ok("GET", "/whoami")["name"] == "bob"
    with srv.factory.begin() as s:
        from scheduler.model.orm import ApiToken, utcnow

        for row in s.scalars(select(ApiToken)):
            if row.user.name == "bob" and row.note == "":
                row.expires_at = utcnow() - dt.timedelta(seconds=1)
    srv.app.authenticator.forget_user("bob")
    short.fail("GET", "/whoami", 401, "Authorization")
    listed = admin.ok("GET", "/tokens?user=bob")["tokens"]
    assert any(t["expired"] for t in listed)
