"""A year-long usage report through the rollup vs. the naive query over jobs and ranks.

Bulk-inserts ``--jobs`` finished jobs (one rank each; chains of 4 jobs, as if suspended
three times) spread over the past year for ``--users`` users, folds them into the rollup
(timed: a one-off), then times the report "GPU-hours per user over 365 days" both ways,
interleaved (rollup, naive, rollup, …) ``--rounds`` times, and prints medians, the ratio
and whether both agree to the microsecond-hour.

    python benchmarks/bench_usage.py                         # PostgreSQL, 1,000,000 jobs
    python benchmarks/bench_usage.py --db sqlite --jobs 100000

PostgreSQL: a scratch database on 127.0.0.1:5432 (trust), dropped at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, insert, text  # noqa: E402

from scheduler.accounting.fold import fold_ranks  # noqa: E402
from scheduler.accounting.report import Filters, report  # noqa: E402
from scheduler.model.db import open_database  # noqa: E402
from scheduler.model.orm import Chain, Job, JobRank, Node, NodeGroup, User  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
YEAR = dt.timedelta(days=365)
NODES = 500


def naive_sql(dialect: str) -> str:
    """GPU-microseconds per user over [since, until), straight from the ranks."""
    if dialect == "postgresql":
        span = "EXTRACT(EPOCH FROM (LEAST(r.ended_at, :until) - GREATEST(r.started_at, :since)))"
    else:
        span = "(julianday(MIN(r.ended_at, :until)) - julianday(MAX(r.started_at, :since))) * 86400"
    return f"""
        SELECT u.name, SUM({span} * COALESCE(LEAST_GPUS, 0)) AS gpu_s
        FROM job_ranks r JOIN jobs j ON r.job_id = j.id JOIN chains c ON j.chain_id = c.id
        JOIN users u ON c.owner_id = u.id LEFT JOIN nodes n ON n.name = r.node
        WHERE r.started_at < :until AND r.ended_at > :since
        GROUP BY u.name
    """.replace(
        "LEAST_GPUS",
        "CASE WHEN c.gpus_per_node IS NULL THEN n.gpus "
        "WHEN n.gpus IS NULL OR c.gpus_per_node < n.gpus THEN c.gpus_per_node ELSE n.gpus END",
    )


def naive_report(engine: Any, since: dt.datetime, until: dt.datetime) -> dict[str, float]:
    bind = {"since": since.replace(tzinfo=None), "until": until.replace(tzinfo=None)}
    with engine.connect() as conn:
        rows = conn.execute(text(naive_sql(engine.dialect.name)), bind).all()
    return {name: round(float(gpu_s) / 3600, 3) for name, gpu_s in rows}


def rollup_report(factory: Any, since: dt.datetime, until: dt.datetime) -> dict[str, float]:
    with factory() as s:
        out = report(s, Filters(since=since, until=until), ("user",), NOW)
    return {r["user"]: round(r["gpu_hours"], 3) for r in out["rows"]}


def generate(jobs: int, users: int, seed: int) -> dict[str, list[dict[str, Any]]]:
    """Rows for users, chains, jobs and ranks (ids given), over the year before NOW."""
    rnd = random.Random(seed)
    out: dict[str, list[dict[str, Any]]] = {"chains": [], "jobs": [], "job_ranks": []}
    per_chain = 4
    for cid in range(1, jobs // per_chain + 1):
        t = NOW - YEAR + dt.timedelta(seconds=rnd.uniform(0, YEAR.total_seconds() - 86400))
        owner = rnd.randrange(users) + 1
        gpus = rnd.choice((None, None, 1, 2, 4))
        out["chains"].append(
            {
                "id": cid,
                "name": f"c{cid}",
                "owner_id": owner,
                "group_name": "gpu",
                "node_count": 1,
                "gpus_per_node": gpus,
                "priority": rnd.randrange(7),
                "entrypoint": "train.py",
                "parameters": [],
                "workspace": "/w",
                "environment": {},
                "options": {},
                "whole_life_state": 0,
                "suspend_count": per_chain - 1,
                "state": "finished",
                "reason": "",
                "held": False,
                "created_at": t,
                "queued_at": t,
                "updated_at": t,
            }
        )
        for seq in range(per_chain):
            jid = (cid - 1) * per_chain + seq + 1
            start = t + dt.timedelta(seconds=rnd.uniform(0, 3600))
            end = start + dt.timedelta(seconds=rnd.uniform(600, 6 * 3600))
            out["jobs"].append(
                {
                    "id": jid,
                    "chain_id": cid,
                    "seq": seq,
                    "reason": "",
                    "created_at": start,
                    "ended_at": end,
                }
            )
            out["job_ranks"].append(
                {
                    "id": jid,
                    "job_id": jid,
                    "rank": 0,
                    "node": f"gpu-n{rnd.randrange(NODES)}",
                    "state": "succeeded",
                    "reason": "",
                    "handle": {},
                    "started_at": start,
                    "ended_at": end,
                }
            )
            t = end
    return out


def bulk_insert(factory: Any, users: int, rows: dict[str, list[dict[str, Any]]]) -> None:
    with factory.begin() as s:
        grp = NodeGroup(name="gpu")
        s.add(grp)
        s.add_all(Node(name=f"gpu-n{i}", group=grp, gpus=8) for i in range(NODES))
        s.add_all(User(name=f"user{u:03d}", group_name=f"team{u % 10}") for u in range(users))
    engine = factory.kw["bind"]
    for table, model in (("chains", Chain), ("jobs", Job), ("job_ranks", JobRank)):
        data = rows[table]
        for i in range(0, len(data), 20_000):
            with engine.begin() as conn:
                conn.execute(insert(model.__table__), data[i : i + 20_000])
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


def make_db(kind: str, tmp: Path) -> tuple[str, Any]:
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'usage.sqlite'}", None
    name = f"hai_bench_usage_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name, (admin, name)


def drop_db(handle: Any) -> None:
    if handle is None:
        return
    admin, name = handle
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - t0, value


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    ap.add_argument("--jobs", type=int, default=1_000_000)
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=20261201)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url, handle = make_db(args.db, Path(tmp))
        try:
            factory = open_database(url)
            seconds, rows = timed(generate, args.jobs, args.users, args.seed)
            print(f"generated {len(rows['jobs']):,} jobs in {seconds:.1f} s", flush=True)
            seconds, _ = timed(bulk_insert, factory, args.users, rows)
            print(f"bulk insert: {seconds:.1f} s", flush=True)
            del rows

            def fold_all() -> int:
                with factory.begin() as s:
                    return fold_ranks(s, NOW)

            seconds, folded = timed(fold_all)
            print(f"initial fold of {folded:,} ranks (one-off): {seconds:.1f} s", flush=True)
            since, until = NOW - YEAR, NOW
            fast, slow, agree = [], [], True
            for _ in range(args.rounds):
                t_fast, a = timed(rollup_report, factory, since, until)
                t_slow, b = timed(naive_report, factory.kw["bind"], since, until)
                fast.append(t_fast)
                slow.append(t_slow)
                agree &= a.keys() == b.keys() and all(abs(a[k] - b[k]) < 0.01 for k in a)
            m_fast, m_slow = statistics.median(fast), statistics.median(slow)
            result = {
                "db": args.db,
                "jobs": args.jobs,
                "users": args.users,
                "rounds": args.rounds,
                "rollup_median_s": round(m_fast, 4),
                "naive_median_s": round(m_slow, 4),
                "ratio": round(m_slow / m_fast, 1),
                "results_agree": agree,
            }
            print(json.dumps(result))
            return 0 if agree else 1
        finally:
            drop_db(handle)


if __name__ == "__main__":
    sys.exit(main())
