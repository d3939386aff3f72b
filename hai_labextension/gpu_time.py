"""A chain's GPU time for the sidebar's chain details, from what the chain JSON carries.

Every rank of every job has ``started_at`` and ``ended_at``, and the chain its
``gpus_per_node``; the GPUs a rank holds follow the accounting's one rule
(:func:`scheduler.accounting.segments.rank_gpus`: what the chain asked per node, at most
the node's, else the whole node), for which the node's GPU count comes from ``GET /nodes``.
Ended ranks are summed here (``gpu_seconds``); running ones are listed with their start
and GPUs (``running``) so that the browser counts them up to its "now". Suspended time
counts nothing, as in the accounting (a resumed chain runs new ranks).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from scheduler.accounting.segments import rank_gpus


def node_gpus(groups: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Node name -> GPUs, from ``GET /nodes``' groups."""
    return {n["name"]: int(n["gpus"]) for g in groups for n in g.get("node_list", [])}


def _seconds(start: str, end: str) -> float:
    return max(
        0.0, (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds()
    )


def gpu_time(chain: Mapping[str, Any], gpus_of: Mapping[str, int]) -> dict[str, Any]:
    """``{"gpu_seconds": <ended ranks>, "running": [{"started_at", "gpus"}]}``."""
    ended = 0.0
    running: list[dict[str, Any]] = []
    per_node = chain.get("gpus_per_node")
    for job in chain.get("jobs") or []:
        for rank in job.get("ranks") or []:
            start = rank.get("started_at")
            if not start:
                continue  # never started: counts nothing
            gpus = rank_gpus(per_node, gpus_of.get(rank.get("node") or ""))
            if rank.get("ended_at"):
                ended += _seconds(start, rank["ended_at"]) * gpus
            else:
                running.append({"started_at": start, "gpus": gpus})
    return {"gpu_seconds": round(ended, 3), "running": running}
