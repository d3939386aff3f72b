"""The environment variables a rank gets, in one place: the scheduler uses it to start a
rank, the API to tell ``hai-cli ssh`` what a rank's environment is."""

from __future__ import annotations

from scheduler.model.enums import Priority
from scheduler.model.orm import Chain, Job, JobRank


def rank_variables(
    chain: Chain, job: Job | None, rank: int, rank_row: JobRank | None = None
) -> dict[str, str]:
    """The chain's own variables plus the rank's (the backend adds node-specific ones:
    ``CUDA_VISIBLE_DEVICES``, ``MASTER_ADDR``, ``HAI_CONTROL_DIR``, ``HAI_NODE``)."""
    env = {str(k): str(v) for k, v in (chain.environment or {}).items()}
    world = len(job.ranks) if job is not None and job.ranks else chain.node_count
    handle = (rank_row.handle or {}) if rank_row is not None else {}
    env.update(
        {
            "RANK": str(rank),
            "WORLD_SIZE": str(world),
            "MASTER_PORT": str(handle.get("master_port", 29500)),
            "HAI_CHAIN_ID": str(chain.id),
            "HAI_CHAIN_NAME": chain.name,
            "HAI_JOB_SEQ": str(job.seq if job is not None else 0),
            "HAI_IS_RESUME": "1" if job is not None and job.is_resume else "0",
            "HAI_SUSPEND_COUNT": str(chain.suspend_count),
            "HAI_WHOLE_LIFE_STATE": str(chain.whole_life_state),
            "HAI_PRIORITY": Priority(chain.priority).name,
        }
    )
    return env
