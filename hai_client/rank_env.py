"""The environment variables every rank gets: one definition for a rank on the cluster (the
scheduler starts it with them; the API shows them to ``hai-cli ssh``) and a local run of
``hai-cli python train.py ++``, so code debugged locally sees what it will see there.

The backend adds what depends on where the rank runs (``MASTER_ADDR``, ``HAI_NODE``,
``HAI_CONTROL_DIR``, ``CUDA_VISIBLE_DEVICES``); a local run sets those for this machine.
Pure: no database, no scheduler import (this module is in the core install).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MASTER_PORT = 29500  # torch.distributed's default, when no port was picked


@dataclass(frozen=True, slots=True)
class RankContext:
    """What a rank's variables say about its chain, job and place in the job."""

    chain_id: str
    chain_name: str
    rank: int
    world_size: int
    job_seq: int
    suspend_count: int
    whole_life_state: int
    priority: str  # the priority's name, e.g. NORMAL
    master_port: int = DEFAULT_MASTER_PORT


def rank_variables(ctx: RankContext) -> dict[str, str]:
    """``RANK``, ``WORLD_SIZE``, ``MASTER_PORT`` and the ``HAI_*`` variables of one rank."""
    return {
        "RANK": str(ctx.rank),
        "WORLD_SIZE": str(ctx.world_size),
        "MASTER_PORT": str(ctx.master_port),
        "HAI_CHAIN_ID": ctx.chain_id,
        "HAI_CHAIN_NAME": ctx.chain_name,
        "HAI_JOB_SEQ": str(ctx.job_seq),
        "HAI_IS_RESUME": "1" if ctx.job_seq > 0 else "0",
        "HAI_SUSPEND_COUNT": str(ctx.suspend_count),
        "HAI_WHOLE_LIFE_STATE": str(ctx.whole_life_state),
        "HAI_PRIORITY": ctx.priority,
    }


def free_port() -> int:
    """A TCP port free on this machine now (for a job's ``MASTER_PORT``)."""
    import socket  # only a run that starts a rank needs it (hai-cli's start-up)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
