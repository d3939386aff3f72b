"""``GET /usage`` and ``hai-cli usage`` / ``whoami`` against the API served in-process,
on SQLite and PostgreSQL. Tests play the loop (rank rows with chosen times) and set the
service's clock, so the expected hours are exact.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler.model.orm import Chain, DevServer, Job, JobRank, User
from tests.service_helpers import ApiServer, add_nodes, api_server, init_cli
from tests.test_api import Api

NOW = dt.datetime(2026, 12, 10, 12, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


@pytest.fixture
def srv(db_url: str) -> Iterator[ApiServer]:
    with api_server(db_url) as server:
        add_nodes(server.factory, "gpu", 2, gpus=8)
        add_nodes(server.factory, "jupyter", 1, gpus=4)
        server.app.loop.clock = NOW.timestamp
        yield server


@pytest.fixture
def alice(srv: ApiServer) -> Api:
    return Api(srv, srv.user("alice", group="vision"))


@pytest.fixture
def bob(srv: ApiServer) -> Api:
    return Api(srv, srv.user("bob", group="nlp"))


@pytest.fixture
def admin(srv: ApiServer) -> Api:
    return Api(srv, srv.user("root", admin=True))


def ran(
    srv: ApiServer,
    user: str,
    start: dt.datetime,
    end: dt.datetime | None,
    *,
    priority: int = 2,
    gpus: int | None = None,
    node: str = "gpu-n0",
) -> None:
    """Play the loop: ``user`` ran one rank on ``node`` from ``start`` to ``end``
    (None: still running)."""
    with srv.factory.begin() as s:
        owner = s.query(User).filter_by(name=user).one()
        chain = Chain(
            name="t",
            owner=owner,
            group_name="gpu",
            entrypoint="x",
            priority=priority,
            gpus_per_node=gpus,
            state="finished" if end else "running",
        )
        job = Job(seq=0, created_at=start, ended_at=end)
        chain.jobs.append(job)
        job.ranks.append(
            JobRank(
                rank=0,
                node=node,
                state="succeeded" if end else "running",
                started_at=start,
                ended_at=end,
            )
        )
        s.add(chain)


@pytest.fixture
def history(srv: ApiServer, alice: Api, bob: Api) -> None:
    ran(srv, "alice", NOW - 30 * H, NOW - 28 * H)  # 2 h x 8 GPUs, yesterday
    ran(srv, "alice", NOW - 2 * H, None, gpus=2, priority=4)  # running: 2 h x 2 GPUs
    ran(srv, "bob", NOW - 5 * H, NOW - 4 * H, node="gpu-n1")  # 1 h x 8 GPUs
    with srv.factory.begin() as s:
        s.add(
            DevServer(
                user_name="bob",
                profile="mig-gpu",
                node="jupyter-n0",
                gpu_ids=["mig-0"],
                created_at=NOW - 3 * H,
            )
        )


def rows(body: dict) -> list[tuple]:
    return [tuple(r.values()) for r in body["rows"]]


def test_a_user_sees_their_own_rows_and_the_cluster_total(history, alice: Api, bob: Api):
    mine = alice.ok("GET", "/usage")
    assert mine["scope"] == "own"
    assert rows(mine) == [("alice", 20.0, 4.0)]
    assert mine["cluster"] == {"gpu_hours": 31.0, "node_hours": 5.0}
    assert rows(bob.ok("GET", "/usage", params={"by": "user,profile"})) == [
        ("bob", None, 8.0, 1.0),
        ("bob", "mig-gpu", 3.0, 0.0),
    ]
    alice.fail("GET", "/usage", 403, "user", params={"user": "bob"})
    assert rows(alice.ok("GET", "/usage", params={"user": "alice", "by": "priority"})) == [
        ("NORMAL", 16.0, 2.0),  # lowest priority first
        ("HIGH", 4.0, 2.0),
    ]


def test_by_day_also_gives_the_clusters_hours_per_day(history, alice: Api):
    """What the usage charts draw: my days against the cluster's (everyone, every kind)."""
    mine = alice.ok("GET", "/usage", params={"by": "day", "since": "7d"})
    assert rows(mine) == [("2026-12-09", 16.0, 2.0), ("2026-12-10", 4.0, 2.0)]
    assert mine["cluster_days"] == [
        {"day": "2026-12-09", "gpu_hours": 16.0, "node_hours": 2.0},
        {"day": "2026-12-10", "gpu_hours": 15.0, "node_hours": 3.0},
    ]
    assert mine["cluster"] == {"gpu_hours": 31.0, "node_hours": 5.0}
    assert "cluster_days" not in alice.ok("GET", "/usage")


