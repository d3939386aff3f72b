"""One rank environment (issue #16): a local ``hai-cli python x.py ++`` run gets every
variable a rank on the cluster gets, from the same definition (hai_client/rank_env.py)."""

from __future__ import annotations

from hai_client.local_run import rank_environment
from hai_client.rank_env import rank_variables as core_variables
from scheduler.model.orm import Chain, Job, JobRank
from scheduler.service.rank_env import rank_variables


def cluster_rank() -> dict[str, str]:
    chain = Chain(id=7, name="train", node_count=2, priority=4, environment={"LR": "1"})
    chain.suspend_count, chain.whole_life_state = 1, 12
    job = Job(seq=1)
    job.ranks = [JobRank(rank=i, node=f"n{i}", master_port=4242) for i in (0, 1)]
    return rank_variables(chain, job, 1, job.ranks[1])


def test_the_cluster_rank_gets_the_chain_and_rank_variables() -> None:
    env = cluster_rank()
    assert env["LR"] == "1" and env["RANK"] == "1" and env["WORLD_SIZE"] == "2"
    assert env["MASTER_PORT"] == "4242" and env["HAI_PRIORITY"] == "HIGH"
    assert env["HAI_IS_RESUME"] == "1" and env["HAI_JOB_SEQ"] == "1"
    assert env["HAI_CHAIN_ID"] == "7" and env["HAI_WHOLE_LIFE_STATE"] == "12"


def test_a_local_run_sets_every_variable_a_cluster_rank_gets() -> None:
    local = rank_environment(env_name=None, control_dir="/tmp/ctl", job_seq=2)
    cluster = set(cluster_rank()) - {"LR"}  # the chain's own variables aside
    assert cluster <= set(local), cluster - set(local)
    assert local["HAI_CHAIN_ID"] == "local" and local["HAI_IS_RESUME"] == "1"
    assert local["MASTER_ADDR"] == "127.0.0.1" and local["HAI_CONTROL_DIR"] == "/tmp/ctl"
    assert local["HAI_PRIORITY"] == "NORMAL"


def test_the_rank_variables_are_defined_once() -> None:
    """The scheduler's builder only adapts database rows to the core definition."""
    import inspect

    import scheduler.service.rank_env as adapter

    assert "HAI_" not in inspect.getsource(adapter).replace("``HAI_", "")
    assert core_variables.__module__ == "hai_client.rank_env"
