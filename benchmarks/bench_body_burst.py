"""Memory of the scheduler service under a burst of large unauthenticated requests.

Starts the real ``hai-scheduler`` (embedded defaults, SQLite) and, in the same run, the
same API served with tornado's default body limit (100 MB, what the service had before),
then sends ``--clients`` concurrent POSTs of ``--mib`` MiB each without a token to each,
streaming the body so the client itself stays small. Samples the server's resident memory
(VmRSS) every 20 ms and prints it before, at the peak, and after; also whether each
request was refused and how long that took.

    python benchmarks/bench_body_burst.py                 # 10 clients x 95 MiB
    python benchmarks/bench_body_burst.py --clients 4 --mib 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BASELINE = """\
import sys, asyncio
from scheduler.service.app import SchedulerApp
from scheduler.service.web import make_web_app
app = SchedulerApp()
app.initialize(["--data-dir=" + sys.argv[1]])
async def main():
    web = make_web_app(app)
    server = web.listen(0, address="127.0.0.1")  # tornado's default max_body_size
    port = next(iter(server._sockets.values())).getsockname()[1]
    print(port, flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def one_post(port: int, mib: int) -> tuple[str, float]:
    """POST mib MiB to /api/v1/chains without a token; returns the status line and time."""
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    size = mib << 20
    writer.write(
        f"POST /api/v1/chains HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\n\r\n".encode()
    )
    chunk = b"x" * (1 << 20)
    status = "no answer"
    try:
        for _ in range(mib):
            writer.write(chunk)
            await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 30)
        status = line.decode().strip() or "closed"
    except (TimeoutError, ConnectionError) as exc:
        status = f"cut off ({type(exc).__name__})"
        with contextlib.suppress(Exception):
            line = await asyncio.wait_for(reader.readline(), 2)
            status = line.decode().strip() or status
    finally:
        writer.close()
    return status, time.perf_counter() - t0


async def burst(pid: int, port: int, clients: int, mib: int) -> dict:
    peak = before = rss_mib(pid)
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mib(pid))
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    results = await asyncio.gather(*(one_post(port, mib) for _ in range(clients)))
    await asyncio.sleep(0.5)
    done.set()
    await sampler
    return {"before": before, "peak": peak, "after": rss_mib(pid), "results": results}


def start(cmd: list[str], cwd: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, text=True)
    return proc, int(proc.stdout.readline())


def report(name: str, r: dict) -> None:
    statuses = sorted({s for s, _ in r["results"]})
    slowest = max(t for _, t in r["results"])
    print(
        f"{name:<34} RSS before {r['before']:7.1f} MiB  peak {r['peak']:7.1f} MiB  "
        f"after {r['after']:7.1f} MiB  slowest answer {slowest:5.2f} s  answers: {statuses}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--mib", type=int, default=95)
    args = ap.parse_args()
    py = sys.executable
    print(f"{args.clients} concurrent unauthenticated POSTs of {args.mib} MiB each\n")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        for name, cmd in (
            (
                "hai-scheduler (body limit 2 MiB)",
                [
                    py,
                    "-c",
                    "import sys; from scheduler.service.app import main; main()",
                    "--port=0",
                    f"--port-file={tmp_path / 'port'}",
                    f"--data-dir={tmp_path / 'a'}",
                ],
            ),
            ("same API, tornado default (100 MB)", [py, "-c", BASELINE, str(tmp_path / "b")]),
        ):
            if "--port-file" in " ".join(cmd):
                proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL)
                deadline = time.monotonic() + 30
                while not (tmp_path / "port").exists() or not (tmp_path / "port").read_text():
                    if time.monotonic() > deadline:
                        raise SystemExit("the scheduler did not start")
                    time.sleep(0.05)
                port = int((tmp_path / "port").read_text())
            else:
                proc, port = start(cmd, REPO)
            try:
                time.sleep(0.5)
                report(name, asyncio.run(burst(proc.pid, port, args.clients, args.mib)))
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(10)
    print("\n(the service's figure covers its whole process: loop, API, database threads)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
