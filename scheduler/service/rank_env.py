"""A rank's environment from the database rows: the chain's own variables plus the rank
variables of :mod:`hai_client.rank_env` (their one definition, shared with local runs).
The scheduler uses it to start a rank, the API to tell ``hai-cli ssh`` what a rank's
environment is."""

from __future__ import annotations

from hai_client.rank_env import DEFAULT_MASTER_PORT, RankContext
from hai_client.rank_env import rank_variables as _variables
from scheduler.model.enums import Priority
from scheduler.model.orm import Chain, Job, JobRank


def rank_variables(
    chain: Chain, job: Job | None, rank: int, rank_row: JobRank | None = None
) -> dict[str, str]:
    """The chain's own variables plus the rank's (the backend adds node-specific ones:
    ``CUDA_VISIBLE_DEVICES``, ``MASTER_ADDR``, ``HAI_CONTROL_DIR``, ``HAI_NODE``)."""
    env = {str(k): str(v) for k, v in (chain.environment or {}).items()}
    port = rank_row.master_port if rank_row is not None else None
    context = RankContext(
        chain_id=str(chain.id),
        chain_name=chain.name,
        rank=rank,
        world_size=len(job.ranks) if job is not None and job.ranks else chain.node_count,
        job_seq=job.seq if job is not None else 0,
        suspend_count=chain.suspend_count,
        whole_life_state=chain.whole_life_state,
        priority=Priority(chain.priority).name,
        master_port=DEFAULT_MASTER_PORT if port is None else port,
    )
    env.update(_variables(context))
    return env
