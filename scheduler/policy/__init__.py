"""The scheduling policy: a pure function from plain data to a decision.

Given the pending chains, the running chains, the nodes, the quotas, the configuration and
the clock (passed in), :func:`decide` returns which chains to start on which nodes, which
running chains to suspend, and why every other pending chain waits. No database, no
processes, no ``time.time()``. The rules are in ``docs/scheduling-policy.md``.
"""

from scheduler.policy.decide import decide
from scheduler.policy.fairshare import fair_share_score
from scheduler.policy.ordering import effective_priority, queue_order
from scheduler.policy.types import (
    SPOT_PRIORITY,
    TOTAL_NODES,
    Decision,
    FairShareConfig,
    FairShareUsage,
    NodeView,
    PendingChain,
    Placement,
    PolicyConfig,
    QuotaTable,
    RunningChain,
    quota_resource,
)

__all__ = [
    "SPOT_PRIORITY",
    "TOTAL_NODES",
    "Decision",
    "FairShareConfig",
    "FairShareUsage",
    "NodeView",
    "PendingChain",
    "Placement",
    "PolicyConfig",
    "QuotaTable",
    "RunningChain",
    "decide",
    "effective_priority",
    "fair_share_score",
    "queue_order",
    "quota_resource",
]
