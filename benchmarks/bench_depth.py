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

Slurm, side by side (column ``slurm``; skipped, saying so, when it is not installed or
with ``--no-slurm``): after our run at each depth, a private single-node Slurm
(``slurm.py``: munged, slurmctld, slurmd in a temp dir) with 9 CPUs: 8 in partition
``batch`` (our 8 ``default`` nodes) and 1 that only partition ``free`` may use (our free
node; ``PriorityTier=2`` so Slurm considers it first, as our groups are scheduled apart --
without it a pending ``batch`` job holds the shared node and a ``free`` job waits ~25 s
for backfill). A blocker (``sleep``, 8 CPUs) takes ``batch``, then D jobs
(``sbatch --wrap=true -o /dev/null``) queue behind it: one ``sbatch`` each, 4 at a time,
or, from ``--slurm-array-from`` jobs on (default 20,000: 100,000 ``sbatch`` calls take
~8 min here), one ``sbatch --array=0-(D-1)``: Slurm keeps a pending array as one record
until its tasks start, so the idle CPU and ``squeue`` at that depth are those of one
array, not of D jobs (the legend says which depths). Then: idle CPU and RSS of
slurmctld + slurmd (same ``--idle`` window, after the same settle; slurmctld's backfill
runs every 30 s, so a 10 s window may miss one: use ``--idle 60``); submissions/s:
``--submit`` more jobs, ``sbatch`` 4 at a time (a process each; ours: 20 API clients);
``squeue`` wall (every job; the ``hai-cli list`` row); submit → running on the free CPU:
15 jobs one after the other, from just before ``sbatch`` to the job's own
``date +%s.%N``; drain: the blocker is cancelled and the first ``--drain`` queued jobs
run through the 8 CPUs, jobs/s between the 20th and the last completion (observed in
slurmctld's ``jobcomp/filetxt`` file, polled every 20 ms). ``GET /chains`` has no Slurm
counterpart (``-``).

    python benchmarks/bench_depth.py                       # depths 100, 10000, 100000
    python benchmarks/bench_depth.py --depths 100 10000 --compare /tmp/hai-before
    python benchmarks/bench_depth.py --depths 100 10000 --no-slurm
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
from slurm import SlurmCluster, available, cpu_seconds, rss_mb
from sqlalchemy import insert

from scheduler.model import accounts
from scheduler.model.db import open_database
from scheduler.model.orm import Chain, Node, NodeGroup

NODES = [{"name": f"local-{i}", "group": "default", "gpus": 1} for i in range(8)] + [
    {"name": "free-0", "group": "free", "gpus": 1}
]
USERS = ["admin", *(f"user{i:02d}" for i in range(20))]
HOST = "127.0.0.1"


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


def settle(cpu: Callable[[], float], timeout: float = 180.0) -> None:
    """Wait until ``cpu()`` (CPU seconds so far) grew by under 5 % of a core for 3 s in a
    row (longer than the second of quiet after which our loop refreshes every waiting
    chain's reason)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c0 = cpu()
        time.sleep(3.0)
        if cpu() - c0 < 0.15:
            return


def idle_cpu_pct(cpu: Callable[[], float], seconds: float) -> float:
    """``cpu()``'s growth over ``seconds`` of waiting, in % of one core."""
    c0, t0 = cpu(), time.monotonic()
    time.sleep(seconds)
    return (cpu() - c0) / (time.monotonic() - t0) * 100


async def measure(svc: Service, depth: int, args: argparse.Namespace, env: dict) -> dict:
    admin = Conn(HOST, svc.port, svc.tokens["admin"])
    pid = svc.proc.pid
    cpu = lambda: cpu_seconds(pid)  # noqa: E731
    await asyncio.to_thread(settle, cpu)  # the first cycles read and walk the whole queue
    idle = await asyncio.to_thread(idle_cpu_pct, cpu, args.idle)
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


def blocker_argv() -> list[str]:
    """``sleep 100000.<our pid>``: an argv no other process on the machine has."""
    return ["sleep", f"100000.{os.getpid()}"]


def kill_argv(argv: list[str]) -> None:
    """SIGKILL, by pid, every process whose command line is exactly ``argv``."""
    wanted = "\0".join(argv).encode() + b"\0"
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes() == wanted:
                    os.kill(int(entry.name), signal.SIGKILL)
            except OSError:
                continue


async def start_blocker(svc: Service) -> int:
    """The blocker first in line, then the draining nodes made ready: it takes them all."""
    admin = Conn(HOST, svc.port, svc.tokens["admin"])
    body = task("blocker", blocker_argv(), priority="HIGH", nodes=8)
    status, made = await admin.request("POST", "/api/v1/chains", body)
    assert status == 201, made
    for n in NODES[:8]:
        status, _ = await admin.request("PATCH", f"/api/v1/nodes/{n['name']}", {"state": "ready"})
        assert status == 200
    await wait_state(admin, made["id"], {"running"}, 120)
    return made["id"]


def one_run(depth: int, args: argparse.Namespace, env: dict[str, str], root: Path) -> dict:
    """One service at ``depth``, measured. Its folder under ``root`` is kept until every
    run has ended: deleting a run's tens of thousands of files just before the next run
    would slow every file the next one creates (ext4 skips recently freed inodes when it
    allocates one), which a running service, which deletes nothing, never meets."""
    work = Path(tempfile.mkdtemp(prefix=f"depth-{depth}-", dir=root))
    svc = start_service(work, USERS, NODES, env, before_launch=lambda s: preload(s, depth))
    try:
        args.blocker_id = asyncio.run(start_blocker(svc))
        return asyncio.run(measure(svc, depth, args, env))
    finally:
        svc.stop()
        kill_argv(blocker_argv())


def slurm_fill(cluster: SlurmCluster, depth: int, array_from: int) -> None:
    """``depth`` jobs named ``deep`` queued (behind the blocker): one ``sbatch`` each,
    4 at a time, or one job array from ``array_from`` jobs on."""
    if depth >= array_from:
        cluster.sbatch(f"--array=0-{depth - 1}", name="deep")
    else:
        sbatch_many(cluster, depth, "deep")


def sbatch_many(cluster: SlurmCluster, count: int, name: str, workers: int = 4) -> float:
    """``count`` trivial jobs, ``workers`` ``sbatch`` processes at a time; submissions/s."""
    argv = cluster.sbatch_argv(name=name)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda _: cluster.run(argv), range(count)))
    return count / (time.perf_counter() - t0)


