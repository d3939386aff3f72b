"""The scheduler's state as Prometheus series, read from the database at scrape time.

:class:`StateCollector` is a custom ``prometheus_client`` collector: every scrape runs a
few aggregate queries (``GROUP BY`` over indexed columns, one pass over the active ranks,
the nodes and the dev servers) and turns them into gauges and counters. Nothing is kept
in step by hand, so the series are right after a restart, whoever changed the rows (the
loop, the API, an admin's SQL).

The counters here (starts, suspends, ended jobs, finished chains) are counts of rows that
are never deleted, so they only grow, across restarts too. A scrape whose queries fail
answers ``hai_scheduler_database_up 0`` and none of the other series of this collector.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, sessionmaker

from hai_client.devcontainers import PROFILES, SPOT
from scheduler.model.enums import ChainState, NodeState, Priority, RankState, StopCode
from scheduler.model.orm import Chain, DevServer, Job, JobRank, Node, NodeGroup
from scheduler.service.devservers import DEVSERVER_STATES, devserver_state

log = logging.getLogger(__name__)

ACTIVE_RANK_STATES = tuple(s.value for s in RankState if not s.is_terminal)
QUEUED_STATES = (ChainState.WAITING_INIT.value, ChainState.SUSPENDED.value)

#: the ``band`` label of occupancy series: a chain's priority band, or a dev server
BANDS = ("low", "normal", "high", "devserver")


def priority_band(priority: int) -> str:
    """``low`` (LOW, BELOW_NORMAL), ``normal`` (NORMAL, ABOVE_NORMAL) or ``high`` (HIGH and
    above): the ``band`` of a training chain in the occupancy series."""
    if priority <= Priority.BELOW_NORMAL:
        return "low"
    if priority <= Priority.ABOVE_NORMAL:
        return "normal"
    return "high"


class StateCollector(Collector):
    """Chains, the queue, nodes, GPUs and dev servers, as the database has them now."""

    def __init__(
        self, session_factory: sessionmaker[Session], clock: Callable[[], float] = time.time
    ) -> None:
        self.sessions = session_factory
        self.clock = clock

    def describe(self) -> list[Metric]:
        """Nothing at registration (that would query the database)."""
        return []

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "hai_scheduler_database_up", "1 if the scrape's database queries succeeded"
        )
        try:
            with self.sessions() as s:
                families = list(self._families(s, self.clock()))
        except Exception:
            log.exception("metrics: the database queries of a scrape failed")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self, s: Session, now: float) -> Iterator[Metric]:
        yield chains_by_state(s)
        yield from queue(s, now)
        yield from counters(s)
        yield from occupancy(s)
        yield devservers(s, dt.datetime.fromtimestamp(now, dt.UTC))


# --------------------------------------------------------------------------- chains


def chains_by_state(s: Session) -> GaugeMetricFamily:
    """Every (state, priority) pair, zeros included, so a series never disappears."""
    counts = dict.fromkeys(((st.value, p.name) for st in ChainState for p in Priority), 0)
    rows = s.execute(
        select(Chain.state, Chain.priority, func.count()).group_by(Chain.state, Chain.priority)
    )
    for state, priority, n in rows:
        counts[(state, Priority(priority).name)] = int(n)
    family = GaugeMetricFamily(
        "hai_chains", "Chains by state and priority", labels=["state", "priority"]
    )
    for (state, priority), n in sorted(counts.items()):
        family.add_metric([state, priority], n)
    return family


def queue(s: Session, now: float) -> Iterator[GaugeMetricFamily]:
    """Chains the policy may start (waiting or suspended, neither held nor being stopped)
    per node group, and how long the oldest has waited: since its submission, or since its
    last job ended for a suspended chain."""
    last_end = (
        select(Chain.id, Chain.group_name, Chain.queued_at, func.max(Job.ended_at).label("end"))
        .outerjoin(Job, Job.chain_id == Chain.id)
        .where(
            Chain.state.in_(QUEUED_STATES),
            Chain.held.is_(False),
            Chain.stop_requested_at.is_(None),
        )
        .group_by(Chain.id, Chain.group_name, Chain.queued_at)
        .subquery()
    )
    rows = s.execute(
        select(
            last_end.c.group_name,
            func.count(),
            func.min(func.coalesce(last_end.c.end, last_end.c.queued_at)),
        ).group_by(last_end.c.group_name)
    )
    depth: dict[str, int] = dict.fromkeys(s.scalars(select(NodeGroup.name)), 0)
    oldest: dict[str, float] = dict.fromkeys(depth, 0.0)
    for group, n, since in rows:
        depth[group] = int(n)
        oldest[group] = max(0.0, now - _epoch(since))
    d = GaugeMetricFamily("hai_queue_depth", "Chains waiting to start or resume", labels=["group"])
    a = GaugeMetricFamily(
        "hai_queue_oldest_age_seconds",
        "How long the longest-waiting chain has waited (0: none waits)",
        labels=["group"],
    )
    for group in sorted(depth):
        d.add_metric([group], depth[group])
        a.add_metric([group], oldest[group])
    yield d
    yield a


def _epoch(value: Any) -> float:
    """A timestamp from an aggregate: an aware datetime, or SQLite's text."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


