"""Load test of the scheduler's HTTP API, on the embedded default (SQLite in WAL mode, the
local backend, the scheduling loop running), started fresh as a ``hai-scheduler`` process.

Phase 1, submissions: a blocker chain holds every node, then ``--clients`` concurrent
clients (one user each) submit ``--chains`` trivial chains in total (``true``, one node)
as fast as they can, so they queue behind it. Every client then reads its chains back
(the list, page by page, and each chain by id). Checks: 0 lost, 0 duplicated, 0 server
errors. Reports p50/p99 submit latency and submissions per second.

Phase 2, end to end: the blocker is stopped and the queued chains run (submit → running →
finished). Reports completed chains per second from the service's own timestamps.

The load generator is a small keep-alive HTTP/1.1 client on asyncio, so the figures
measure the service, not an HTTP library. Client and service share this machine.

    python benchmarks/bench_api_load.py                    # 50 clients, 2,000 chains
    python benchmarks/bench_api_load.py --chains 200 --no-e2e
Exit status: 0 all checks passed and targets met, 1 a check failed, 2 a target missed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scheduler.model import accounts  # noqa: E402
from scheduler.model.db import open_database  # noqa: E402

SUBMIT_TARGET = 500.0  # submissions per second through the API
E2E_TARGET = 25.0  # trivial chains completed per second


# --------------------------------------------------------------------------- HTTP client


class Conn:
    """One keep-alive HTTP/1.1 connection with a token."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port, self.token = host, port, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        data = json.dumps(body).encode() if body is not None else b""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: token {self.token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        ).encode()
        self.writer.write(head + data)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length, chunked, close = 0, False, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and "close" in value.lower():
                close = True
        if chunked:
            payload = b""
            while True:
                size = int((await self.reader.readline()).strip(), 16)
                if size == 0:
                    await self.reader.readline()
                    break
                payload += await self.reader.readexactly(size)
                await self.reader.readline()
        else:
            payload = await self.reader.readexactly(length)
        if close:
            self.close()
        return status, json.loads(payload) if payload else None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


# --------------------------------------------------------------------------- service


@dataclass
class Service:
    proc: subprocess.Popen | None
    port: int
    data_dir: Path
    db_url: str
    tokens: dict[str, str]
    log: Path

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def start_service(
    work: Path,
    users: list[str],
    nodes: int | list[dict[str, Any]],
    env: dict[str, str] | None = None,
    before_launch: Any = None,
) -> Service:
    """A fresh database with ``users`` (one token each) and ``nodes`` (a count of nodes in
    group ``default``, or the local backend's node list), and the service on it;
    ``before_launch(service)`` may fill the database first."""
    data_dir = work / "data"
    db_url = f"sqlite:///{data_dir / 'scheduler.sqlite'}"
    factory = open_database(db_url)
    tokens = {}
    with factory.begin() as s:
        for name in users:
            user = accounts.create_user(s, name, admin=name == "admin")
            tokens[name] = accounts.issue_token(s, user)
    factory.kw["bind"].dispose()
    if isinstance(nodes, int):
        nodes = [{"name": f"local-{i}", "group": "default", "gpus": 1} for i in range(nodes)]
    (work / "hai_scheduler_config.py").write_text(f"c.LocalBackend.nodes = {nodes!r}\n")
    svc = Service(None, 0, data_dir, db_url, tokens, work / "hai-scheduler.log")
    if before_launch is not None:
        before_launch(svc)
    return launch(svc, env)


def launch(svc: Service, env: dict[str, str] | None = None) -> Service:
    """(Re)start the service on ``svc``'s data folder; waits until it listens."""
    work = svc.data_dir.parent
    port_file = work / "port"
    port_file.unlink(missing_ok=True)
    exe = shutil.which("hai-scheduler", path=str(Path(sys.executable).parent)) or "hai-scheduler"
    with svc.log.open("ab") as out:
        proc = subprocess.Popen(
            [exe, "--port=0", f"--port-file={port_file}", f"--data-dir={svc.data_dir}",
             f"--db-url={svc.db_url}", "--log-level=WARN"],
            cwd=work, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, **(env or {})},
        )  # fmt: skip
    deadline = time.monotonic() + 120
    while not (port_file.exists() and port_file.read_text().strip()):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"hai-scheduler did not start:\n{svc.log.read_text()[-3000:]}")
        time.sleep(0.05)
    svc.proc, svc.port = proc, int(port_file.read_text())
    return svc


