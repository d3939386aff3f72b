"""``hai-cli validate``: is this node fit to run training? GPUs and driver (through NVML),
free disk space, and the haienv root.

Each check returns ``{"check", "status", "detail"}`` with status ``ok``, ``warn``,
``skip`` or ``fail``; only ``fail`` makes the command exit non-zero.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

GIB = 1 << 30


def _result(check: str, status: str, detail: str) -> dict[str, Any]:
    return {"check": check, "status": status, "detail": detail}


def check_gpus(require: bool = False) -> list[dict[str, Any]]:
    """GPU count, names, memory and the driver version as NVML reports them."""
    try:
        import pynvml
    except ImportError:
        status = "fail" if require else "skip"
        return [_result("gpus", status, "pynvml (nvidia-ml-py) is not installed")]
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        status = "fail" if require else "skip"
        return [_result("gpus", status, f"no NVIDIA driver reachable through NVML ({exc})")]
    out = []
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        driver = driver.decode() if isinstance(driver, bytes) else driver
        count = pynvml.nvmlDeviceGetCount()
        out.append(_result("driver", "ok", f"NVIDIA driver {driver}"))
        if count == 0:
            out.append(_result("gpus", "fail" if require else "warn", "the driver sees no GPU"))
        for i in range(count):
            try:
                h = pynvml.nvmlDeviceGetHandleByIndex(i)
                name = pynvml.nvmlDeviceGetName(h)
                name = name.decode() if isinstance(name, bytes) else name
                mem = pynvml.nvmlDeviceGetMemoryInfo(h)
                detail = f"{name}, {mem.total / GIB:.0f} GiB, {mem.used / GIB:.1f} GiB used"
                try:
                    current, _pending = pynvml.nvmlDeviceGetMigMode(h)
                    if current:
                        detail += ", MIG on"
                except pynvml.NVMLError:
                    pass
                out.append(_result(f"gpu {i}", "ok", detail))
            except pynvml.NVMLError as exc:
                out.append(_result(f"gpu {i}", "fail", f"NVML error: {exc}"))
    finally:
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()
    return out


def check_disk(paths: dict[str, Path], min_free_gib: float) -> list[dict[str, Any]]:
    out = []
    for label, path in paths.items():
        probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        try:
            usage = shutil.disk_usage(probe)
        except OSError as exc:
            out.append(_result(f"disk {label}", "fail", f"{path}: {exc.strerror}"))
            continue
        free = usage.free / GIB
        status = "ok" if free >= min_free_gib else "fail"
        out.append(
            _result(
                f"disk {label}",
                status,
                f"{free:.1f} GiB free of {usage.total / GIB:.0f} GiB at {probe}",
            )
        )
    return out


def env_root() -> Path:
    """The haienv root, as haienv itself resolves it."""
    try:
        from haienv import load_config

        return Path(load_config().root_path)
    except Exception:
        return Path(os.environ.get("HAIENV_ROOT") or "~/.haienv").expanduser()


def check_env_root(root: Path) -> dict[str, Any]:
    if not root.exists():  # a fresh install: the first `haienv create` makes it
        parent = next((p for p in root.parents if p.exists()), None)
        if parent is not None and os.access(parent, os.W_OK | os.X_OK):
            return _result("env root", "ok", f"{root} (not made yet: haienv create makes it)")
        return _result("env root", "fail", f"{root} does not exist and cannot be made here")
    if not root.is_dir() or not os.access(root, os.R_OK | os.X_OK):
        return _result("env root", "fail", f"{root} is not a readable folder")
    try:
        entries = sum(1 for _ in root.iterdir())
    except OSError as exc:
        return _result("env root", "fail", f"{root}: {exc.strerror}")
    return _result("env root", "ok", f"{root} ({entries} entries)")


def run_checks(*, require_gpu: bool = False, min_free_gib: float = 1.0) -> list[dict[str, Any]]:
    root = env_root()
    results = check_gpus(require_gpu)
    results += check_disk({"home": Path.home(), "cwd": Path.cwd(), "env root": root}, min_free_gib)
    results.append(check_env_root(root))
    return results
