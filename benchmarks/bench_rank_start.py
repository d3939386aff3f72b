"""What starting a trivial rank costs the machine: CPU time of every process, per rank.

The local backend starts ``--ranks`` ranks of ``true`` (one ``start_ranks`` call each, as
the loop starts them), each through the fork server, a forked supervisor (as the rank's
owner's account when run as root: ``SystemAccounts.mode = "create"``), its folders, log
and exit status, and waits until every one has recorded its exit. The figure is the
machine's busy CPU time (``/proc/stat``: every process and the kernel) over that span,
per rank, and the wall time per rank; the scheduler's loop (database, policy) is not in
it. Beside it, in the same rounds: the floor, ``subprocess.Popen(["true"]).wait()`` from
this process (a fork and an exec, nothing else).

``--compare DIR`` runs the same rounds with another checkout's ``scheduler`` package
(``PYTHONPATH=DIR``), interleaved. ``--dir`` puts the data folders elsewhere (e.g. on a
tmpfs, to see the file system's share).

    python benchmarks/bench_rank_start.py
    python benchmarks/bench_rank_start.py --compare /tmp/wt-before --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# run in a child process per round (with the checkout under test first on sys.path)
_ROUND = r"""
import json, os, sys, tempfile, time
from pathlib import Path
from traitlets.config import Config
from scheduler.backends.base import RankKey, RankLaunch
from scheduler.backends.local import control
from scheduler.backends.local.backend import LocalBackend

count, folder = int(sys.argv[1]), sys.argv[2]
sys.path.insert(0, sys.argv[3])  # this benchmark's folder: the same clock as the floor's
from bench_rank_start import busy_seconds as busy

config = Config()
config.SystemAccounts.mode = "create" if os.geteuid() == 0 else "service"
config.SystemAccounts.service_users = ["*"]
data = tempfile.mkdtemp(prefix="rank-start-", dir=folder)
backend = LocalBackend(config=config, data_dir=data, nodes=[{"name": "n0", "gpus": 1}])

def launch(i):
    return RankLaunch(key=RankKey(i, 0, 0), world_size=1, node="n0", master_node="n0",
                      entrypoint="true", parameters=(), env={}, workspace="/tmp",
                      owner="bench-rank")

# a checkout from before start_ranks started one rank a call
start = getattr(backend, "start_ranks", None) or (lambda ls: [backend.start_rank(x) for x in ls])

def wait_all(keys):
    for key in keys:
        while control.read_json(backend.control_dir(key) / control.EXIT) is None:
            time.sleep(0.005)

start([launch(0)])  # the fork server and the account, made once
wait_all([RankKey(0, 0, 0)])
cpu0, wall0 = busy(), time.perf_counter()
for i in range(1, count + 1):
    start([launch(i)])
wait_all([RankKey(i, 0, 0) for i in range(1, count + 1)])
wall = time.perf_counter() - wall0
time.sleep(0.2)  # the last supervisors end after writing their exit status
print(json.dumps({"cpu_ms": (busy() - cpu0) / count * 1000, "wall_ms": wall / count * 1000}))
"""


def busy_seconds() -> float:
    """The machine's busy CPU seconds so far, every process and the kernel (/proc/stat)."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def floor_round(count: int) -> dict[str, float]:
    """``true`` started and waited for ``count`` times from this process."""
    cpu0, wall0 = busy_seconds(), time.perf_counter()
    for _ in range(count):
        subprocess.Popen(["true"]).wait()
    wall = time.perf_counter() - wall0
    return {"cpu_ms": (busy_seconds() - cpu0) / count * 1000, "wall_ms": wall / count * 1000}


def rank_round(count: int, folder: str, source: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(source)}
    out = subprocess.run(
        [sys.executable, "-c", _ROUND, str(count), folder, str(Path(__file__).parent)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ranks", type=int, default=200, help="ranks per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dir", default=None, help="folder for the data folders (default: TMPDIR)")
    ap.add_argument("--compare", type=Path, help="another checkout's source folder")
    args = ap.parse_args()
    variants = {"this": ROOT}
    if args.compare:
        variants["compare"] = args.compare.resolve()
    keep = Path(tempfile.mkdtemp(prefix="hai-bench-rank-start-", dir=args.dir))
    results: dict[str, list[dict[str, float]]] = {name: [] for name in [*variants, "floor"]}
    try:
        for _ in range(args.rounds):  # folders kept until the end (see bench_depth.one_run)
            for name, source in variants.items():
                results[name].append(rank_round(args.ranks, str(keep), source))
            results["floor"].append(floor_round(args.ranks))
    finally:
        subprocess.run(["rm", "-rf", str(keep)], check=False)
    where = args.dir or tempfile.gettempdir()
    print(
        f"{os.cpu_count()} CPUs, {args.ranks} ranks of `true` a round, medians of "
        f"{args.rounds} interleaved rounds; data folders under {where}"
    )
    print(f"{'':52}{'CPU/rank':>10}{'wall/rank':>11}")
    labels = {
        "this": "a rank started and ended (this checkout)",
        "compare": f"the same with PYTHONPATH={args.compare}",
        "floor": "floor: Popen(['true']).wait()",
    }
    floor = statistics.median(r["cpu_ms"] for r in results["floor"])
    for name, rows in results.items():
        cpu = statistics.median(r["cpu_ms"] for r in rows)
        wall = statistics.median(r["wall_ms"] for r in rows)
        print(f"{labels[name]:52}{cpu:8.2f}ms{wall:9.2f}ms  {cpu / floor:5.1f}x floor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