# --------------------------------------------------------------------------- phases


@dataclass
class Client:
    index: int
    conn: Conn
    submitted: dict[int, str] = field(default_factory=dict)  # id -> name
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def task(name: str, argv: list[str], priority: str = "LOW", nodes: int = 1) -> dict[str, Any]:
    return {
        "version": 2,
        "name": name,
        "priority": priority,
        "spec": {"entrypoint": argv[0], "parameters": argv[1:], "workspace": tempfile.gettempdir()},
        "resource": {"node_count": nodes},
    }


async def submit_all(clients: list[Client], total: int) -> float:
    counter = iter(range(total))

    async def worker(c: Client) -> None:
        for i in counter:
            name = f"bench-{c.index}-{i}"
            t0 = time.perf_counter()
            status, body = await c.conn.request("POST", "/api/v1/chains", task(name, ["true"]))
            c.latencies.append(time.perf_counter() - t0)
            if status != 201:
                c.errors.append(f"submit {name}: {status} {body}")
                continue
            if body["id"] in c.submitted:
                c.errors.append(f"duplicate id {body['id']}")
            c.submitted[body["id"]] = name

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in clients))
    return time.perf_counter() - t0


async def read_back(clients: list[Client]) -> tuple[float, int]:
    requests = 0

    async def worker(c: Client) -> None:
        nonlocal requests
        listed: list[tuple[int, str]] = []
        page = 1
        while True:
            status, body = await c.conn.request(
                "GET", f"/api/v1/chains?page={page}&page_size=50&name=bench-{c.index}-*"
            )
            requests += 1
            if status != 200:
                c.errors.append(f"list page {page}: {status} {body}")
                return
            listed += [(x["id"], x["name"]) for x in body["chains"]]
            if page >= body["pages"]:
                break
            page += 1
        ids = [i for i, _ in listed]
        if len(ids) != len(set(ids)):
            c.errors.append("duplicated chains in the listing")
        if dict(listed) != c.submitted:
            lost = set(c.submitted) - set(ids)
            extra = set(ids) - set(c.submitted)
            c.errors.append(f"listing differs: {len(lost)} lost, {len(extra)} unexpected")
        for cid, name in c.submitted.items():
            status, body = await c.conn.request("GET", f"/api/v1/chains/{cid}")
            requests += 1
            if status != 200 or body["name"] != name:
                c.errors.append(f"get {cid}: {status}")

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in clients))
    return time.perf_counter() - t0, requests