def test_an_admin_sees_everyone_by_any_dimension(history, admin: Api):
    assert rows(admin.ok("GET", "/usage")) == [("alice", 20.0, 4.0), ("bob", 11.0, 1.0)]
    assert rows(admin.ok("GET", "/usage", params={"by": "group,kind"})) == [
        ("nlp", "devserver", 3.0, 0.0),
        ("nlp", "training", 8.0, 1.0),
        ("vision", "training", 20.0, 4.0),
    ]
    by_day = admin.ok("GET", "/usage", params={"by": "day", "kind": "training"})
    assert rows(by_day) == [("2026-12-09", 16.0, 2.0), ("2026-12-10", 12.0, 3.0)]
    today = admin.ok("GET", "/usage", params={"since": "2026-12-10", "node_group": "gpu"})
    assert today["since"] == "2026-12-10T00:00:00+00:00"
    assert today["until"] == NOW.isoformat()
    assert today["total"] == {"gpu_hours": 12.0, "node_hours": 3.0}
    window = admin.ok(
        "GET", "/usage", params={"since": "2026-12-09T06:30:00Z", "until": "2026-12-09T08:10"}
    )  # whole hours: 06:00 to 09:00 holds alice's 06:00-08:00
    assert rows(window) == [("alice", 16.0, 2.0)]
    assert admin.ok("GET", "/usage", params={"since": "3h", "priority": "HIGH"})["total"] == {
        "gpu_hours": 4.0,
        "node_hours": 2.0,
    }


def test_whoami_shows_gpu_hours_today_7_and_30_days(history, alice: Api):
    recent = alice.ok("GET", "/whoami")["usage"]["gpu_hours"]
    assert recent["today"] == {
        "gpu_hours": 4.0,
        "node_hours": 2.0,
        "cluster_gpu_hours": 15.0,
        "share": round(4 / 15, 4),
    }
    assert recent["7d"]["gpu_hours"] == recent["30d"]["gpu_hours"] == 20.0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"by": "owner"}, "by"),
        ({"by": "user,"}, "by"),
        ({"by": "user," * 20 + "day"}, "by"),
        ({"priority": "low"}, "priority"),
        ({"priority": "7"}, "priority"),
        ({"kind": "batch"}, "kind"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-12-01T10:00:00" + "0" * 40}, "until"),
        ({"user": "a" * 129}, "user"),
        ({"node_group": "gpu\x00"}, "node_group"),
        ({"owner": "alice"}, "owner"),
    ],
)
def test_malformed_parameters_get_400_naming_them(admin: Api, params: dict, field: str):
    admin.fail("GET", "/usage", 400, field, params=params)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2026-02-31"}, "since"),
        ({"until": "2026-13-01"}, "until"),
        ({"since": "1999-12-31"}, "since"),
        ({"until": "2300-01-01"}, "until"),
        ({"since": "2025-01-01", "until": "2026-12-01"}, "since"),
        ({"since": "400d"}, "since"),
        ({"since": "2026-12-10T13:00Z"}, "since"),
    ],
)
def test_well_formed_but_unacceptable_windows_get_422(admin: Api, params: dict, field: str):
    admin.fail("GET", "/usage", 422, field, params=params)


# --------------------------------------------------------------------------- hai-cli


def run_cli(home: Path, *args: str, columns: str = "200") -> str:
    from click.testing import CliRunner

    from hai_client.cli import cli

    res = CliRunner().invoke(cli, list(args), env={"HOME": str(home), "COLUMNS": columns})
    assert res.exit_code == 0, res.output
    return res.output


@pytest.fixture
def home(srv: ApiServer, history, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    init_cli(home, srv.url, srv.user("root", admin=True))
    return home


def test_cli_usage_table_json_and_csv(home: Path):
    table = run_cli(home, "usage", "--by", "user,kind")
    lines = [ln.split() for ln in table.splitlines() if ln.strip()]
    assert ["alice", "training", "20.00", "4.00"] in lines
    assert ["bob", "devserver", "3.00", "0.00"] in lines
    assert ["total", "31.00", "5.00"] in lines and ["cluster", "31.00", "5.00"] in lines
    data = json.loads(run_cli(home, "usage", "--json", "--since", "7d", "--kind", "training"))
    assert data["total"] == {"gpu_hours": 28.0, "node_hours": 5.0}
    text = run_cli(home, "usage", "--csv", "--by", "day,user")
    assert list(csv.reader(io.StringIO(text))) == [
        ["day", "user", "gpu_hours", "node_hours"],
        ["2026-12-09", "alice", "16.0", "2.0"],
        ["2026-12-10", "alice", "4.0", "2.0"],
        ["2026-12-10", "bob", "11.0", "1.0"],
    ]


def test_cli_usage_keeps_one_row_per_line_when_piped(home: Path):
    # no COLUMNS and not a terminal: as wide as the longest row
    out = run_cli(home, "usage", "--by", "user,group,node_group,priority,profile,kind", columns="")
    body = [ln for ln in out.splitlines() if "alice" in ln or "bob" in ln]
    assert len(body) == 4 and all(len(ln.split()) == 8 for ln in body), out


def test_cli_whoami_shows_gpu_hours(srv: ApiServer, history, tmp_path: Path):
    home = tmp_path / "alice-home"
    init_cli(home, srv.url, srv.user("alice"))
    out = run_cli(home, "whoami")
    lines = [ln.split() for ln in out.splitlines()]
    assert "GPU-hours" in out
    assert ["today", "4.00", "2.00", "15.00", "26.7%"] in lines
    assert ["30d", "20.00", "4.00", "31.00", "64.5%"] in lines
