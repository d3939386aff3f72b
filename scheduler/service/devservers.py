"""Dev containers in the shared inventory: MIG slices and spot nodes, leases and reclaims.

The hub's spawner asks the scheduler service for a slice (profile ``mig-gpu``: one MIG
device on a node of the jupyter group, with a renewable lease) or a whole idle training
node (profile ``spot``: no lifetime, but the lowest-priority occupant, reclaimed when a
chain needs the node). The loop passes spot servers to the policy as occupants of
priority -1 and marks the ones it picks for reclaim; nodes with MIG slices in use take no
chains.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from traitlets import Float, List, Unicode
from traitlets.config import LoggingConfigurable

from hai_client.devcontainers import MIG_GPU, PROFILES, SPOT, JupyterGroupConfig
from scheduler.accounting.fold import fold_devserver
from scheduler.model.enums import NodeState, RankState
from scheduler.model.orm import DevServer, JobRank, Node, NodeGroup, utcnow
from scheduler.policy import SPOT_PRIORITY, RunningChain

#: what :func:`devserver_state` answers
DEVSERVER_STATES = ("active", "expired", "reclaiming")


def devserver_state(ds: DevServer, now: dt.datetime) -> str:
    """``reclaiming`` (a chain needs its spot node), ``expired`` (its lease ran out) or
    ``active``."""
    if ds.reclaim_requested_at is not None:
        return "reclaiming"
    if ds.lease_expires_at is not None and ds.lease_expires_at <= now:
        return "expired"
    return "active"


class NoCapacity(RuntimeError):
    """No slice or node is free for the asked profile; the message says what is in use."""


@dataclass(frozen=True, slots=True)
class Occupancy:
    """What dev servers hold, in the policy's terms."""

    spot: list[RunningChain]
    blocked_nodes: set[str]  # nodes with MIG slices handed out: no chain is placed there


def _node_groups(s: Session, known: dict[str, str] | None) -> dict[str, str]:
    """Node -> group: ``known`` (the loop's catalog) or read from the node table."""
    if known is not None:
        return known
    return {n.name: n.group.name for n in s.scalars(select(Node).options(selectinload(Node.group)))}