def counters(s: Session) -> Iterator[CounterMetricFamily]:
    """Starts, suspends, ended jobs and finished chains: counts of rows that only grow."""
    kind = case((Job.seq == 0, "first"), else_="resume")
    starts = dict.fromkeys(("first", "resume"), 0)
    starts.update({k: int(n) for k, n in s.execute(select(kind, func.count()).group_by(kind))})
    family = CounterMetricFamily(
        "hai_chain_starts", "Jobs started: a chain's first run or a resume", labels=["kind"]
    )
    for k, n in sorted(starts.items()):
        family.add_metric([k], n)
    yield family
    suspends = s.scalar(select(func.coalesce(func.sum(Chain.suspend_count), 0))) or 0
    yield CounterMetricFamily(
        "hai_chain_suspends", "Times a running chain was suspended", value=int(suspends)
    )
    yield _by_stop_code(
        s,
        select(Job.stop_code, func.count()).where(Job.ended_at.is_not(None)),
        "hai_jobs_ended",
        "Jobs (runs of a chain) that ended, by stop code",
    )
    yield _by_stop_code(
        s,
        select(Chain.stop_code, func.count()).where(Chain.state == ChainState.FINISHED.value),
        "hai_chain_finishes",
        "Chains that finished for good, by stop code",
    )


def _by_stop_code(s: Session, stmt: Any, name: str, doc: str) -> CounterMetricFamily:
    counts = dict.fromkeys((c.value for c in StopCode), 0)
    for code, n in s.execute(stmt.group_by(stmt.selected_columns[0])):
        counts[code or "unknown"] = counts.get(code or "unknown", 0) + int(n)
    family = CounterMetricFamily(name, doc, labels=["stop_code"])
    for code, n in sorted(counts.items()):
        family.add_metric([code], n)
    return family


# --------------------------------------------------------------------------- nodes and GPUs


def occupancy(s: Session) -> Iterator[GaugeMetricFamily]:
    """Nodes and GPUs per group and node state, and what is in use per group and band.

    A node held by a chain (or a spot dev server) counts all its GPUs; a mig-gpu dev server
    counts its slices. A node shared by several bands counts once in each."""
    nodes = s.execute(
        select(NodeGroup.name, Node.name, Node.gpus, Node.state).outerjoin(
            Node, Node.group_id == NodeGroup.id
        )
    ).all()
    holders = _holders(s)
    groups = {row[0] for row in nodes}
    totals = _zeros(groups, [st.value for st in NodeState])
    used = _zeros(groups, BANDS)
    for group, node, gpus, state in nodes:
        if node is None:
            continue
        _add(totals[(group, state)], gpus)
        for band, slices in holders.get(node, {}).items():
            _add(used[(group, band)], gpus if slices is None else min(gpus, slices))
    yield from _pair(
        totals, ("group", "state"), "hai_nodes", "hai_gpus", "Nodes", "GPUs", "by node state"
    )
    yield from _pair(
        used,
        ("group", "band"),
        "hai_nodes_in_use",
        "hai_gpus_in_use",
        "Nodes in use",
        "GPUs in use",
        "by holder band (a chain's priority band, or devserver)",
    )


def _zeros(groups: set[str], values: Iterable[str]) -> dict[tuple[str, str], list[int]]:
    """(group, value) -> [nodes, GPUs], all zero."""
    return {(g, v): [0, 0] for g in groups for v in values}


def _add(counts: list[int], gpus: int) -> None:
    counts[0] += 1
    counts[1] += gpus


def _holders(s: Session) -> dict[str, dict[str, int | None]]:
    """Per node: band -> slices held (None: the whole node)."""
    out: dict[str, dict[str, int | None]] = defaultdict(dict)
    ranks = s.execute(
        select(JobRank.node, Chain.priority)
        .join(Job, JobRank.job_id == Job.id)
        .join(Chain, Job.chain_id == Chain.id)
        .where(JobRank.state.in_(ACTIVE_RANK_STATES))
        .distinct()
    )
    for node, priority in ranks:
        out[node][priority_band(priority)] = None
    for node, profile, gpu_ids in s.execute(
        select(DevServer.node, DevServer.profile, DevServer.gpu_ids)
    ):
        held = out[node]
        if profile == SPOT:
            held["devserver"] = None  # the whole node
        elif "devserver" not in held or held["devserver"] is not None:
            held["devserver"] = (held.get("devserver") or 0) + len(gpu_ids or ())
    return out


def _pair(
    values: dict[tuple[str, str], list[int]],
    labels: tuple[str, str],
    nodes_name: str,
    gpus_name: str,
    nodes_doc: str,
    gpus_doc: str,
    by: str,
) -> Iterator[GaugeMetricFamily]:
    n = GaugeMetricFamily(nodes_name, f"{nodes_doc} per node group, {by}", labels=list(labels))
    g = GaugeMetricFamily(gpus_name, f"{gpus_doc} per node group, {by}", labels=list(labels))
    for key, (nodes, gpus) in sorted(values.items()):
        n.add_metric(list(key), nodes)
        g.add_metric(list(key), gpus)
    yield n
    yield g


# --------------------------------------------------------------------------- dev servers


def devservers(s: Session, now: dt.datetime) -> GaugeMetricFamily:
    """Dev servers holding inventory, by profile and state (active, expired, reclaiming)."""
    counts = dict.fromkeys(((p, st) for p in PROFILES for st in DEVSERVER_STATES), 0)
    for ds in s.scalars(select(DevServer)):
        key = (ds.profile, devserver_state(ds, now))
        counts[key] = counts.get(key, 0) + 1
    family = GaugeMetricFamily(
        "hai_devservers", "Dev servers by profile and state", labels=["profile", "state"]
    )
    for (profile, state), n in sorted(counts.items()):
        family.add_metric([profile, state], n)
    return family
