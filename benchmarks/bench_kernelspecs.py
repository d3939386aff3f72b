"""Time ``GET /api/kernelspecs`` of a real jupyter-server with haienv_kernels over 500 envs.

The envs are written directly (metadata file + a venv-shaped folder: ``bin/python`` linked
to this interpreter, ``pyvenv.cfg``, site-packages with haienv's ``zzz_haienv_base.pth``),
not built with uv: 500 real builds would take minutes, and the listing reads exactly these
files either way. They all extend one base whose site-packages reaches this venv's
site-packages through a ``.pth`` line, so every env really can run ``ipykernel_launcher``.

Measured (client side, ``httpx`` over loopback, response body read):

* first after start: the first listing of a freshly started server, 1 s after it first
  answers ``/api/status`` (the manager builds its cache at start-up); also with
  ``warm_on_start=False`` and, for scale, with jupyter_client's stock ``KernelSpecManager``
  (whose first call imports IPython and ipykernel modules to find the native kernel), each
  on ``--starts`` fresh servers;
* cold after a change: the first listing after an env's metadata is written (the cache is
  rebuilt: ``list_envs`` + every spec);
* warm: the median (and p95) of many listings with nothing changed;
* the same three for the manager in process (``get_all_specs()``), without HTTP;
* the HAI way: one ``<env>/bin/python -c "import ipykernel_launcher"`` per env, run on a
  sample of envs and extrapolated to all of them (``--hai-all`` runs them all).

    python benchmarks/bench_kernelspecs.py [--envs 500] [--sample 20] [--warm 100] [--hai-all]

Exits 2 when a target is missed (over the server: warm median < 20 ms; cold < 200 ms, where
cold is the worse of the median after a change and the first listing after start; the first
listing without the start-up warm-up is printed beside jupyter_client's stock manager's).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import haienv  # noqa: E402
from haienv_kernels import HaienvKernelSpecManager  # noqa: E402
from tests.haienv_fixtures import (  # noqa: E402
    SITE_REL,
    JupyterServer,
    add_host_site,
    fake_env,
    server_environ,
)

CLASS = "haienv_kernels.HaienvKernelSpecManager"
WARM_TARGET_MS, COLD_TARGET_MS = 20.0, 200.0
#: the server answers /api/status before it has finished starting (extensions, a full GC):
#: the first listing is timed this long after, for every server alike
SETTLE_S = 1.0


def ms(seconds: float) -> float:
    return seconds * 1000.0


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return ms(time.perf_counter() - t0), out


def summary(label: str, values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return (
        f"  {label:<34} median {statistics.median(values):8.2f} ms   min {values[0]:8.2f} ms"
        f"   p95 {p95:8.2f} ms  (n={len(values)})"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--envs", type=int, default=500)
    ap.add_argument("--sample", type=int, default=20, help="envs timed the HAI way")
    ap.add_argument("--warm", type=int, default=100, help="warm listings timed")
    ap.add_argument("--changes", type=int, default=7, help="cold-after-change listings timed")
    ap.add_argument("--starts", type=int, default=3, help="servers started per first listing")
    ap.add_argument("--hai-all", action="store_true", help="run the HAI way on every env")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-kernelspecs-"))
    root = tmp / "root"
    t0 = time.perf_counter()
    base = fake_env(root, "base", shared=True)
    add_host_site(base / SITE_REL)
    envs = [fake_env(root, f"env-{i:04d}", extends=base) for i in range(args.envs)]
    written = ms(time.perf_counter() - t0)
    os.sync()  # let the writes settle before timing reads
    time.sleep(SETTLE_S)
    cfg = haienv.HaiEnvConfig(root=str(root), user="alice")

    print(
        f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cpus, "
        f"load {os.getloadavg()[0]:.1f}, "
        f"{len(envs)} envs + 1 base written directly (metadata + venv-shaped folders, not "
        f"built with uv) in {written:.0f} ms"
    )

    # -- in process --------------------------------------------------------------------------
    # the first manager also pays jupyter_client's one-time imports: time a second one
    HaienvKernelSpecManager(haienv_config=cfg, warm_on_start=False).get_all_specs()
    m = HaienvKernelSpecManager(haienv_config=cfg, warm_on_start=False)
    cold_ip, specs = timed(m.get_all_specs)
    start_ip = timed(lambda: HaienvKernelSpecManager(haienv_config=cfg))[0]
    n_haienv = sum(1 for k in specs if k.startswith("haienv-"))
    warm_ip = [timed(m.get_all_specs)[0] for _ in range(args.warm)]
    change_ip = []
    for i in range(args.changes):
        fake_env(root, f"extra-{i}", extends=base)
        change_ip.append(timed(m.get_all_specs)[0])
    for i in range(args.changes):
        haienv.remove_env(f"extra-{i}", config=cfg)

    # -- through a real jupyter-server -------------------------------------------------------
    srv = JupyterServer(
        tmp / "server", server_environ(root), [f"--ServerApp.kernel_spec_manager_class={CLASS}"]
    )
    srv.start()
    time.sleep(SETTLE_S)
    try:
        cold_http, resp = timed(lambda: srv.client.get("/api/kernelspecs"))
        listing = resp.json()["kernelspecs"]
        size_kb = len(resp.content) / 1024
        assert sum(1 for k in listing if k.startswith("haienv-")) == len(envs) + 1, listing.keys()
        warm_http = [timed(lambda: srv.client.get("/api/kernelspecs"))[0] for _ in range(args.warm)]
        change_http = []
        for i in range(args.changes):
            fake_env(root, f"extra-{i}", extends=base)
            t, r = timed(lambda: srv.client.get("/api/kernelspecs"))
            assert f"haienv-extra-{i}" in r.json()["kernelspecs"]
            change_http.append(t)
        # a near-empty listing for scale: the same server with no haienv kernels
        status = [timed(lambda: srv.client.get("/api/status"))[0] for _ in range(20)]
    finally:
        srv.stop()

    # -- first listing after start: without the start-up warm-up, and jupyter_client alone --
    def first_listing(args: list[str]) -> float:
        srv = JupyterServer(tmp / "server-first", server_environ(root), args)
        srv.start()
        time.sleep(SETTLE_S)
        try:
            return timed(lambda: srv.client.get("/api/kernelspecs"))[0]
        finally:
            srv.stop()

    no_warm_args = [
        f"--ServerApp.kernel_spec_manager_class={CLASS}",
        "--HaienvKernelSpecManager.warm_on_start=False",
    ]
    stock_args = [
        "--ServerApp.kernel_spec_manager_class=jupyter_client.kernelspec.KernelSpecManager"
    ]
    firsts_no_warm, firsts_stock = [], []
    for _ in range(args.starts):
        firsts_no_warm.append(first_listing(no_warm_args))
        firsts_stock.append(first_listing(stock_args))

    # -- the HAI way: a subprocess + import check per env ------------------------------------
    sample = envs if args.hai_all else envs[: max(1, min(args.sample, len(envs)))]
    per_env = []
    for env in sample:
        t, proc = timed(
            lambda env=env: subprocess.run(
                [str(env / "bin/python"), "-c", "import ipykernel_launcher"],
                capture_output=True,
                timeout=120,
            )
        )
        assert proc.returncode == 0, proc.stderr.decode()[-500:]
        per_env.append(t)
    hai_measured = sum(per_env)
    hai_total = statistics.mean(per_env) * len(envs)

    print(f"listing: {n_haienv} haienv kernels + natives, {size_kb:.0f} KiB of JSON")
    print("in process (HaienvKernelSpecManager.get_all_specs):")
    print(f"  {'cold (first call, empty cache)':<34} {cold_ip:8.2f} ms")
    print(f"  {'warm-up when created (at start)':<34} {start_ip:8.2f} ms")
    print(summary("cold after a change", change_ip))
    print(summary("warm", warm_ip))
    print("GET /api/kernelspecs (real jupyter-server, loopback HTTP):")
    print(f"  {'first after start (warmed at start)':<34} {cold_http:8.2f} ms")
    print(summary("first after start, no warm-up", firsts_no_warm))
    print(summary("(stock manager, 1 kernel) first", firsts_stock))
    print(summary("cold after a change", change_http))
    print(summary("warm", warm_http))
    print(summary("(GET /api/status, for scale)", status))
    print("the HAI way (python -c 'import ipykernel_launcher' per env, sequential):")
    print(
        f"  measured on {len(sample)} envs: {hai_measured / 1000:.2f} s "
        f"({statistics.mean(per_env):.0f} ms per env, median {statistics.median(per_env):.0f})"
    )
    if len(sample) != len(envs):
        print(f"  extrapolated to {len(envs)} envs: {hai_total / 1000:.1f} s")
    warm_med = statistics.median(warm_http)
    # cold: the cache is empty (after a change), and the first listing of a server as it is
    # configured by default (cache built at start). Without that warm-up the first listing
    # also pays jupyter_client's own first-call imports (see the stock manager's line).
    cold_worst = max(statistics.median(change_http), cold_http)
    print(
        f"ratio: HAI way {hai_total / 1000:.1f} s vs cold {cold_worst:.0f} ms "
        f"({hai_total / cold_worst:.0f}x) vs warm {warm_med:.1f} ms ({hai_total / warm_med:.0f}x)"
    )
    ok_warm, ok_cold = warm_med < WARM_TARGET_MS, cold_worst < COLD_TARGET_MS
    print(
        f"targets: warm < {WARM_TARGET_MS:.0f} ms: {'met' if ok_warm else 'MISSED'}; "
        f"cold < {COLD_TARGET_MS:.0f} ms: {'met' if ok_cold else 'MISSED'}"
    )
    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok_warm and ok_cold else 2


if __name__ == "__main__":
    sys.exit(main())
