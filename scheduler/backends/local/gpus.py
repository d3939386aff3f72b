"""GPU discovery through NVML (nvidia-ml-py): GPUs, MIG mode and MIG devices.

With no NVIDIA driver (or no pynvml) every function reports no GPUs, cleanly: callers
then fall back to simulated slots.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MigDevice:
    uuid: str
    gpu_index: int
    index: int
    profile: str  # e.g. "1g.10gb"
    memory_bytes: int


@dataclass(frozen=True, slots=True)
class GpuInfo:
    index: int
    uuid: str
    name: str
    memory_bytes: int
    mig_enabled: bool = False
    mig_devices: tuple[MigDevice, ...] = field(default_factory=tuple)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _mig_profile(name: str) -> str:
    # "NVIDIA H100 80GB HBM3 MIG 1g.10gb" -> "1g.10gb"
    return name.rsplit(" ", 1)[-1] if "MIG" in name else name


def discover_gpus() -> list[GpuInfo]:
    """All GPUs NVML sees, with their MIG devices; [] when there is no driver."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        log.debug("no NVIDIA driver: %s", exc)
        return []
    try:
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            mig_enabled = False
            migs: list[MigDevice] = []
            try:
                current, _pending = pynvml.nvmlDeviceGetMigMode(h)
                mig_enabled = current == pynvml.NVML_DEVICE_MIG_ENABLE
            except pynvml.NVMLError:
                pass
            if mig_enabled:
                for j in range(pynvml.nvmlDeviceGetMaxMigDeviceCount(h)):
                    try:
                        mh = pynvml.nvmlDeviceGetMigDeviceHandleByIndex(h, j)
                    except pynvml.NVMLError:
                        continue
                    migs.append(
                        MigDevice(
                            uuid=_text(pynvml.nvmlDeviceGetUUID(mh)),
                            gpu_index=i,
                            index=j,
                            profile=_mig_profile(_text(pynvml.nvmlDeviceGetName(mh))),
                            memory_bytes=pynvml.nvmlDeviceGetMemoryInfo(mh).total,
                        )
                    )
            gpus.append(
                GpuInfo(
                    index=i,
                    uuid=_text(pynvml.nvmlDeviceGetUUID(h)),
                    name=_text(pynvml.nvmlDeviceGetName(h)),
                    memory_bytes=pynvml.nvmlDeviceGetMemoryInfo(h).total,
                    mig_enabled=mig_enabled,
                    mig_devices=tuple(migs),
                )
            )
        return gpus
    except pynvml.NVMLError as exc:
        log.warning("NVML failed while listing GPUs: %s", exc)
        return []
    finally:
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()
