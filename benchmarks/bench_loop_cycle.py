"""One real scheduling-loop cycle on a database, beside the policy alone.

A :class:`~scheduler.service.loop.SchedulerLoop` on SQLite (the embedded default) with the
local backend: 8 nodes held by one running blocker (a real ``sleep`` process), and W
chains waiting behind it (20 users, one node each, so the policy walks every one of them
to its "waiting for nodes" reason). Timed, for each W:

- ``first cycle``: the cycle after a start (it reads the whole queue);
- ``idle cycle``: nothing changed since the last one;
- ``cycle after a submission``: one chain inserted and noted, as the API does;
- ``decide alone``: :func:`scheduler.policy.decide` on the same input, built in memory,
  walking the whole queue: what the complete walk costs that refreshes the reasons of
  chains deep in the queue (once the queue settles, and at least every
  ``reasons_refresh_seconds`` while it keeps changing); a cycle otherwise walks only as far
  as anything can start or preempt.

``--compare DIR`` runs the same in a child process with ``PYTHONPATH=DIR`` (another
checkout, e.g. the loop before it kept the queue in memory), interleaved with this one.

    python benchmarks/bench_loop_cycle.py                   # W = 10,000 and 100,000
    python benchmarks/bench_loop_cycle.py --waiting 10000 --compare /tmp/hai-before
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def child(waiting: int, rounds: int) -> dict[str, float]:
    """Measure in this process (run with the PYTHONPATH of the checkout under test)."""
    from sqlalchemy import insert
    from traitlets.config import Config

    from scheduler.model import accounts
    from scheduler.model.enums import ChainState
    from scheduler.model.orm import Chain
    from scheduler.policy import QuotaTable, decide
    from scheduler.service.app import SchedulerApp

    work = Path(tempfile.mkdtemp(prefix="hai-bench-cycle-"))
    cfg = Config()
    cfg.SchedulerApp.db_url = f"sqlite:///{work / 'hai.sqlite'}"
    cfg.SchedulerApp.data_dir = str(work / "data")
    cfg.LocalBackend.nodes = [{"name": f"n{i}", "group": "gpu", "gpus": 1} for i in range(8)]
    cfg.SystemAccounts.mode = "service"
    # the complete walk that refreshes deep chains' reasons is timed on its own below
    # ("decide alone"); keep its 30-s fallback out of the per-cycle figures
    cfg.SchedulerApp.reasons_refresh_seconds = 3600.0
    app = SchedulerApp(config=cfg)
    app.init_core()
    loop = app.loop
    note = getattr(loop, "note_changed", lambda chains=(), catalog=False: None)
    now = dt.datetime.now(dt.UTC)
    base = {
        "group_name": "gpu", "priority": 1, "entrypoint": "sleep", "workspace": str(work),
        "environment": {}, "options": {}, "state": ChainState.WAITING_INIT.value,
        "queued_at": now, "created_at": now, "updated_at": now, "held": False,
        "suspend_count": 0, "reason": "",
    }  # fmt: skip
    with app.session_factory.begin() as s:
        users = [accounts.create_user(s, f"user{i:02d}") for i in range(20)]
        s.flush()
        owners = [u.id for u in users]
        blocker = s.execute(
            insert(Chain).returning(Chain.id),
            [{**base, "name": "blocker", "owner_id": owners[0], "node_count": 8,
              "priority": 5, "parameters": ["1000"]}],
        ).scalar_one()  # fmt: skip
    note(chains=[blocker])
    loop.sync_nodes()
    loop.cycle()  # the blocker starts
    with app.session_factory.begin() as s:
        for start in range(0, waiting, 5000):
            s.execute(
                insert(Chain),
                [
                    {**base, "name": f"w{i}", "owner_id": owners[i % 20], "node_count": 1,
                     "parameters": ["0"]}
                    for i in range(start, min(waiting, start + 5000))
                ],
            )  # fmt: skip
    if hasattr(loop, "forget"):
        loop.forget()  # as after a restart: the next cycle reads everything

    def timed(fn: Any) -> float:
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1000

    out: dict[str, float] = {"first cycle": timed(loop.cycle)}
    out["idle cycle"] = statistics.median(timed(loop.cycle) for _ in range(rounds))

    def submit_and_cycle() -> None:
        with app.session_factory.begin() as s:
            cid = s.execute(
                insert(Chain).returning(Chain.id),
                [{**base, "name": "one", "owner_id": owners[1], "node_count": 1,
                  "parameters": ["0"]}],
            ).scalar_one()  # fmt: skip
        note(chains=[cid])
        loop.cycle()

    out["cycle after a submission"] = statistics.median(
        timed(submit_and_cycle) for _ in range(rounds)
    )
    if hasattr(loop, "queue"):  # the policy's input as this loop keeps it
        with app.session_factory() as s:
            running = loop._load_chains(s, Chain.state == ChainState.RUNNING.value)
            from scheduler.service.policy_inputs import running_views

            views = running_views(running)
        pending = loop.queue.pending()
        nodes = loop.catalog.node_views(set())
        quotas = QuotaTable(rows=loop.catalog.quota_rows, defaults={})
        out["decide alone"] = statistics.median(
            timed(lambda: decide(pending, views, nodes, quotas, loop.policy_config, time.time()))
            for _ in range(rounds)
        )
    with app.session_factory.begin() as s:
        s.get(Chain, blocker).stop_requested_at = now
    note(chains=[blocker])
    for _ in range(40):  # let the blocker's process go
        loop.cycle()
        time.sleep(0.05)
    app.backend.close() if hasattr(app.backend, "close") else None
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--waiting", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--repeat", type=int, default=2, help="interleaved runs per variant")
    ap.add_argument("--compare", type=Path, help="another checkout's source folder")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.rounds)))
        return 0
    variants = {"this": str(REPO)}
    if args.compare:
        variants["compare"] = str(args.compare.resolve())
    print(f"SchedulerLoop.cycle() on SQLite (WAL), local backend, 8 busy nodes; "
          f"{os.cpu_count()} cores; medians of {args.rounds} per run, {args.repeat} "
          "interleaved runs per variant (median of the runs)")  # fmt: skip
    for waiting in args.waiting:
        runs: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
        for _ in range(args.repeat):
            for name, path in variants.items():
                env = {**os.environ, "PYTHONPATH": path}
                cmd = [sys.executable, __file__, "--child", str(waiting), "--rounds",
                       str(args.rounds)]  # fmt: skip
                done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
                runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"\n{waiting:,} waiting")
        keys = list(runs["this"][0])
        for key in keys:
            cells = []
            for name in variants:
                values = [r[key] for r in runs[name] if key in r]
                cells.append(f"{name} {statistics.median(values):9.1f} ms" if values else "")
            print(f"  {key:28}" + "   ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
