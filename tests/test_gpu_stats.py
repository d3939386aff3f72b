"""Per-rank GPU utilisation: the supervisor's NVML sampler, the API and the gauges.

This machine has no NVIDIA driver. So:

* the *degrade* path runs for real: the real ``pynvml`` fails to initialise, and the rank
  shows ``available: false`` with the reason (on a machine with a driver the same test
  checks real samples instead);
* the *sampling* path runs with a stand-in NVML module (``tests/assets/fake_nvml``),
  injected into the sampler directly, and into a real scheduler's rank supervisors by
  putting its folder first on ``PYTHONPATH``.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from scheduler.backends.local.gpustats import GPU_STATS, NO_DATA, GpuSampler, read_usage
from tests.sched_harness import TOY
from tests.service_helpers import scheduler_process, wait_for
from tests.test_metrics import scrape

FAKE_DIR = Path(__file__).with_name("assets") / "fake_nvml"


def fake_nvml() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fake_pynvml", FAKE_DIR / "pynvml.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_sampler_samples_every_interval_and_keeps_the_newest(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / GPU_STATS
    sampler = GpuSampler(
        ["0", "1", "MIG-fake-0"], path, interval=5, keep=3, nvml=fake_nvml(), clock=clock
    )
    assert sampler.tick() and not sampler.tick(), "one sample per interval"
    clock.now += 4.9
    assert not sampler.tick()
    for _ in range(4):
        clock.now += 5
        assert sampler.tick()
    stats = json.loads(path.read_text())
    assert stats["available"] and stats["reason"] == ""
    times = [s["time"] for s in stats["samples"]]
    assert times == pytest.approx([1014.9, 1019.9, 1024.9]), "the newest 3 of 5"
    gpus = stats["samples"][-1]["gpus"]
    assert gpus["0"] == {
        "utilization": 0.4,
        "memory_used_bytes": 1 << 30,
        "memory_total_bytes": 80 << 30,
    }
    assert gpus["1"]["utilization"] == 0.5
    assert "utilization" not in gpus["MIG-fake-0"]
    assert gpus["MIG-fake-0"]["error"] == "Not Supported"
    assert gpus["MIG-fake-0"]["memory_used_bytes"] == 1 << 29
    assert read_usage(tmp_path) == stats
    sampler.close()


@pytest.mark.parametrize(
    ("ids", "nvml", "reason"),
    [
        ([], "fake", "the rank has no GPUs"),
        (["sim-0", "sim-1"], "fake", "NVML has no device sim-0, sim-1 (simulated GPUs?)"),
        (["0"], "broken", "NVML is not available (Driver Not Loaded)"),
    ],
)
def test_sampler_says_why_it_has_no_data(tmp_path: Path, ids, nvml, reason) -> None:
    module = fake_nvml()
    if nvml == "broken":

        def refuse() -> None:
            raise module.NVMLError("Driver Not Loaded")

        module.nvmlInit = refuse
    sampler = GpuSampler(ids, tmp_path / GPU_STATS, nvml=module, clock=Clock())
    assert not sampler.tick()
    stats = read_usage(tmp_path)
    assert stats["available"] is False and stats["samples"] == []
    assert stats["reason"] == f"{NO_DATA}: {reason}"


def test_this_machines_real_nvml_samples_or_says_why_not(tmp_path: Path) -> None:
    """The real pynvml: without a driver (as here) the reason, with one real samples."""
    sampler = GpuSampler(["0"], tmp_path / GPU_STATS, interval=0)
    sampled = sampler.tick()
    sampler.close()
    stats = read_usage(tmp_path)
    if sampled:
        assert stats["available"] and 0 <= stats["samples"][0]["gpus"]["0"]["utilization"] <= 1
    else:
        assert stats["available"] is False
        assert stats["reason"].startswith(f"{NO_DATA}: NVML is not available"), stats


def test_nothing_written_yet_is_no_data(tmp_path: Path) -> None:
    assert read_usage(tmp_path) == {"available": False, "reason": "no GPU data yet", "samples": []}


@pytest.mark.slow
def test_a_real_ranks_supervisor_samples_its_gpus_into_the_api_and_metrics(
    tmp_path: Path,
) -> None:
    config = (
        "c.SchedulerApp.tick_seconds = 0.2\n"
        'c.LocalBackend.nodes = [{"name": "g0", "group": "gpu", "gpus": ["0", "1"]}]\n'
        "c.LocalBackend.gpu_sample_seconds = 0.2\n"
        "c.LocalBackend.gpu_samples_kept = 4\n"
    )
    path = os.pathsep.join(filter(None, [str(FAKE_DIR), os.environ.get("PYTHONPATH")]))
    with scheduler_process(tmp_path, config=config, env={"PYTHONPATH": path}) as svc:
        http = httpx.Client(
            base_url=svc.url + "api/v1",
            headers={"Authorization": f"token {svc.tokens['alice']}"},
            timeout=30,
        )
        spec = {
            "name": "busy",
            "spec": {
                "entrypoint": TOY,
                "parameters": ["400", "0.05", str(tmp_path / "result")],
                "workspace": str(tmp_path),
            },
        }
        chain = http.post("/chains", json=spec).json()["id"]

        def samples() -> list:
            gpu = http.get(f"/chains/{chain}/ranks/0").json()["gpu"]
            return gpu["samples"] if gpu["available"] else []

        kept = wait_for(lambda: len(samples()) == 4 and samples(), 30, "four GPU samples")
        assert kept[-1]["gpus"]["0"]["utilization"] == 0.4
        assert kept[-1]["gpus"]["1"]["memory_used_bytes"] == 2 << 30
        rank = http.get(f"/chains/{chain}").json()["jobs"][0]["ranks"][0]
        assert rank["gpu"]["available"] and rank["gpu"]["gpus"]["1"]["utilization"] == 0.5
        m = scrape(svc.url, svc.tokens["admin"])
        labels = {"chain": str(chain), "job": "0", "rank": "0", "node": "g0"}
        key = ("hai_rank_gpu_utilization_ratio", frozenset({**labels, "gpu": "0"}.items()))
        assert m[key] == 0.4
        key = ("hai_rank_gpu_memory_used_bytes", frozenset({**labels, "gpu": "1"}.items()))
        assert m[key] == 2 << 30
        http.post(f"/chains/{chain}/stop")
        wait_for(lambda: http.get(f"/chains/{chain}").json()["state"] == "finished", 30, "stop")
        m = scrape(svc.url, svc.tokens["admin"])
        assert not [k for k in m if k[0].startswith("hai_rank_gpu")], "gone with the rank"


def test_the_fork_server_loads_nvml_once_for_every_supervisor(monkeypatch) -> None:
    """Each supervisor is forked from the launcher with NVML's bindings imported already
    (importing them in each supervisor was ~100 ms of every rank's start)."""
    import io
    import subprocess
    import sys

    from scheduler.backends.local import launcher

    probe = "from scheduler.backends.local import launcher; import sys; launcher.preload(); "
    probe += "print(sorted(m for m in launcher.PRELOADED if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    installed = [m for m in launcher.PRELOADED if importlib.util.find_spec(m) is not None]
    assert "pynvml" in installed, "the scheduler extra installs nvidia-ml-py"
    assert loaded.stdout.strip() == repr(installed), loaded.stderr
    calls = []
    monkeypatch.setattr(launcher, "preload", lambda: calls.append(1))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    monkeypatch.setattr(launcher.signal, "signal", lambda *args: None)  # keep pytest's SIGCHLD
    assert launcher.serve() == 0 and calls == [1]


def test_a_reason_found_by_the_backend_spares_the_supervisor_nvml(tmp_path: Path) -> None:
    """Where the backend found no NVML, each supervisor says so without importing or
    starting it (the module given here would record any call)."""
    calls: list[str] = []
    module = fake_nvml()
    module.nvmlInit = lambda: calls.append("init")
    reason = f"{NO_DATA}: NVML is not available (Driver Not Loaded)"
    sampler = GpuSampler(["0"], tmp_path / GPU_STATS, nvml=module, unavailable=reason)
    assert not sampler.tick() and calls == []
    assert not (tmp_path / GPU_STATS).exists(), "the backend says it: no file per rank"
    assert read_usage(tmp_path, reason)["reason"] == reason


def test_a_backend_without_nvml_neither_preloads_nor_starts_it_per_rank(tmp_path: Path) -> None:
    """This machine has no driver: the backend finds that once, its fork server does not
    import NVML's bindings, and its rank shows the reason the backend found. (Where NVML
    works, the fork server preloads it and the ranks are left to sample.)"""
    from tests.test_local_launch import backend, launch, wait_exit

    b = backend(tmp_path)  # the service's own account: no account to make
    reason = b._nvml_unavailable
    rank = launch(1, tmp_path)
    assert isinstance(b.start_ranks([rank])[0], dict)
    server = b._launcher
    maps = Path(f"/proc/{server.pid}/maps").read_text()
    if not reason:  # a machine with a driver
        assert "--no-nvml" not in server.args and "_ctypes" in maps, "NVML preloaded"
        return
    assert reason.startswith(f"{NO_DATA}: NVML is not"), reason
    assert server.args[-1] == "--no-nvml"
    assert "_ctypes" not in maps, "NVML's bindings (ctypes) are not loaded"
    wait_exit(b, rank.key)
    assert b.gpu_usage(rank.key)["reason"] == reason
    assert not (b.control_dir(rank.key) / GPU_STATS).exists(), "no file per rank"
    server.stdin.close()
    server.wait(timeout=10)
