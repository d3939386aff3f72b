"""The scheduler's Prometheus endpoint, scraped over HTTP from real services.

* a real ``hai-scheduler`` (loop + local backend, ranks are processes) runs two chains
  through start, preemption (suspend), resume and finish; every scrape is parsed with
  ``prometheus_client``'s parser and checked series by series, the series table of
  docs/usage.md and every metric the Grafana dashboard queries included;
* who may scrape: an admin's token by default, anyone with
  ``SchedulerMetrics.authenticate_prometheus = False``;
* the state collector against SQLite and PostgreSQL with an injected clock (queue ages,
  lease expiry, occupancy by band);
* the API's latency histogram keeps its labels bounded (route = OpenAPI path);
* the real hub: JupyterHub's own ``/hub/metrics`` still answers, and the scheduler's
  through the hub's proxy with a hub admin's token.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from scheduler.model import accounts
from scheduler.model.db import open_database
from scheduler.model.enums import ChainState, Priority, RankState, StopCode
from scheduler.model.orm import Chain, DevServer, Job, JobRank
from scheduler.service.metrics_state import StateCollector, priority_band
from tests.sched_harness import TOY
from tests.service_helpers import add_nodes, api_server, scheduler_process, wait_for

REPO = Path(__file__).resolve().parents[1]
USAGE = REPO / "docs" / "usage.md"
DASHBOARD = REPO / "helm" / "hai-hub" / "dashboards" / "hai-hub.json"

CONFIG = """\
c.SchedulerApp.tick_seconds = 0.2
c.LocalBackend.nodes = [{"name": "g0", "group": "gpu", "gpus": 2}]
"""

Samples = dict[tuple[str, frozenset], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape: (name, labels) -> value."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def types(text: str) -> dict[str, str]:
    """Every series a scrape declares, as documented (counters with ``_total``) -> type."""
    out = {}
    for family in text_string_to_metric_families(text):
        suffix = "_total" if family.type == "counter" else ""
        out[family.name + suffix] = family.type
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    assert key in samples, f"no sample {name}{labels}"
    return samples[key]


def get_metrics(url: str, token: str | None) -> str:
    headers = {"Authorization": f"token {token}"} if token else {}
    resp = httpx.get(url + "api/v1/metrics", headers=headers, timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    return resp.text


def scrape(url: str, token: str | None) -> Samples:
    return parse(get_metrics(url, token))


def documented_series() -> dict[str, str]:
    """The series table of docs/usage.md's Metrics section: name -> type."""
    text = USAGE.read_text()
    section = text[text.index("## Metrics for operators") :]
    rows = re.findall(r"^\| `([a-z_]+)` \| (\w+) \|", section, flags=re.M)
    assert len(rows) >= 15, rows
    return dict(rows)


def dashboard_metrics() -> set[str]:
    """Every metric name a PromQL expression of the Grafana dashboard uses."""
    board = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]
            exprs.append(query["query"] if isinstance(query, dict) else query)
    assert len(exprs) >= 10
    names = set()
    for expr in exprs:
        names |= set(re.findall(r"\b((?:hai|process)_[a-z0-9_]+)\b", expr))
    return names


class Chains:
    """Submit and follow chains through the API as one user."""

    def __init__(self, url: str, token: str, workspace: Path) -> None:
        self.http = httpx.Client(
            base_url=url + "api/v1", headers={"Authorization": f"token {token}"}, timeout=30
        )
        self.workspace = workspace

    def submit(self, name: str, steps: int, priority: str) -> int:
        body = {
            "name": name,
            "priority": priority,
            "spec": {
                "entrypoint": TOY,
                "parameters": [str(steps), "0.05", str(self.workspace / f"{name}.result")],
                "workspace": str(self.workspace),
            },
            "resource": {"group": "gpu", "node_count": 1},
        }
        resp = self.http.post("/chains", json=body)
        assert resp.status_code == 201, resp.text
        return resp.json()["id"]

    def state(self, chain_id: int) -> str:
        return self.http.get(f"/chains/{chain_id}").json()["state"]

    def wait(self, chain_id: int, state: str, timeout: float = 60) -> None:
        wait_for(lambda: self.state(chain_id) == state, timeout, f"chain {chain_id} {state}")