def squeue_ms(cluster: SlurmCluster, rounds: int = 7) -> float:
    """Median wall time of a plain ``squeue`` (every job), ms."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        cluster.run(["squeue"])
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def slurm_free_latency(cluster: SlurmCluster, rounds: int = 15) -> float:
    """p50 ms from just before ``sbatch -p free`` to the job's own first command."""
    waits = []
    for i in range(rounds):
        stamp = cluster.tmp / f"free-{i}"
        t0 = time.time()
        job = cluster.sbatch("-p", "free", wrap=f"date +%s.%N > {stamp}", name="free")
        cluster.wait_state(job, {"COMPLETED"})
        waits.append(float(stamp.read_text()) - t0)
    return statistics.median(waits) * 1000


def slurm_drain(cluster: SlurmCluster, blocker: int, count: int, timeout: float) -> float:
    """Cancel the blocker; jobs/s between the 20th and the ``count``-th ``deep`` job to
    finish (their lines in the job completion file, polled every 20 ms)."""
    cluster.run(["scancel", str(blocker)])
    marks: dict[int, float] = {}
    deadline = time.monotonic() + timeout
    while count not in marks:
        done, now = cluster.completed("deep"), time.monotonic()
        for mark in (20, count):
            if done >= mark:
                marks.setdefault(mark, now)
        if now > deadline:
            return float("nan")
        time.sleep(0.02)
    return (count - 20) / (marks[count] - marks[20])


def slurm_run(depth: int, args: argparse.Namespace) -> dict:
    """The Slurm column at one depth (see the module's docstring)."""
    with SlurmCluster(cpus=8, free_cpus=1) as cluster:
        blocker = cluster.sbatch("-n", "8", wrap="sleep 100000", name="blocker")
        cluster.wait_state(blocker, {"RUNNING"})
        slurm_fill(cluster, depth, args.slurm_array_from)
        settle(cluster.cpu_seconds)
        out: dict[str, Any] = {
            "idle_cpu_pct": idle_cpu_pct(cluster.cpu_seconds, args.idle),
            "rss_mb": cluster.rss_mb(),
        }
        out["submit_per_s"] = sbatch_many(cluster, args.submit, "more")
        out["cli_list_ms"] = squeue_ms(cluster)
        out["free_node_ms"] = slurm_free_latency(cluster)
        count = min(args.drain, depth)
        out["drain_per_s"] = slurm_drain(cluster, blocker, count, args.drain_timeout)
        out["rss_mb"] = max(out["rss_mb"], cluster.rss_mb())
        return out