class DevServerManager(JupyterGroupConfig, LoggingConfigurable):
    """Allocates dev-container slices and nodes; keeps their leases and reclaim requests."""

    spot_groups = List(
        Unicode(), help="Groups a spot server may take a whole node from (empty: all but jupyter)."
    ).tag(config=True)
    lease_seconds = Float(24 * 3600.0, help="Lease of a mig-gpu server, and each renewal.").tag(
        config=True
    )
    lease_max_seconds = Float(
        7 * 24 * 3600.0, help="No renewal extends a lease beyond this long after the start."
    ).tag(config=True)
    spot_grace_seconds = Float(
        300.0, help="Warning time between a spot node's reclaim request and its stop."
    ).tag(config=True)
    release_slack_seconds = Float(
        30.0, help="After the reclaim deadline plus this, the scheduler frees the node itself."
    ).tag(config=True)

    # -- allocation -------------------------------------------------------------------------
    def allocate(
        self, s: Session, user: str, server_name: str, profile: str, now: dt.datetime
    ) -> DevServer:
        """Give ``user``'s server a slice or a node; the same server asking again gets the same."""
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, not {profile!r}")
        existing = self.get(s, user, server_name)
        if existing is not None:
            if existing.profile != profile:
                raise ValueError(
                    f"server {server_name or '(default)'} of {user} already holds a "
                    f"{existing.profile} allocation; stop it before switching profiles"
                )
            return existing
        lease: dict[str, dt.datetime] = {}
        if profile == MIG_GPU:
            node, gpu_ids = self._free_slice(s)
            lease = {
                "lease_expires_at": now + dt.timedelta(seconds=self.lease_seconds),
                "lease_max_at": now + dt.timedelta(seconds=self.lease_max_seconds),
            }
        else:
            node, gpu_ids = self._free_node(s)
        ds = DevServer(
            user_name=user,
            server_name=server_name,
            profile=profile,
            node=node,
            gpu_ids=gpu_ids,
            created_at=now,
            **lease,
        )
        s.add(ds)
        s.flush()
        return ds

    def _nodes(
        self, s: Session, groups: set[str] | None, *, exclude: str | None = None
    ) -> list[Node]:
        q = select(Node).join(NodeGroup).where(Node.state == NodeState.READY.value)
        if groups:
            q = q.where(NodeGroup.name.in_(groups))
        if exclude:
            q = q.where(NodeGroup.name != exclude)
        return list(s.scalars(q.order_by(Node.name)))

    def _free_slice(self, s: Session) -> tuple[str, list[str]]:
        nodes = self._nodes(s, {self.jupyter_group})
        used = {(d.node, g) for d in s.scalars(select(DevServer)) for g in d.gpu_ids}
        total = 0
        for node in nodes:
            total += len(node.gpu_ids)
            for gpu in node.gpu_ids:
                if (node.name, gpu) not in used:
                    return node.name, [gpu]
        if not nodes:
            raise NoCapacity(f"no ready node in group {self.jupyter_group!r} for mig-gpu servers")
        raise NoCapacity(
            f"no free MIG slice: all {total} slices of group {self.jupyter_group!r} are in use"
        )

    def _free_node(self, s: Session) -> tuple[str, list[str]]:
        groups = set(self.spot_groups) or None
        nodes = self._nodes(s, groups, exclude=None if groups else self.jupyter_group)
        busy = {d.node for d in s.scalars(select(DevServer))}
        busy |= set(
            s.scalars(
                select(JobRank.node).where(
                    JobRank.state.not_in([st.value for st in RankState if st.is_terminal])
                )
            )
        )
        for node in nodes:
            if node.name not in busy:
                return node.name, list(node.gpu_ids)
        raise NoCapacity(
            f"no idle training node for a spot server: all {len(nodes)} nodes are in use"
        )

    def get(self, s: Session, user: str, server_name: str) -> DevServer | None:
        return s.scalars(
            select(DevServer).where(
                DevServer.user_name == user, DevServer.server_name == server_name
            )
        ).one_or_none()

    def release(
        self, s: Session, user: str, server_name: str, now: dt.datetime | None = None
    ) -> bool:
        ds = self.get(s, user, server_name)
        if ds is None:
            return False
        fold_devserver(s, ds, now or utcnow())  # its hours, in the same transaction
        s.delete(ds)
        s.flush()
        return True

    def renew(self, s: Session, user: str, server_name: str, now: dt.datetime) -> DevServer:
        """Extend a mig-gpu lease to now + lease_seconds, capped at its maximum."""
        ds = self.get(s, user, server_name)
        if ds is None:
            raise LookupError(f"{user} has no running server {server_name or '(default)'}")
        if ds.profile != MIG_GPU:
            raise ValueError("only mig-gpu servers have a lease; spot servers have no lifetime")
        if ds.lease_expires_at is not None and ds.lease_expires_at <= now:
            raise ValueError("the lease has expired already; the server is being stopped")
        target = now + dt.timedelta(seconds=self.lease_seconds)
        if ds.lease_max_at is not None:
            target = min(target, ds.lease_max_at)
        ds.lease_expires_at = max(ds.lease_expires_at or target, target)
        s.flush()
        return ds

    # -- for the loop ------------------------------------------------------------------------
    def occupancy(self, s: Session, groups: dict[str, str] | None = None) -> Occupancy:
        """What dev servers hold; ``groups`` (node -> group) saves reading the node table."""
        spot: list[RunningChain] = []
        blocked: set[str] = set()
        groups = _node_groups(s, groups)
        for ds in s.scalars(select(DevServer)):
            if ds.profile == SPOT:
                spot.append(
                    RunningChain(
                        id=-ds.id,
                        user=ds.user_name,
                        user_group=None,
                        group=groups.get(ds.node, ""),
                        priority=SPOT_PRIORITY,
                        nodes=(ds.node,),
                        started_at=ds.created_at.timestamp(),
                        releasing=ds.reclaim_requested_at is not None,
                    )
                )
            else:
                blocked.add(ds.node)
        return Occupancy(spot=spot, blocked_nodes=blocked)

    def reclaiming_by_group(
        self, s: Session, groups: dict[str, str] | None = None
    ) -> dict[str, list[str]]:
        """Per node group, the spot servers being reclaimed, in words (for waiting chains);
        ``groups`` (node -> group) saves reading the node table."""
        groups = _node_groups(s, groups)
        out: dict[str, list[str]] = {}
        rows = s.scalars(select(DevServer).where(DevServer.reclaim_requested_at.is_not(None)))
        for ds in rows:
            until = ds.reclaim_deadline.strftime("%H:%M:%S UTC") if ds.reclaim_deadline else "?"
            out.setdefault(groups.get(ds.node, ""), []).append(
                f"{ds.user_name}'s spot server on {ds.node} is being reclaimed: it has until "
                f"{until} to save its work (spot grace {int(self.spot_grace_seconds)} s)"
            )
        return out

    def reclaim(self, s: Session, dev_server_id: int, now: dt.datetime, reason: str) -> None:
        ds = s.get(DevServer, dev_server_id)
        if ds is None or ds.reclaim_requested_at is not None:
            return
        ds.reclaim_requested_at = now
        ds.reclaim_deadline = now + dt.timedelta(seconds=self.spot_grace_seconds)
        ds.reclaim_reason = reason
        self.log.info("reclaiming spot node %s from %s: %s", ds.node, ds.user_name, reason)

    def release_overdue(self, s: Session, now: dt.datetime) -> list[DevServer]:
        """Free nodes whose reclaim deadline passed long ago (the hub did not stop them)."""
        slack = dt.timedelta(seconds=self.release_slack_seconds)
        overdue = [
            ds
            for ds in s.scalars(select(DevServer).where(DevServer.reclaim_deadline.is_not(None)))
            if ds.reclaim_deadline + slack <= now
        ]
        for ds in overdue:
            self.log.warning(
                "spot server of %s on %s outlived its reclaim; freeing the node",
                ds.user_name,
                ds.node,
            )
            fold_devserver(s, ds, now)
            s.delete(ds)
        return overdue