async def wait_state(conn: Conn, cid: int, states: set[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, body = await conn.request("GET", f"/api/v1/chains/{cid}")
        if status == 200 and body["state"] in states:
            return body
        if time.monotonic() > deadline:
            raise SystemExit(f"chain {cid} never reached {states}: {body}")
        await asyncio.sleep(0.2)


def parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


async def drain(admin: Conn, ids: set[int], timeout: float) -> dict[str, Any]:
    """Poll until every chain in ``ids`` finished; return the finished chains' timestamps."""
    deadline = time.monotonic() + timeout
    finished: dict[int, dict[str, Any]] = {}
    while len(finished) < len(ids):
        page = 1
        while True:
            _status, body = await admin.request(
                "GET", f"/api/v1/chains?state=finished&page={page}&page_size=50&name=bench-*"
            )
            for c in body["chains"]:
                if c["id"] in ids:
                    finished[c["id"]] = c
            if page >= body["pages"]:
                break
            page += 1
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)
    return finished


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def run(args: argparse.Namespace, svc: Service) -> int:
    host = "127.0.0.1"
    users = [f"user{i:02d}" for i in range(args.clients)]
    clients = [Client(i, Conn(host, svc.port, svc.tokens[u])) for i, u in enumerate(users)]
    admin = Conn(host, svc.port, svc.tokens["admin"])
    status, blocker = await admin.request(
        "POST", "/api/v1/chains",
        task("blocker", ["sleep", "100000"], priority="HIGH", nodes=args.nodes),
    )  # fmt: skip
    assert status == 201, blocker
    await wait_state(admin, blocker["id"], {"running"}, 60)

    elapsed = await submit_all(clients, args.chains)
    latencies = [x for c in clients for x in c.latencies]
    submitted = sum(len(c.submitted) for c in clients)
    read_s, reads = await read_back(clients)
    errors = [e for c in clients for e in c.errors]
    rate = submitted / elapsed
    print(f"service: hai-scheduler (SQLite WAL, local backend, {args.nodes} nodes), "
          f"{os.cpu_count()} cores shared with the load generator")  # fmt: skip
    print(f"submit: {args.clients} clients, {submitted}/{args.chains} chains in {elapsed:.2f} s "
          f"= {rate:.0f} submissions/s")  # fmt: skip
    p50, p99 = pct(latencies, 0.50), pct(latencies, 0.99)
    worst, mean = max(latencies) * 1000, statistics.mean(latencies) * 1000
    print(
        f"submit latency: p50 {p50:.1f} ms  p99 {p99:.1f} ms  max {worst:.1f} ms"
        f"  mean {mean:.1f} ms"
    )
    print(f"read back: {reads} requests (list pages + one GET per chain) in {read_s:.2f} s "
          f"= {reads / read_s:.0f} requests/s")  # fmt: skip
    lost = args.chains - submitted
    dup = submitted - len({i for c in clients for i in c.submitted})
    server_errors = sum(1 for e in errors if ": 5" in e)
    print(f"checks: lost {lost}, duplicated {dup}, server errors {server_errors}, "
          f"other errors {len(errors) - server_errors}")  # fmt: skip
    for e in errors[:10]:
        print("  ", e)
    result = {"submit_rate": rate, "p50_ms": p50, "p99_ms": p99, "lost": lost, "duplicated": dup,
              "errors": len(errors)}  # fmt: skip

    if args.e2e:
        ids = {i for c in clients for i in c.submitted}
        t_stop = time.time()
        status, _ = await admin.request("POST", f"/api/v1/chains/{blocker['id']}/stop")
        assert status == 200
        finished = await drain(admin, ids, args.e2e_timeout)
        ok = [c for c in finished.values() if c["stop_code"] == "succeeded"]
        if finished:
            first_start = min(parse_time(c["started_at"]) for c in finished.values())
            last_end = max(parse_time(c["finished_at"]) for c in finished.values())
            span = (last_end - first_start).total_seconds()
        else:
            span = time.time() - t_stop
        e2e = len(finished) / span if span > 0 else 0.0
        print(f"end to end: {len(finished)}/{len(ids)} queued chains finished "
              f"({len(ok)} succeeded) in {span:.1f} s after the blocker stopped "
              f"= {e2e:.1f} chains/s")  # fmt: skip
        result.update(e2e_rate=e2e, e2e_finished=len(finished), e2e_succeeded=len(ok))
        if len(finished) < len(ids):
            errors.append(f"{len(ids) - len(finished)} chains did not finish in time")

    else:  # the blocker's ranks would outlive the service: stop it and let it go
        await admin.request("POST", f"/api/v1/chains/{blocker['id']}/stop")
        await wait_state(admin, blocker["id"], {"finished"}, 60)

    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2))
    if errors or lost or dup:
        return 1
    missed = rate < SUBMIT_TARGET or (args.e2e and result["e2e_rate"] < E2E_TARGET)
    verdict = f"targets: >= {SUBMIT_TARGET:.0f} submissions/s: "
    verdict += "met" if rate >= SUBMIT_TARGET else "MISSED"
    if args.e2e:
        verdict += f"; >= {E2E_TARGET:.0f} chains/s end to end: "
        verdict += "met" if result["e2e_rate"] >= E2E_TARGET else "MISSED"
    print(verdict)
    return 2 if missed else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--chains", type=int, default=2000)
    ap.add_argument("--nodes", type=int, default=8, help="local nodes (parallel chains)")
    ap.add_argument("--no-e2e", dest="e2e", action="store_false", help="skip phase 2")
    ap.add_argument("--e2e-timeout", type=float, default=600.0)
    ap.add_argument("--json-out", help="write the figures here as JSON")
    ap.add_argument("--keep", action="store_true", help="keep the service's data folder")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hai-bench-api-"))
    svc = start_service(work, ["admin", *(f"user{i:02d}" for i in range(args.clients))], args.nodes)
    try:
        return asyncio.run(run(args, svc))
    finally:
        svc.stop()
        if args.keep:
            print(f"data kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
