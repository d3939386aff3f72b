"""Housekeeping: which pods and services to delete, decided from the cluster and the DB.

The loop stops polling a rank once it is terminal, and a scheduler that restarts finds
pods it may know nothing about; so the backend sweeps now and then (and once at start):

- a pod without a rank row in the database is an orphan: deleted;
- a pod whose rank is terminal has served its purpose: its log is archived, then it is
  deleted;
- a pod stuck in deletion (its node is gone, the kubelet never confirms) for longer than
  ``force_after`` past its deletion deadline is deleted with grace 0, so its rank ends;
- a job's headless service goes once no pod of the job exists and no rank of it is active.

:func:`plan_sweep` is pure; the rank states come from the service, through
:attr:`scheduler.backends.base.Backend.rank_states` (a backend never reads the database).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from scheduler.backends.kubernetes import names
from scheduler.backends.kubernetes.mapping import parse_time
from scheduler.backends.types import RankKey
from scheduler.model.enums import RankState


@dataclass
class SweepPlan:
    delete_orphans: list[RankKey] = field(default_factory=list)
    delete_finished: list[RankKey] = field(default_factory=list)  # archive the log first
    force_delete: list[RankKey] = field(default_factory=list)
    delete_services: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (
            self.delete_orphans or self.delete_finished or self.force_delete or self.delete_services
        )


def plan_sweep(
    pods: dict[RankKey, dict[str, Any]],
    services: Iterable[dict[str, Any]],
    ranks: dict[RankKey, str],
    *,
    now: float,
    force_after: float,
) -> SweepPlan:
    """``ranks``: the state of every rank row of the pods' chains (missing = no row)."""
    plan = SweepPlan()
    for key, pod in sorted(
        pods.items(), key=lambda kv: (kv[0].chain_id, kv[0].job_seq, kv[0].rank)
    ):
        meta = pod.get("metadata") or {}
        deleting = parse_time(meta.get("deletionTimestamp"))
        if deleting is not None:
            if force_after > 0 and now >= deleting + force_after:
                plan.force_delete.append(key)
            continue
        state = ranks.get(key)
        if state is None:
            plan.delete_orphans.append(key)
        elif RankState(state).is_terminal:
            plan.delete_finished.append(key)
    jobs_with_pods = {(k.chain_id, k.job_seq) for k in pods}
    active_jobs = {
        (k.chain_id, k.job_seq) for k, s in ranks.items() if not RankState(s).is_terminal
    }
    for svc in services:
        job = names.job_from_labels((svc.get("metadata") or {}).get("labels"))
        if job is None or job in jobs_with_pods or job in active_jobs:
            continue
        plan.delete_services.append(svc["metadata"]["name"])
    return plan
