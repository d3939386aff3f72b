"""Per-rank GPU utilisation: sampled through NVML by the rank's supervisor, read by the service.

The supervisor (:mod:`.runner`) makes a :class:`GpuSampler` for the GPUs given to its rank
(the ids of ``CUDA_VISIBLE_DEVICES``: indices, or GPU/MIG UUIDs) and calls
:meth:`GpuSampler.tick` from its loop. Every ``interval`` seconds it reads each GPU's
utilisation and memory in use and rewrites ``gpu.json`` in the rank's private control
folder (the service's, trusted) with the last ``keep`` samples: bounded in memory and on
disk. Without NVML (no ``pynvml``, no driver, simulated GPU ids, or no GPU at all) the file
says so once — ``available: false`` and the reason — and nothing is sampled; where the
backend found that NVML does not work on this machine, no file is written at all (the
backend gives its reason, :func:`read_usage`).

:func:`read_usage` is the service's side: the file as the API shows it next to the rank.
"""

from __future__ import annotations

import contextlib
import importlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from hai_client.files import write_json_atomic
from scheduler.backends.local import control

GPU_STATS = "gpu.json"
NO_DATA = "no GPU data"


class GpuSampler:
    """Samples the rank's GPUs every ``interval`` seconds into ``path`` (last ``keep``)."""

    def __init__(
        self,
        gpu_ids: Sequence[str],
        path: Path,
        *,
        interval: float = 5.0,
        keep: int = 60,
        nvml: ModuleType | None = None,
        clock: Callable[[], float] = time.time,
        unavailable: str = "",
    ) -> None:
        self.gpu_ids = [str(g) for g in gpu_ids]
        self.path = path
        self.interval = interval
        self.samples: deque[dict[str, Any]] = deque(maxlen=max(1, keep))
        self.clock = clock
        self._nvml = nvml
        self._handles: dict[str, Any] = {}
        self._next = 0.0
        self.reason = self._open(unavailable)
        if self.reason and self.reason != unavailable:  # the backend knows its own reason
            self._write(available=False)

    # -- NVML -------------------------------------------------------------------------
    def _open(self, unavailable: str) -> str:
        """Find the rank's devices; the reason there is no data ('' when there is).
        ``unavailable``: why NVML is not there, as the backend found once for every rank
        (:func:`nvml_unavailable`); the supervisor then neither imports nor starts it."""
        if not self.gpu_ids:
            return f"{NO_DATA}: the rank has no GPUs"
        if unavailable:
            return unavailable
        self._nvml, reason = _start_nvml(self._nvml)
        if reason:
            return reason
        missing = []
        for gpu in self.gpu_ids:
            try:
                self._handles[gpu] = self._handle(gpu)
            except Exception:
                missing.append(gpu)
        if not self._handles:
            self.close()
            return f"{NO_DATA}: NVML has no device {', '.join(missing)} (simulated GPUs?)"
        return ""

    def _handle(self, gpu: str) -> Any:
        if gpu.isdigit():
            return self._nvml.nvmlDeviceGetHandleByIndex(int(gpu))
        return self._nvml.nvmlDeviceGetHandleByUUID(gpu)

    def _read(self, handle: Any) -> dict[str, Any]:
        """One device now: utilisation (0-1) and memory, or why it cannot say (MIG devices
        report no utilisation)."""
        out: dict[str, Any] = {}
        try:
            out["utilization"] = self._nvml.nvmlDeviceGetUtilizationRates(handle).gpu / 100.0
        except Exception as exc:
            out["error"] = str(exc) or type(exc).__name__
        with contextlib.suppress(Exception):
            memory = self._nvml.nvmlDeviceGetMemoryInfo(handle)
            out["memory_used_bytes"] = int(memory.used)
            out["memory_total_bytes"] = int(memory.total)
        return out

    # -- the supervisor's side ------------------------------------------------------------
    def tick(self) -> bool:
        """Sample if ``interval`` has passed since the last sample; True if it did."""
        now = self.clock()
        if self.reason or now < self._next:
            return False
        self._next = now + self.interval
        gpus = {gpu: self._read(handle) for gpu, handle in self._handles.items()}
        self.samples.append({"time": now, "gpus": gpus})
        self._write(available=True)
        return True

    def _write(self, *, available: bool) -> None:
        with contextlib.suppress(OSError):  # statistics never stop a rank
            self._write_file(available)

    def _write_file(self, available: bool) -> None:
        write_json_atomic(
            self.path,
            {
                "available": available,
                "reason": self.reason,
                "interval_seconds": self.interval,
                "gpu_ids": self.gpu_ids,
                "samples": list(self.samples),
            },
        )

    def close(self) -> None:
        if self._nvml is not None:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
            self._nvml = None


def _start_nvml(nvml: ModuleType | None) -> tuple[ModuleType | None, str]:
    """NVML's bindings, initialised (``nvml`` or the installed ``pynvml``), or None and
    the reason it cannot be used."""
    if nvml is None:
        try:
            nvml = importlib.import_module("pynvml")
        except ImportError:
            return None, f"{NO_DATA}: NVML is not installed (the nvidia-ml-py package)"
    try:
        nvml.nvmlInit()
    except Exception as exc:  # NVMLError: no driver, no library
        return None, f"{NO_DATA}: NVML is not available ({exc})"
    return nvml, ""


def nvml_unavailable() -> str:
    """Why no rank on this machine can sample its GPUs ('' when NVML is there): asked once
    by the backend, so that on a machine without a driver no supervisor imports NVML's
    bindings or tries to start it (with the fork server's preload, ~10 % of a rank's CPU)."""
    nvml, reason = _start_nvml(None)
    if nvml is not None:
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()
    return reason


def sampler_for(spec: dict[str, Any], control_dir: Path) -> GpuSampler:
    """The sampler a supervisor runs for the rank its ``spec.json`` describes."""
    return GpuSampler(
        spec.get("gpu_ids") or [],
        control_dir / GPU_STATS,
        interval=float(spec.get("gpu_sample_seconds", 5.0)),
        keep=int(spec.get("gpu_samples_kept", 60)),
        unavailable=spec.get("gpu_unavailable", ""),
    )


def read_usage(control_dir: Path, unavailable: str = "") -> dict[str, Any]:
    """What the rank's supervisor last wrote (``available``, ``reason``, ``samples``);
    without a file, ``unavailable`` (why the backend found no NVML: its supervisors write
    no file to say so) or that there is no data yet."""
    stats = control.read_json(control_dir / GPU_STATS)
    if not isinstance(stats, dict):
        return {"available": False, "reason": unavailable or f"{NO_DATA} yet", "samples": []}
    return stats