ROWS = [
    ("idle_cpu_pct", "idle CPU, % of a core", "{:.1f}"),
    ("rss_mb", "RSS, MB", "{:.0f}"),
    ("submit_per_s", "submissions/s (see legend)", "{:.0f}"),
    ("page_p50_ms", "GET /chains page p50, ms", "{:.1f}"),
    ("page_p99_ms", "GET /chains page p99, ms", "{:.1f}"),
    ("cli_list_ms", "hai-cli list | squeue, ms (median)", "{:.0f}"),
    ("free_node_ms", "submit → running on a free node p50, ms", "{:.0f}"),
    ("drain_per_s", "drain, jobs/s (8 nodes | 8 CPUs)", "{:.1f}"),
]


def slurm_version(args: argparse.Namespace) -> tuple[bool, str]:
    """(True, Slurm's version) for a Slurm column, or (False, why it is skipped)."""
    if args.no_slurm:
        return False, "--no-slurm"
    return available()


def legend(variants: dict[str, dict], slurm: tuple[bool, str], args: argparse.Namespace) -> str:
    """What each column is."""
    lines = [
        f"{os.cpu_count()} cores, shared with the load generator (and anything else running).",
        "this     = hai-scheduler of this checkout: SQLite WAL, local backend, 8+1 nodes;"
        " submissions through the API from 20 clients",
    ]
    if "compare" in variants:
        lines.append(f"compare  = the same with PYTHONPATH={args.compare}")
    if not slurm[0]:
        lines.append(f"slurm    = column skipped: {slurm[1]}")
    else:
        lines.append(
            f"slurm    = {slurm[1]}, slurmctld+slurmd, one node of 8+1 CPUs; submissions: "
            f"{args.submit} sbatch, 4 at a time; 'hai-cli list' row: squeue"
        )
        capped = [d for d in args.depths if d >= args.slurm_array_from]
        if capped:
            lines.append(
                f"           depths {', '.join(f'{d:,}' for d in capped)}: queued as ONE "
                "sbatch --array (a pending array is one job record until its tasks start)"
            )
    return "\n".join(lines)


def table(results: dict[tuple[str, int], dict], columns: list[str], depths: list[int]) -> str:
    """The rows, one column per (variant, depth); ``-`` where a column has no such figure."""
    head = "".join(f"{f'{n} @ {d:,}':>18}" for d in depths for n in columns)
    lines = [f"{'':44}{head}"]
    for key, label, fmt in ROWS:
        cells = [results[n, d].get(key) for d in depths for n in columns]
        text = "".join(f"{'-' if v is None else fmt.format(v):>18}" for v in cells)
        lines.append(f"{label:44}{text}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--depths", type=int, nargs="+", default=[100, 10_000, 100_000])
    ap.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU sampling")
    ap.add_argument("--submit", type=int, default=1000)
    ap.add_argument("--drain", type=int, default=300)
    ap.add_argument("--drain-timeout", type=float, default=300.0)
    ap.add_argument("--compare", type=Path, help="another checkout's source folder")
    ap.add_argument("--no-slurm", action="store_true", help="skip the Slurm column")
    ap.add_argument("--slurm-array-from", type=int, default=20_000,
                    help="queue this many Slurm jobs or more as one job array")  # fmt: skip
    args = ap.parse_args()
    variants = {"this": {}}
    if args.compare:
        variants["compare"] = {"PYTHONPATH": str(args.compare.resolve())}
    slurm = slurm_version(args)
    print(legend(variants, slurm, args), flush=True)
    results: dict[tuple[str, int], dict] = {}
    root = Path(tempfile.mkdtemp(prefix="hai-bench-depth-"))
    try:
        for depth in args.depths:
            for name, env in variants.items():
                results[name, depth] = one_run(depth, args, env, root)
                print(f"  ran {name} at depth {depth}: {results[name, depth]}", flush=True)
            if slurm[0]:
                results["slurm", depth] = slurm_run(depth, args)
                print(f"  ran slurm at depth {depth}: {results['slurm', depth]}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    columns = [*variants, *(["slurm"] if slurm[0] else [])]
    print("\n" + table(results, columns, args.depths))
    print("\n" + legend(variants, slurm, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
