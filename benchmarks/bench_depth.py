"""The scheduler at depth: what users feel with 100 / 10,000 / 100,000 chains queued.

For each depth D, D trivial chains (``true``) are written into a fresh database whose 8
nodes of group ``default`` are draining (and 1 node in group ``free``), a ``hai-scheduler``
(SQLite WAL, local backend) is started on it, a blocker (HIGH, 8 nodes) is submitted and
the 8 nodes are made ready: the blocker takes them, the D chains wait behind it. Then:

- idle CPU: the service's CPU time over ``--idle`` seconds with nothing changing (after
  the start-up work: the first cycle reads and walks the whole queue);
- RSS of the service;
- API submissions/s: ``--submit`` more chains from 20 concurrent clients;
- ``GET /chains`` (a page of 50, newest first) latency, p50/p99 of 200 requests;
- ``hai-cli list`` wall time (median of 7, a subprocess as a user types it);
- submit → running on the free node: 15 chains one after the other, from the service's
  own timestamps (``created_at`` → ``started_at``);
- drain: the blocker is stopped and the first ``--drain`` queued chains run through the
  8 nodes; chains/s between the 20th and the last finish (the service's timestamps).

``--compare DIR`` runs every depth a second time with ``PYTHONPATH=DIR`` (another
checkout's ``scheduler`` package, e.g. the loop before this change), interleaved.
Slurm is not installed on these machines; its column is skipped (see
``../shared/README.md`` for the recipe when it is).

    python benchmarks/bench_depth.py                       # depths 100, 10000, 100000
    python benchmarks/bench_depth.py --depths 100 10000 --compare /tmp/hai-before
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api_load import (
    Client,
    Conn,
    Service,
    parse_time,
    pct,
    start_service,
    submit_all,
    task,
    wait_state,
)
from sqlalchemy import insert

from scheduler.model import accounts
from scheduler.model.db import open_database
from scheduler.model.orm import Chain, Node, NodeGroup

NODES = [{"name": f"local-{i}", "group": "default", "gpus": 1} for i in range(8)] + [
    {"name": "free-0", "group": "free", "gpus": 1}
]
USERS = ["admin", *(f"user{i:02d}" for i in range(20))]
HOST = "127.0.0.1"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def preload(svc: Service, depth: int) -> None:
    """``depth`` waiting chains and draining nodes, written into the database before the
    service starts."""
    factory = open_database(svc.db_url)
    now = dt.datetime.now(dt.UTC)
    with factory.begin() as s:
        groups = {name: NodeGroup(name=name) for name in {n["group"] for n in NODES}}
        s.add_all(groups.values())
        for n in NODES:
            state = "draining" if n["group"] == "default" else "ready"
            s.add(Node(name=n["name"], group=groups[n["group"]], gpus=1, state=state))
        owners = [accounts.get_user(s, u).id for u in USERS[1:]]
        base = {
            "group_name": "default", "node_count": 1, "priority": 1, "entrypoint": "true",
            "parameters": [], "workspace": tempfile.gettempdir(), "environment": {},
            "options": {}, "state": "waiting_init", "queued_at": now, "created_at": now,
            "updated_at": now, "held": False, "suspend_count": 0, "reason": "",
        }  # fmt: skip
        for start in range(0, depth, 5000):
            rows = [
                {**base, "name": f"deep-{i}", "owner_id": owners[i % len(owners)]}
                for i in range(start, min(depth, start + 5000))
            ]
            s.execute(insert(Chain), rows)
    factory.kw["bind"].dispose()


async def finished_count(admin: Conn) -> int:
    _status, body = await admin.request("GET", "/api/v1/chains?state=finished&page_size=1")
    return body["total"]


async def free_node_latency(admin: Conn, rounds: int = 15) -> float:
    """p50 ms from submission to running on the free node (service timestamps)."""
    waits = []
    for i in range(rounds):
        spec = task(f"free-{i}", ["true"])
        spec["resource"]["group"] = "free"
        status, body = await admin.request("POST", "/api/v1/chains", spec)
        assert status == 201, body
        done = await wait_state(admin, body["id"], {"finished"}, 60)
        waits.append(parse_time(done["started_at"]) - parse_time(done["created_at"]))
    return statistics.median(w.total_seconds() for w in waits) * 1000


def cli_list_ms(svc: Service, env: dict[str, str], rounds: int = 7) -> float:
    exe = str(Path(sys.executable).parent / "hai-cli")
    run_env = {
        **os.environ, **env, "HAI_URL": f"http://{HOST}:{svc.port}/",
        "HAI_TOKEN": svc.tokens["user00"], "HAI_CONFIG": "/nonexistent",
    }  # fmt: skip
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        subprocess.run([exe, "list"], env=run_env, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


async def page_latency(admin: Conn, depth: int, n: int = 200) -> tuple[float, float]:
    times = []
    pages = max(1, depth // 50)
    for i in range(n):
        t0 = time.perf_counter()
        status, _ = await admin.request("GET", f"/api/v1/chains?page={1 + i % pages}&page_size=50")
        times.append(time.perf_counter() - t0)
        assert status == 200
    return pct(times, 0.5), pct(times, 0.99)


async def drain(admin: Conn, blocker: int, count: int, timeout: float) -> float:
    """Stop the blocker; chains/s between the 20th and the ``count``-th queued chain to
    finish, from the service's own ``finished_at`` (polled once a second, so the
    measurement adds little load of its own)."""
    status, body = await admin.request("POST", f"/api/v1/chains/{blocker}/stop")
    if status != 200:
        _, chain = await admin.request("GET", f"/api/v1/chains/{blocker}")
        raise SystemExit(f"the blocker could not be stopped ({status} {body}): {chain}")
    deadline = time.monotonic() + timeout
    query = "/api/v1/chains?state=finished&name=deep-*&page_size=50"
    while time.monotonic() < deadline:
        _status, page = await admin.request("GET", query + "&page=1")
        if page["total"] >= count:
            break
        await asyncio.sleep(1.0)
    else:
        return float("nan")
    ends: list[dt.datetime] = []
    for number in range(1, page["pages"] + 1):
        _status, page = await admin.request("GET", f"{query}&page={number}")
        ends += [parse_time(c["finished_at"]) for c in page["chains"]]
    ends.sort()
    return (count - 20) / (ends[count - 1] - ends[19]).total_seconds()


async def settle(pid: int, timeout: float = 180.0) -> None:
    """Wait until the service has used under 5 % of a core for 3 s in a row (longer than
    the second of quiet after which the loop refreshes every waiting chain's reason)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c0 = cpu_seconds(pid)
        await asyncio.sleep(3.0)
        if cpu_seconds(pid) - c0 < 0.15:
            return


async def measure(svc: Service, depth: int, args: argparse.Namespace, env: dict) -> dict:
    admin = Conn(HOST, svc.port, svc.tokens["admin"])
    pid = svc.proc.pid
    await settle(pid)  # the first cycles after the start read and walk the whole queue
    c0, t0 = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(args.idle)
    idle = (cpu_seconds(pid) - c0) / (time.monotonic() - t0) * 100
    out: dict[str, Any] = {"idle_cpu_pct": idle, "rss_mb": rss_mb(pid)}
    clients = [Client(i, Conn(HOST, svc.port, svc.tokens[f"user{i:02d}"])) for i in range(20)]
    out["submit_per_s"] = args.submit / await submit_all(clients, args.submit)
    out["page_p50_ms"], out["page_p99_ms"] = await page_latency(admin, depth)
    out["cli_list_ms"] = await asyncio.to_thread(cli_list_ms, svc, env)
    out["free_node_ms"] = await free_node_latency(admin)
    count = min(args.drain, depth)  # the first chains of the preloaded queue
    out["drain_per_s"] = await drain(admin, args.blocker_id, count, args.drain_timeout)
    out["rss_mb"] = max(out["rss_mb"], rss_mb(pid))
    return out


async def start_blocker(svc: Service) -> int:
    """The blocker first in line, then the draining nodes made ready: it takes them all."""
    admin = Conn(HOST, svc.port, svc.tokens["admin"])
    body = task("blocker", ["sleep", "100000"], priority="HIGH", nodes=8)
    status, made = await admin.request("POST", "/api/v1/chains", body)
    assert status == 201, made
    for n in NODES[:8]:
        status, _ = await admin.request("PATCH", f"/api/v1/nodes/{n['name']}", {"state": "ready"})
        assert status == 200
    await wait_state(admin, made["id"], {"running"}, 120)
    return made["id"]


def one_run(depth: int, args: argparse.Namespace, env: dict[str, str]) -> dict:
    work = Path(tempfile.mkdtemp(prefix="hai-bench-depth-"))
    svc = start_service(work, USERS, NODES, env, before_launch=lambda s: preload(s, depth))
    try:
        args.blocker_id = asyncio.run(start_blocker(svc))
        return asyncio.run(measure(svc, depth, args, env))
    finally:
        svc.stop()
        subprocess.run(["pkill", "-f", "sleep 100000"], check=False)
        shutil.rmtree(work, ignore_errors=True)


ROWS = [
    ("idle_cpu_pct", "idle CPU, % of a core", "{:.1f}"),
    ("rss_mb", "service RSS, MB", "{:.0f}"),
    ("submit_per_s", "API submissions/s (20 clients)", "{:.0f}"),
    ("page_p50_ms", "GET /chains page p50, ms", "{:.1f}"),
    ("page_p99_ms", "GET /chains page p99, ms", "{:.1f}"),
    ("cli_list_ms", "hai-cli list, ms (median)", "{:.0f}"),
    ("free_node_ms", "submit → running on a free node p50, ms", "{:.0f}"),
    ("drain_per_s", "drain, chains/s (8 nodes)", "{:.0f}"),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--depths", type=int, nargs="+", default=[100, 10_000, 100_000])
    ap.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU sampling")
    ap.add_argument("--submit", type=int, default=1000)
    ap.add_argument("--drain", type=int, default=300)
    ap.add_argument("--drain-timeout", type=float, default=300.0)
    ap.add_argument("--compare", type=Path, help="another checkout's source folder")
    args = ap.parse_args()
    variants = {"this": {}}
    if args.compare:
        variants["compare"] = {"PYTHONPATH": str(args.compare.resolve())}
    print(f"hai-scheduler, SQLite WAL, local backend; {os.cpu_count()} cores shared with the "
          "load generator. Slurm: not installed here, column skipped.")  # fmt: skip
    results: dict[tuple[str, int], dict] = {}
    for depth in args.depths:
        for name, env in variants.items():
            results[name, depth] = one_run(depth, args, env)
            print(f"  ran {name} at depth {depth}: {results[name, depth]}", flush=True)
    head = "".join(f"{f'{n} @ {d:,}':>22}" for d in args.depths for n in variants)
    print(f"\n{'':44}{head}")
    for key, label, fmt in ROWS:
        cells = "".join(
            f"{fmt.format(results[n, d][key]):>22}" for d in args.depths for n in variants
        )
        print(f"{label:44}{cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
