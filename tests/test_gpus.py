"""GPU discovery through NVML degrades cleanly without a driver; nodes fall back to
simulated slots. (On a GPU machine the same calls list real GPUs and MIG devices.)"""

from __future__ import annotations

import sys
import types

import pytest

from scheduler.backends.local import gpus
from scheduler.backends.local.backend import LocalBackend


def test_no_driver_means_no_gpus_and_no_error() -> None:
    found = gpus.discover_gpus()
    assert isinstance(found, list)
    for gpu in found:  # only on a machine with a driver
        assert gpu.uuid.startswith("GPU-")


def test_default_nodes_use_mig_devices_and_whole_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    mig = gpus.MigDevice(uuid="MIG-1", gpu_index=0, index=0, profile="1g.10gb", memory_bytes=1)
    fake = [
        gpus.GpuInfo(
            index=0, uuid="GPU-a", name="H100", memory_bytes=8, mig_enabled=True, mig_devices=(mig,)
        ),
        gpus.GpuInfo(index=1, uuid="GPU-b", name="H100", memory_bytes=8),
    ]
    monkeypatch.setattr("scheduler.backends.local.backend.discover_gpus", lambda: fake)
    nodes = {n.name: n for n in LocalBackend(data_dir="/tmp").discover_nodes()}
    assert nodes["jupyter-0"].gpu_ids == ("MIG-1",) and nodes["jupyter-0"].group == "jupyter"
    assert nodes["local-0"].gpu_ids == ("1",) and nodes["local-0"].group == "default"


def test_without_gpus_the_nodes_are_simulated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("scheduler.backends.local.backend.discover_gpus", lambda: [])
    backend = LocalBackend(data_dir="/tmp", simulated_gpus=2, simulated_mig_slices=3)
    nodes = {n.name: n for n in backend.discover_nodes()}
    assert nodes["jupyter-0"].gpu_ids == ("sim-mig-0", "sim-mig-1", "sim-mig-2")
    assert nodes["local-0"].gpu_ids == ("sim-0", "sim-1")


def test_nvml_errors_are_reported_as_no_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    class NVMLError(Exception):
        pass

    def fail() -> None:
        raise NVMLError("Driver Not Loaded")

    fake = types.SimpleNamespace(NVMLError=NVMLError, nvmlInit=fail)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    assert gpus.discover_gpus() == []


def test_rank_cgroup_names_differ_between_schedulers_on_one_machine(tmp_path) -> None:
    """Two schedulers' chain 1 rank 0 must not share a cgroup: ending one rank kills every
    member of its cgroup (a test run beside another one lost its first chain that way)."""
    from scheduler.backends.base import RankKey

    key = RankKey(1, 0, 0)
    one, two = (LocalBackend(data_dir=str(tmp_path / d)) for d in ("one", "two"))
    assert one.tree_name(key) != two.tree_name(key)
    assert one.tree_name(key) == LocalBackend(data_dir=str(tmp_path / "one")).tree_name(key)
    assert one.tree_name(key).endswith("-1-0-0")
