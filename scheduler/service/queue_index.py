"""The scheduling loop's in-memory view of the queue, kept in step with the database.

This module owns :class:`WaitingQueue` (every waiting and suspended chain as a light row,
with the :class:`~scheduler.policy.PendingChain` the policy reads, built once per change)
and :class:`ChangeNotes` (what writers tell the loop they changed).

Why: reading every waiting row and building the policy's input each cycle made the loop's
cost grow with the queue (~160 ms a cycle at 10,000 waiting, most of it not the policy).
Here a cycle re-reads only the chains someone changed:

- the API (same process) notes the ids it inserted or changed, after its commit, before it
  wakes the loop; the loop notes the chains it moved out of or back into the queue;
- a full reload at the first cycle and every ``queue_resync_seconds`` catches any writer
  that did not note its change (another process on the same database, a manual UPDATE).

Users' names and groups come from the loop's catalog (re-read on a note or every few
seconds), so a group change reaches the pending chains without touching the chain rows.
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.model.enums import ChainState
from scheduler.model.orm import Chain
from scheduler.policy import PendingChain
from scheduler.policy.ordering import queue_key

QUEUED_STATES = (ChainState.WAITING_INIT.value, ChainState.SUSPENDED.value)
_CHUNK = 500  # ids per ``IN (...)``: well under every database's parameter limit

#: user id -> (name, group)
Owners = Mapping[int, tuple[str, str | None]]


def epoch(value: Any) -> float:
    """A stored time as epoch seconds (0 when unset): what the policy reads."""
    return value.timestamp() if value else 0.0


@dataclass(slots=True)
class WaitingRow:
    """One queued chain as the loop needs it (no spec, no jobs)."""

    id: int
    owner_id: int
    state: str
    held: bool
    stop_requested: bool
    priority: int
    node_count: int
    group_name: str
    queued_at: float
    reason: str

    @property
    def schedulable(self) -> bool:
        return not self.held and not self.stop_requested


_COLUMNS = (
    Chain.id,
    Chain.owner_id,
    Chain.state,
    Chain.held,
    Chain.stop_requested_at,
    Chain.priority,
    Chain.node_count,
    Chain.group_name,
    Chain.queued_at,
    Chain.reason,
)


def _row(r: Any) -> WaitingRow:
    return WaitingRow(
        id=r.id,
        owner_id=r.owner_id,
        state=r.state,
        held=bool(r.held),
        stop_requested=r.stop_requested_at is not None,
        priority=r.priority,
        node_count=r.node_count,
        group_name=r.group_name,
        queued_at=epoch(r.queued_at),
        reason=r.reason or "",
    )


class WaitingQueue:
    """Waiting and suspended chains by id; ``version`` changes whenever the policy's input
    does, so an unchanged queue can skip the policy. The pending chains are kept in queue
    order (:func:`~scheduler.policy.ordering.queue_key`), so the policy need not sort them
    and can stop early (``decide(presorted=True, complete=False)``)."""

    def __init__(self) -> None:
        self.rows: dict[int, WaitingRow] = {}
        self._pending: dict[int, PendingChain] = {}
        self._order: list[PendingChain] = []  # the values of _pending, in queue order
        self._groups: Counter[str] = Counter()  # node group -> pending chains in it
        self._stops: set[int] = set()
        self._unknown_owner: set[int] = set()  # chains whose owner the catalog lacks
        self._owners: Owners = {}
        self.version = 0
        self.loaded = False

    # -- keeping in step ------------------------------------------------------------------
    def reload(self, s: Session, owners: Owners) -> None:
        """Read every queued chain (at start, and now and then as a safety net)."""
        self._owners = owners
        rows = s.execute(select(*_COLUMNS).where(Chain.state.in_(QUEUED_STATES)))
        self.rows = {r.id: _row(r) for r in rows}
        self._reindex()
        self.loaded = True
        self.version += 1

    def refresh(self, s: Session, ids: Iterable[int]) -> None:
        """Re-read these chains: added if queued now, dropped if not (started, finished)."""
        todo = sorted(set(ids))
        if not todo:
            return
        seen: set[int] = set()
        for start in range(0, len(todo), _CHUNK):
            chunk = todo[start : start + _CHUNK]
            for r in s.execute(select(*_COLUMNS).where(Chain.id.in_(chunk))):
                seen.add(r.id)
                if r.state in QUEUED_STATES:
                    self._put(_row(r))
                else:
                    self.discard([r.id])
        self.discard(i for i in todo if i not in seen)  # deleted rows
        self.version += 1

    def discard(self, ids: Iterable[int]) -> None:
        """Forget chains that left the queue (the loop started or finished them)."""
        for cid in ids:
            if self.rows.pop(cid, None) is not None:
                self._unindex(cid)
                self.version += 1

    def set_owners(self, owners: Owners) -> None:
        """New user names/groups from the catalog: rebuild the policy's rows of the owners
        whose name or group moved (a new user moves nobody's), or all of them when that is
        most of the queue."""
        if owners == self._owners:
            return
        old, self._owners = self._owners, owners
        moved = {uid for uid in old.keys() | owners.keys() if old.get(uid) != owners.get(uid)}
        affected = [row for row in self.rows.values() if row.owner_id in moved]
        if len(affected) > len(self.rows) // 8:  # one sort beats many ordered inserts
            self._reindex()
        else:
            for row in affected:
                self._put(row)
        self.version += 1

    def set_reasons(self, reasons: Mapping[int, str]) -> None:
        """The reasons the loop just wrote (so the next cycle compares against them)."""
        for cid, reason in reasons.items():
            row = self.rows.get(cid)
            if row is not None:
                row.reason = reason

    # -- reading ----------------------------------------------------------------------------
    def pending(self) -> list[PendingChain]:
        """The policy's pending chains (queued, not held, not being stopped) in queue
        order. The list is the queue's own: read it, do not change it."""
        return self._order

    def queued_groups(self) -> set[str]:
        """The node groups that have a pending chain (for the policy's early stop)."""
        return {group for group, count in self._groups.items() if count}

    def stop_requested(self) -> list[int]:
        return sorted(self._stops)

    def owners_missing(self) -> bool:
        """A queued chain whose owner the catalog does not know yet (a brand-new user)."""
        return bool(self._unknown_owner)

    # -- internals --------------------------------------------------------------------------
    def _reindex(self) -> None:
        self._pending, self._stops, self._unknown_owner = {}, set(), set()
        for row in self.rows.values():
            chain = self._pending_chain(row)
            if chain is not None:
                self._pending[row.id] = chain
        self._order = sorted(self._pending.values(), key=queue_key)
        self._groups = Counter(chain.group for chain in self._order)

    def _put(self, row: WaitingRow) -> None:
        self._unindex(row.id)
        self.rows[row.id] = row
        chain = self._pending_chain(row)
        if chain is not None:
            self._pending[row.id] = chain
            bisect.insort(self._order, chain, key=queue_key)
            self._groups[chain.group] += 1

    def _unindex(self, cid: int) -> None:
        self._stops.discard(cid)
        self._unknown_owner.discard(cid)
        chain = self._pending.pop(cid, None)
        if chain is not None:
            at = bisect.bisect_left(self._order, queue_key(chain), key=queue_key)
            assert self._order[at] is chain, "the queue order lost track of a chain"
            del self._order[at]
            self._groups[chain.group] -= 1

    def _pending_chain(self, row: WaitingRow) -> PendingChain | None:
        """Note what the row says (a stop request, an unknown owner); its pending chain."""
        if row.stop_requested:
            self._stops.add(row.id)
        if row.owner_id not in self._owners:
            self._unknown_owner.add(row.id)
        if not row.schedulable:
            return None
        user, user_group = self._owners.get(row.owner_id, ("", None))
        return PendingChain(
            id=row.id,
            user=user,
            user_group=user_group,
            group=row.group_name,
            priority=row.priority,
            node_count=row.node_count,
            queued_at=row.queued_at,
            is_resume=row.state == ChainState.SUSPENDED.value,
        )


@dataclass
class _Notes:
    chains: set[int] = field(default_factory=set)
    catalog: bool = False


class ChangeNotes:
    """What writers changed since the loop last looked (safe from any thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._notes = _Notes()

    def note(self, chains: Iterable[int] = (), catalog: bool = False) -> None:
        """``chains``: ids of chains inserted or changed (committed already); ``catalog``:
        nodes, quotas, users or dev servers changed."""
        with self._lock:
            self._notes.chains.update(chains)
            self._notes.catalog |= catalog

    def take(self) -> tuple[set[int], bool]:
        """Everything noted so far, and start afresh."""
        with self._lock:
            notes, self._notes = self._notes, _Notes()
        return notes.chains, notes.catalog
