"""A rank's GPU utilisation as the API shows it, next to the rank.

The backend says what it sampled (:meth:`scheduler.backends.base.Backend.gpu_usage`);
``GET /chains/{ref}/ranks/{rank}`` shows every kept sample, ``GET /chains/{ref}`` the
newest one for each rank of the current job that still holds its node. Without data the
rank shows ``available: false`` and the reason ("no GPU data: NVML is not available ...").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import ValidationError

from scheduler.backends.base import Backend, RankKey
from scheduler.model.enums import RankState
from scheduler.service import schema

#: the usage of a rank that has not started
NOT_STARTED = {"available": False, "reason": "no GPU data: the rank has not started"}


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")


def _sample(sample: dict[str, Any]) -> dict[str, Any]:
    return {"time": _iso(sample["time"]), "gpus": sample.get("gpus", {})}


#: what a rank shows when the samples its supervisor wrote do not have the API's shape
MALFORMED = {"available": False, "reason": "no GPU data: the rank's samples are malformed"}


def as_model(view: dict[str, Any]) -> schema.RankGpu:
    """``view`` as the API's :class:`~scheduler.service.schema.RankGpu`. The samples come
    from a file the rank's account writes (untrusted): one that does not fit shows as no
    data instead of failing the answer."""
    try:
        return schema.RankGpu(**view)
    except (ValidationError, TypeError):
        return schema.RankGpu(**MALFORMED)


def full_view(usage: dict[str, Any]) -> dict[str, Any]:
    """Every sample the backend kept, oldest first (times in ISO 8601 UTC)."""
    return {
        "available": bool(usage.get("available")),
        "reason": usage.get("reason", ""),
        "interval_seconds": usage.get("interval_seconds"),
        "samples": [_sample(s) for s in usage.get("samples", [])],
    }


def latest_view(usage: dict[str, Any]) -> dict[str, Any]:
    """The newest sample only (``time`` and ``gpus`` are null without one)."""
    samples = usage.get("samples") or []
    newest = _sample(samples[-1]) if samples else {"time": None, "gpus": None}
    return {"available": bool(usage.get("available")), "reason": usage.get("reason", ""), **newest}


def add_latest(backend: Backend, chain: schema.Chain) -> schema.Chain:
    """``chain`` (with jobs) with ``gpu`` on each active rank of its current job."""
    if not chain.jobs:
        return chain
    job = chain.jobs[-1]
    for rank in job.ranks:
        if not RankState(rank.state).is_terminal:
            key = RankKey(chain.id, job.seq, rank.rank)
            rank.gpu = as_model(latest_view(backend.gpu_usage(key)))
    return chain