@pytest.mark.slow
def test_a_real_scheduler_reports_starts_preemption_resume_and_finishes(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    with scheduler_process(tmp_path, config=CONFIG) as svc:
        admin = svc.tokens["admin"]
        alice = Chains(svc.url, svc.tokens["alice"], work)
        low = alice.submit("low", 80, "NORMAL")
        alice.wait(low, "running")
        gpu = alice.http.get(f"/chains/{low}/ranks/0").json()["gpu"]  # simulated GPUs
        assert gpu["available"] is False and gpu["reason"].startswith("no GPU data"), gpu
        m = scrape(svc.url, admin)
        assert value(m, "hai_chains", state="running", priority="NORMAL") == 1
        assert value(m, "hai_chain_starts_total", kind="first") == 1
        assert value(m, "hai_gpus_in_use", group="gpu", band="normal") == 2
        assert value(m, "hai_nodes_in_use", group="gpu", band="normal") == 1
        assert value(m, "hai_gpus", group="gpu", state="ready") == 2
        assert value(m, "hai_queue_depth", group="gpu") == 0

        high = alice.submit("high", 60, "HIGH")  # takes the only node: `low` is preempted
        alice.wait(low, "suspended")
        alice.wait(high, "running")
        m = scrape(svc.url, admin)
        assert value(m, "hai_scheduler_preemptions_total", victim="chain") == 1
        assert value(m, "hai_chain_suspends_total") == 1
        assert value(m, "hai_jobs_ended_total", stop_code="preempted") == 1
        assert value(m, "hai_chains", state="suspended", priority="NORMAL") == 1
        assert value(m, "hai_chains", state="running", priority="HIGH") == 1
        assert value(m, "hai_gpus_in_use", group="gpu", band="high") == 2
        assert value(m, "hai_queue_depth", group="gpu") == 1
        assert 0 < value(m, "hai_queue_oldest_age_seconds", group="gpu") < 60

        alice.wait(high, "finished")
        alice.wait(low, "finished")
        text = get_metrics(svc.url, admin)
        m = parse(text)
        assert value(m, "hai_chain_starts_total", kind="first") == 2
        assert value(m, "hai_chain_starts_total", kind="resume") == 1
        assert value(m, "hai_chain_finishes_total", stop_code="succeeded") == 2
        assert value(m, "hai_jobs_ended_total", stop_code="succeeded") == 2
        assert value(m, "hai_chains", state="finished", priority="NORMAL") == 1
        assert value(m, "hai_chains", state="running", priority="NORMAL") == 0
        assert value(m, "hai_gpus_in_use", group="gpu", band="normal") == 0
        assert value(m, "hai_queue_depth", group="gpu") == 0
        assert value(m, "hai_queue_oldest_age_seconds", group="gpu") == 0
        assert value(m, "hai_scheduler_database_up") == 1
        assert value(m, "hai_scheduler_cycle_duration_seconds_count") > 10
        assert value(m, "hai_scheduler_cycle_failures_total") == 0
        assert value(m, "hai_scheduler_last_cycle_timestamp_seconds") > 1.7e9
        posts = dict(route="/chains", method="POST", code="201")
        assert value(m, "hai_api_request_duration_seconds_count", **posts) == 2
        gets = dict(route="/chains/{ref}", method="GET", code="200")
        assert value(m, "hai_api_request_duration_seconds_count", **gets) >= 4
        assert value(m, "hai_devservers", profile="spot", state="active") == 0
        declared = types(text)
        for series, kind in documented_series().items():
            assert declared.get(series) == kind, f"docs/usage.md: {series} ({kind})"
        samples = {name for name, _ in m} | set(declared)  # a family may have no sample yet
        for series in dashboard_metrics():
            assert series in samples, f"the dashboard queries {series}, the scrape lacks it"


@pytest.mark.slow
def test_only_admins_scrape_unless_authentication_is_off(tmp_path: Path) -> None:
    with scheduler_process(tmp_path / "on") as svc:
        url = svc.url + "api/v1/metrics"
        assert httpx.get(url).status_code == 401
        user = httpx.get(url, headers={"Authorization": f"token {svc.tokens['alice']}"})
        assert user.status_code == 403 and "admins" in user.json()["error"]
        scrape(svc.url, svc.tokens["admin"])
    off = ["--SchedulerMetrics.authenticate_prometheus=False"]
    with scheduler_process(tmp_path / "off", args=off) as svc:
        m = scrape(svc.url, None)
        assert value(m, "hai_scheduler_database_up") == 1


def test_openmetrics_when_prometheus_asks_for_it(db_url: str) -> None:
    with api_server(db_url) as srv:
        token = srv.user("root", admin=True)
        resp = httpx.get(
            srv.api + "/metrics",
            headers={
                "Authorization": f"token {token}",
                "Accept": "application/openmetrics-text; version=1.0.0",
            },
        )
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("application/openmetrics-text")
        assert resp.text.rstrip().endswith("# EOF")


def test_request_labels_stay_bounded(db_url: str) -> None:
    with api_server(db_url) as srv:
        token = srv.user("root", admin=True)
        auth = {"Authorization": f"token {token}"}
        for ref in ("1", "2", "some-name"):  # three URLs, one route
            httpx.get(f"{srv.api}/chains/{ref}", headers=auth)
        httpx.get(f"{srv.api}/no/such/{ref}", headers=auth)
        httpx.request("BREW", f"{srv.api}/chains", headers=auth)
        m = scrape(srv.url, token)
        chain = dict(route="/chains/{ref}", method="GET", code="404")
        assert value(m, "hai_api_request_duration_seconds_count", **chain) == 3
        other = dict(route="unmatched", method="GET", code="404")
        assert value(m, "hai_api_request_duration_seconds_count", **other) == 1
        brew = dict(route="/chains", method="other", code="405")
        assert value(m, "hai_api_request_duration_seconds_count", **brew) == 1
        routes = {dict(k[1]).get("route") for k in m if k[0].startswith("hai_api_request")}
        assert routes <= {"/chains/{ref}", "unmatched", "/chains", "/metrics", None}


# --------------------------------------------------------------------------- the collector

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def factory(db_url: str) -> Iterator[Any]:
    f = open_database(db_url)
    yield f
    f.kw["bind"].dispose()


def _chain(s: Any, owner: Any, name: str, priority: Priority, **kw: Any) -> Chain:
    chain = Chain(
        name=name,
        owner=owner,
        group_name=kw.pop("group", "gpu"),
        priority=int(priority),
        entrypoint="x.py",
        queued_at=kw.pop("queued_at", T0),
        **kw,
    )
    s.add(chain)
    return chain


def _job(chain: Chain, seq: int, node: str, state: RankState, **kw: Any) -> Job:
    job = Job(seq=seq, created_at=T0, **kw)
    job.ranks.append(JobRank(rank=0, node=node, state=state.value))
    chain.jobs.append(job)
    return job


def collect(factory: Any, now: dt.datetime) -> Samples:
    out: Samples = {}
    for family in StateCollector(factory, clock=now.timestamp).collect():
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def test_the_collector_reads_queue_ages_occupancy_and_leases(factory: Any) -> None:
    add_nodes(factory, "gpu", 3, gpus=8)
    add_nodes(factory, "jupyter", 1, gpus=4)
    with factory.begin() as s:
        alice = accounts.create_user(s, "alice")
        _chain(s, alice, "waits", Priority.NORMAL, queued_at=T0 - dt.timedelta(seconds=30))
        _chain(s, alice, "held", Priority.NORMAL, queued_at=T0 - dt.timedelta(hours=9), held=True)
        # queued 2 h ago, ran, was suspended 90 s ago: it has waited 90 s, not 2 h
        susp = _chain(
            s,
            alice,
            "suspended",
            Priority.LOW,
            state=ChainState.SUSPENDED.value,
            queued_at=T0 - dt.timedelta(hours=2),
            suspend_count=1,
        )
        _job(
            susp,
            0,
            "gpu-n2",
            RankState.STOPPED,
            stop_code=StopCode.PREEMPTED.value,
            ended_at=T0 - dt.timedelta(seconds=90),
        )
        running = _chain(s, alice, "runs", Priority.VERY_HIGH, state=ChainState.RUNNING.value)
        _job(running, 0, "gpu-n0", RankState.RUNNING)
        done = _chain(
            s, alice, "done", Priority.NORMAL, state="finished", stop_code=StopCode.TIMEOUT.value
        )
        _job(done, 0, "gpu-n1", RankState.STOPPED, stop_code="timeout", ended_at=T0)
        soon = T0 + dt.timedelta(seconds=1)
        mig = {"profile": "mig-gpu", "node": "jupyter-n0"}
        s.add(DevServer(user_name="a", gpu_ids=["0"], lease_expires_at=soon, **mig))
        s.add(DevServer(user_name="b", gpu_ids=["1"], **mig))
        s.add(DevServer(user_name="c", profile="spot", node="gpu-n1", reclaim_requested_at=T0))
    m = collect(factory, T0)
    assert value(m, "hai_queue_depth", group="gpu") == 2  # the held chain is not queued
    assert value(m, "hai_queue_oldest_age_seconds", group="gpu") == 90
    assert value(m, "hai_queue_depth", group="jupyter") == 0
    assert value(m, "hai_chains", state="waiting_init", priority="NORMAL") == 2
    assert value(m, "hai_chain_starts_total", kind="first") == 3
    assert value(m, "hai_chain_suspends_total") == 1
    assert value(m, "hai_jobs_ended_total", stop_code="preempted") == 1
    assert value(m, "hai_chain_finishes_total", stop_code="timeout") == 1
    assert value(m, "hai_gpus_in_use", group="gpu", band="high") == 8
    assert value(m, "hai_gpus_in_use", group="gpu", band="devserver") == 8  # spot: whole node
    assert value(m, "hai_gpus_in_use", group="jupyter", band="devserver") == 2  # two slices
    assert value(m, "hai_nodes_in_use", group="jupyter", band="devserver") == 1
    assert value(m, "hai_gpus_in_use", group="gpu", band="low") == 0  # suspended: no node
    assert value(m, "hai_gpus", group="gpu", state="ready") == 24
    assert value(m, "hai_devservers", profile="mig-gpu", state="active") == 2
    assert value(m, "hai_devservers", profile="spot", state="reclaiming") == 1
    later = collect(factory, T0 + dt.timedelta(seconds=10))
    assert value(later, "hai_queue_oldest_age_seconds", group="gpu") == 100
    assert value(later, "hai_devservers", profile="mig-gpu", state="expired") == 1


def test_a_scrape_without_its_database_says_so(tmp_path: Path) -> None:
    factory = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    (tmp_path / "db.sqlite").unlink()
    (tmp_path / "db.sqlite").mkdir()  # a folder where the database was: every query fails
    factory.kw["bind"].dispose()
    m = collect(factory, T0)
    assert m == {("hai_scheduler_database_up", frozenset()): 0}


def test_priority_bands_cover_every_priority() -> None:
    bands = {p.name: priority_band(p) for p in Priority}
    assert bands == {
        "LOW": "low",
        "BELOW_NORMAL": "low",
        "NORMAL": "normal",
        "ABOVE_NORMAL": "normal",
        "HIGH": "high",
        "VERY_HIGH": "high",
        "EXTREME_HIGH": "high",
    }


# --------------------------------------------------------------------------- the hub


@pytest.mark.slow
def test_the_hub_keeps_its_own_metrics_and_proxies_the_schedulers(tmp_path: Path) -> None:
    from tests.hub_helpers import running_hub

    with running_hub(tmp_path) as hub:
        assert httpx.get(hub.url + "/hub/metrics").status_code == 403
        admin = {"Authorization": f"token {hub.user_token(hub.admin_name)}"}
        own = httpx.get(hub.url + "/hub/metrics", headers=admin)
        assert own.status_code == 200
        assert "jupyterhub_" in own.text and "hai_" not in own.text
        theirs = httpx.get(hub.scheduler_url + "api/v1/metrics", headers=admin, timeout=30)
        assert theirs.status_code == 200, theirs.text
        m = parse(theirs.text)
        assert value(m, "hai_scheduler_database_up") == 1
        assert value(m, "hai_nodes", group="default", state="ready") == 1
        user = {"Authorization": f"token {hub.user_token('carol')}"}
        refused = httpx.get(hub.scheduler_url + "api/v1/metrics", headers=user, timeout=30)
        assert refused.status_code == 403
