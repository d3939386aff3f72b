"""A stand-in for nvidia-ml-py's ``pynvml`` with two GPUs and one MIG device, for tests
on machines without an NVIDIA driver (tests/test_gpu_stats.py puts this folder first on
PYTHONPATH, so rank supervisors import it instead of the real module).

GPU ``i`` is ``(40 + 10 i) %`` busy with ``i + 1`` GiB of its 80 GiB in use; the MIG
device ``MIG-fake-0`` reports memory but no utilisation, as real MIG devices do.
"""

from types import SimpleNamespace

GIB = 1 << 30
MIG_UUID = "MIG-fake-0"


class NVMLError(Exception):
    pass


def nvmlInit():
    return None


def nvmlShutdown():
    return None


def nvmlDeviceGetCount():
    return 2


def nvmlDeviceGetHandleByIndex(index):
    if not 0 <= index < 2:
        raise NVMLError("Invalid Argument")
    return index


def nvmlDeviceGetHandleByUUID(uuid):
    if uuid != MIG_UUID:
        raise NVMLError("Not Found")
    return "mig"


def nvmlDeviceGetUtilizationRates(handle):
    if handle == "mig":
        raise NVMLError("Not Supported")
    return SimpleNamespace(gpu=40 + 10 * handle, memory=5)


def nvmlDeviceGetMemoryInfo(handle):
    used = GIB // 2 if handle == "mig" else (handle + 1) * GIB
    return SimpleNamespace(used=used, total=80 * GIB, free=80 * GIB - used)
