"""A chain's GPU time as the sidebar shows it (``hai_labextension.gpu_time``): ranks of
every job, the accounting's GPUs-per-rank rule, running ranks left to the browser."""

from __future__ import annotations

from hai_labextension.gpu_time import gpu_time, node_gpus

NODES = [{"name": "g", "node_list": [{"name": "a", "gpus": 8}, {"name": "b", "gpus": 2}]}]


def rank(node: str, start: str | None, end: str | None) -> dict:
    return {"node": node, "started_at": start, "ended_at": end}


def test_jobs_ranks_and_gpus_per_node() -> None:
    chain = {
        "gpus_per_node": 4,
        "jobs": [
            {  # preempted after an hour: 4 GPUs on a, at most 2 on b
                "ranks": [
                    rank("a", "2026-12-01T10:00:00+00:00", "2026-12-01T11:00:00+00:00"),
                    rank("b", "2026-12-01T10:00:00+00:00", "2026-12-01T11:00:00+00:00"),
                ]
            },
            {  # resumed: one rank never started, one runs
                "ranks": [
                    rank("a", None, None),
                    rank("b", "2026-12-01T12:00:00+00:00", None),
                ]
            },
        ],
    }
    assert node_gpus(NODES) == {"a": 8, "b": 2}
    assert gpu_time(chain, node_gpus(NODES)) == {
        "gpu_seconds": 6 * 3600.0,
        "running": [{"started_at": "2026-12-01T12:00:00+00:00", "gpus": 2}],
    }


def test_without_gpus_per_node_a_rank_holds_its_whole_node() -> None:
    chain = {
        "gpus_per_node": None,
        "jobs": [{"ranks": [rank("a", "2026-12-01T10:00:00Z", "2026-12-01T10:30:00Z")]}],
    }
    assert gpu_time(chain, node_gpus(NODES))["gpu_seconds"] == 4 * 3600.0
    assert gpu_time({"jobs": []}, {}) == {"gpu_seconds": 0.0, "running": []}
