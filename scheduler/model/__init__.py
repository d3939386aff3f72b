"""The domain model shared by the scheduler, the API, the CLI and the UI.

Everything that names a chain, a job, a rank, a node, a quota or a priority
imports it from here; the one state machine lives in :mod:`scheduler.model.states`.
"""

from scheduler.model.enums import ChainState, NodeState, Priority, RankState, StopCode
from scheduler.model.states import IllegalTransition

__all__ = [
    "ChainState",
    "IllegalTransition",
    "NodeState",
    "Priority",
    "RankState",
    "StopCode",
]
