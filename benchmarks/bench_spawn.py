"""Spawn latency of local mig-gpu dev containers, and 50 concurrent spawns.

Runs the real embedded hub (JupyterHub + proxy + scheduler + culler) twice in one script:
once with HaiLocalSpawner (a MIG slice from the scheduler's inventory per server) and once
with JupyterHub's own SimpleLocalProcessSpawner as the baseline, so the cost of the
inventory round trip shows as a difference on the same machine.

    python benchmarks/bench_spawn.py [--sequential 10] [--concurrent 50]

Targets: p50 < 3 s for one mig-gpu spawn; 50 concurrent spawns with 0 failures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.hub_helpers import Hub, running_hub

BASELINE = "c.JupyterHub.spawner_class = 'jupyterhub.spawner.SimpleLocalProcessSpawner'\n"


def spawn(hub: Hub, user: str, timeout: float = 180.0) -> float:
    """Seconds from the spawn request until the hub reports the server ready."""
    with hub.admin() as c:
        c.post(f"{hub.api}/users/{user}")
        t0 = time.perf_counter()
        r = c.post(f"{hub.api}/users/{user}/server", json={"profile": "mig-gpu"})
        if r.status_code not in (201, 202):
            raise RuntimeError(f"{user}: HTTP {r.status_code} {r.text[:200]}")
        deadline = t0 + timeout
        while time.perf_counter() < deadline:
            server = (c.get(f"{hub.api}/users/{user}").json().get("servers") or {}).get("")
            if server and server.get("ready"):
                return time.perf_counter() - t0
            if server is None and time.perf_counter() - t0 > 2:
                raise RuntimeError(f"{user}: spawn failed (no server)")
            time.sleep(0.05)
    raise RuntimeError(f"{user}: not ready in {timeout} s")


def stop_all(hub: Hub, users: list[str]) -> None:
    with hub.admin() as c:
        for u in users:
            c.delete(f"{hub.api}/users/{u}/server")
    for u in users:
        hub.wait_server(u, ready=False, timeout=120)


def sequential(hub: Hub, n: int, prefix: str) -> list[float]:
    users = [f"{prefix}{i}" for i in range(n)]
    times = []
    for u in users:
        times.append(spawn(hub, u))
        stop_all(hub, [u])
    return times


def concurrent(hub: Hub, n: int, prefix: str) -> tuple[float, int, list[str]]:
    users = [f"{prefix}{i}" for i in range(n)]
    t0 = time.perf_counter()
    errors = []
    with ThreadPoolExecutor(n) as pool:
        for u, fut in [(u, pool.submit(spawn, hub, u)) for u in users]:
            try:
                fut.result()
            except Exception as exc:  # counted and printed, not hidden
                errors.append(f"{u}: {exc}")
    wall = time.perf_counter() - t0
    with hub.admin() as c:
        running = sum(
            1
            for u in users
            if (c.get(f"{hub.api}/users/{u}").json().get("servers") or {}).get("", {}).get("ready")
        )
    stop_all(hub, users)
    return wall, running, errors


def describe(label: str, times: list[float]) -> str:
    q = statistics.quantiles(times, n=20) if len(times) > 1 else times * 19
    return (
        f"{label:<34} p50 {statistics.median(times):5.2f} s  p95 {q[18]:5.2f} s  "
        f"min {min(times):5.2f} s  (n={len(times)})"
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sequential", type=int, default=10)
    ap.add_argument("--concurrent", type=int, default=50)
    args = ap.parse_args()
    slices = str(max(args.concurrent, args.sequential) + 2)
    env = {"HAI_SIM_MIG_SLICES": slices, "HAI_CULLER_INTERVAL": "30"}
    with tempfile.TemporaryDirectory() as tmp:
        with running_hub(Path(tmp) / "base", extra_config=BASELINE, **env) as hub:
            base = sequential(hub, args.sequential, "b")
        with running_hub(Path(tmp) / "hai", **env) as hub:
            hai = sequential(hub, args.sequential, "s")
            wall, running, errors = concurrent(hub, args.concurrent, "c")
    print(describe("baseline SimpleLocalProcessSpawner", base))
    print(describe("HaiLocalSpawner mig-gpu", hai))
    overhead = statistics.median(hai) - statistics.median(base)
    print(f"overhead of the inventory (p50):   {overhead:+.2f} s")
    print(
        f"{args.concurrent} concurrent mig-gpu spawns: {running} ready, {len(errors)} failed, "
        f"all ready after {wall:.1f} s"
    )
    for e in errors:
        print("  failure:", e)
    ok = statistics.median(hai) < 3.0 and not errors and running == args.concurrent
    print("targets (p50 < 3 s, 0 failures):", "met" if ok else "MISSED")
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
