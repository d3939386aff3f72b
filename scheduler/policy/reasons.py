"""The human-readable reasons a pending chain is not started this cycle.

One function per reason, shared by :mod:`scheduler.policy.decide` and the reference
implementation, so users see the same wording wherever a chain waits.
"""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.model.enums import Priority


def _nodes(n: int) -> str:
    return f"{n} node" if n == 1 else f"{n} nodes"


def unknown_group(group: str) -> str:
    return f"unknown node group '{group}'"


def invalid_node_count(node_count: int) -> str:
    return f"invalid node_count {node_count}: a chain needs at least 1 node"


def invalid_priority(priority: int) -> str:
    low, high = min(Priority), max(Priority)
    return (
        f"invalid priority {priority}: must be {int(low)} ({low.name}) to {int(high)} ({high.name})"
    )


def group_too_small(need: int, group: str, total: int) -> str:
    return f"needs {_nodes(need)} but group '{group}' has only {_nodes(total)}"


def too_few_schedulable(need: int, group: str, schedulable: int, total: int) -> str:
    return (
        f"needs {_nodes(need)} but only {schedulable} of the {_nodes(total)} of group "
        f"'{group}' are schedulable (the others are draining or offline)"
    )


def over_quota(resource: str, limit: int, in_use: int, need: int) -> str:
    return f"over quota {resource}: limit {limit}, in use {in_use}, needs {need}"


def waiting_for_release(count: int, group: str) -> str:
    return f"waiting for preempted chains to release {_nodes(count)} in group '{group}'"


def preempting(victims: Sequence[int], count: int, group: str) -> str:
    ids = ", ".join(str(v) for v in victims)
    return (
        f"preempting chain(s) {ids} in group '{group}'; waiting for them to release {_nodes(count)}"
    )


def no_nodes(need: int, group: str, free: int, releasing: int) -> str:
    return (
        f"waiting for nodes in group '{group}': needs {need}, {free} free, "
        f"{releasing} being released, not enough lower-priority chains to preempt"
    )
