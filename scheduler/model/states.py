"""The one state machine: which chain and rank transitions are legal.

Every change of a chain's or a rank's state goes through :func:`check_chain` or
:func:`check_rank`; an illegal transition raises :class:`IllegalTransition` and is
never applied silently.
"""

from __future__ import annotations

from scheduler.model.enums import ChainState, RankState


class IllegalTransition(RuntimeError):
    """Raised when code asks for a transition the state machine forbids."""


_C = ChainState
CHAIN_TRANSITIONS: dict[ChainState, frozenset[ChainState]] = {
    _C.WAITING_INIT: frozenset({_C.RUNNING, _C.FINISHED}),
    _C.RUNNING: frozenset({_C.SUSPENDED, _C.FINISHED}),
    _C.SUSPENDED: frozenset({_C.RUNNING, _C.FINISHED}),
    _C.FINISHED: frozenset(),
}

_R = RankState
_ENDINGS = frozenset(
    {
        _R.SUCCEEDED_TERMINATING,
        _R.FAILED_TERMINATING,
        _R.STOPPED_TERMINATING,
        _R.SUCCEEDED,
        _R.FAILED,
        _R.STOPPED,
    }
)
RANK_TRANSITIONS: dict[RankState, frozenset[RankState]] = {
    _R.CREATED: frozenset({_R.BUILDING, _R.UNSCHEDULABLE, _R.RUNNING}) | _ENDINGS,
    _R.BUILDING: frozenset({_R.RUNNING, _R.UNSCHEDULABLE}) | _ENDINGS,
    _R.UNSCHEDULABLE: frozenset({_R.BUILDING, _R.RUNNING}) | _ENDINGS,
    _R.RUNNING: _ENDINGS,
    _R.SUCCEEDED_TERMINATING: frozenset({_R.SUCCEEDED, _R.FAILED}),
    _R.FAILED_TERMINATING: frozenset({_R.FAILED}),
    _R.STOPPED_TERMINATING: frozenset({_R.STOPPED}),
    _R.SUCCEEDED: frozenset(),
    _R.FAILED: frozenset(),
    _R.STOPPED: frozenset(),
}


def check_chain(old: ChainState, new: ChainState) -> None:
    """Raise IllegalTransition unless a chain may go from ``old`` to ``new``."""
    if new not in CHAIN_TRANSITIONS[old]:
        raise IllegalTransition(f"chain cannot go from {old.value} to {new.value}")


def check_rank(old: RankState, new: RankState) -> None:
    """Raise IllegalTransition unless a rank may go from ``old`` to ``new``."""
    if new not in RANK_TRANSITIONS[old]:
        raise IllegalTransition(f"rank cannot go from {old.value} to {new.value}")


def terminating_to_final(state: RankState) -> RankState:
    """The terminal state a ``*_terminating`` state ends in."""
    return {
        _R.SUCCEEDED_TERMINATING: _R.SUCCEEDED,
        _R.FAILED_TERMINATING: _R.FAILED,
        _R.STOPPED_TERMINATING: _R.STOPPED,
    }[state]
