"""The scheduling loop: reconcile → decide → act, once per tick or when woken.

It is the only writer of chain and rank *states*. The API writes intents (a new chain,
``stop_requested_at``, ``suspend_requested_at``/``held``, a new priority) and wakes it.

Restart safety: a job and its ranks are committed before any process is started, and the
backend can find a rank again from its key alone, so a loop killed at any moment and
started again adopts what runs, starts what was never started, and fails (with a reason)
only what vanished without a trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import re
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload
from traitlets import Any as AnyTrait
from traitlets.config import LoggingConfigurable

from hai_client.rank_env import free_port
from scheduler.backends.base import RankKey, RankLaunch, RankObservation
from scheduler.model.enums import ChainState, NodeState, Priority, RankState, StopCode
from scheduler.model.orm import Chain, Job, JobRank, Node, NodeGroup
from scheduler.model.states import terminating_to_final
from scheduler.policy import Decision, PolicyConfig, QuotaTable, decide
from scheduler.service import envs, heap
from scheduler.service.fairshare import fair_share_config, fair_share_usage
from scheduler.service.policy_inputs import (
    DecisionKey,
    PolicyCatalog,
    next_time_event,
    running_views,
)
from scheduler.service.queue_index import ChangeNotes, WaitingQueue, epoch
from scheduler.service.rank_env import rank_variables

_NO_TIME = dt.timedelta(0)

#: quiet this long (nothing new for the policy) and the queue counts as settled: a burst of
#: submissions with short gaps must not trigger a complete walk in every gap
_SETTLE_SECONDS = 1.0


def reason_kind(reason: str) -> str:
    """What a reason says without its numbers: the part before the first colon
    (``waiting for nodes in group 'gpu'``, ``over quota node-gpu-HIGH``)."""
    return reason.split(":", 1)[0]


def spot_aware_reason(reason: str, reclaiming: dict[str, list[str]]) -> str:
    """The policy's reason, saying so when what the chain waits for is a spot dev server
    being reclaimed (the policy sees those as occupants with negative ids)."""
    if not reclaiming or not reason.startswith(("waiting for preempted", "preempting")):
        return reason
    group = reason.rsplit("in group '", 1)[-1].split("'", 1)[0]
    servers = reclaiming.get(group)
    if not servers:
        return reason

    def name(victim: str) -> str:
        return f"dev server {victim[1:]}" if victim.startswith("-") else f"chain {victim}"

    reason = re.sub(
        r"^preempting chain\(s\) ([-\d, ]+) in group",
        lambda m: "preempting " + ", ".join(map(name, m.group(1).split(", "))) + " in group",
        reason,
    )
    return f"{reason}; {'; '.join(servers)}"


_LIVE_PHASES = {
    "pending": RankState.CREATED,
    "building": RankState.BUILDING,
    "unschedulable": RankState.UNSCHEDULABLE,
    "running": RankState.RUNNING,
}


def _ended_rank_state(chain: Chain, job: Job, rank: JobRank, obs: RankObservation) -> RankState:
    """The final state of a rank the backend saw exit or vanish (``gone``); sets its exit
    code and reason, and records the job's stop when the rank is what stops it."""
    state = rank.rank_state
    rank.reason = obs.reason
    if obs.phase == "gone":
        if state.is_terminating:
            return terminating_to_final(state)
        job.record_stop(StopCode.LOST, f"rank {rank.rank}: {obs.reason}")
        return RankState.FAILED
    rank.exit_code = obs.exit_code
    if obs.init_failed:
        job.record_stop(StopCode.INIT_FAILED, f"rank {rank.rank}: {obs.reason}")
        return RankState.FAILED
    if state.is_terminating:
        final = terminating_to_final(state)
        if final is RankState.SUCCEEDED and obs.exit_code != 0 and rank.term_sent_at is None:
            return RankState.FAILED  # it failed by itself while finishing
        return final
    if chain.suspend_requested_at is not None and obs.suspend_acked:
        job.record_stop(StopCode(chain.suspend_code or StopCode.PREEMPTED), "suspended")
        return RankState.STOPPED  # it checkpointed and left for the suspend
    if obs.exit_code == 0:
        return RankState.SUCCEEDED
    job.record_stop(StopCode.FAILED, f"rank {rank.rank} exited with code {obs.exit_code}")
    return RankState.FAILED


def job_stop_cause(
    chain: Chain,
    job: Job,
    running: Sequence[JobRank],
    acked: set[int],
    now: dt.datetime,
    *,
    suspend_grace_seconds: float,
    faults: Sequence[str] = (),
) -> tuple[RankState, StopCode, str] | None:
    """Why the job's ``running`` ranks (live, not yet terminating) stop now, as (the
    terminating state they take, the job's stop code, the reason), or None: they go on.

    In this order: a stop request, a rank that broke the control protocol (``faults``), a
    failed rank, a suspend (once every running rank acknowledged it, or its grace period
    passed), rank 0 succeeded, the chain's timeout. Pure: changes nothing."""
    if chain.stop_requested_at is not None:
        return (RankState.STOPPED_TERMINATING, StopCode.STOPPED_BY_USER, "stopped by user")
    if faults:
        return (RankState.FAILED_TERMINATING, StopCode.FAILED, faults[0])
    if any(r.rank_state is RankState.FAILED for r in job.ranks):
        return (
            RankState.FAILED_TERMINATING,
            StopCode(job.stop_code or StopCode.FAILED),
            job.reason or "a rank failed",
        )
    if chain.suspend_requested_at is not None:
        return _suspend_stop(chain, running, acked, now, suspend_grace_seconds)
    if any(r.rank_state is RankState.SUCCEEDED for r in job.ranks if r.rank == 0):
        return (RankState.SUCCEEDED_TERMINATING, StopCode.SUCCEEDED, "rank 0 finished")
    return _timeout_stop(chain, job, now)


def _suspend_stop(
    chain: Chain,
    running: Sequence[JobRank],
    acked: set[int],
    now: dt.datetime,
    suspend_grace_seconds: float,
) -> tuple[RankState, StopCode, str] | None:
    """A requested suspend stops the job once every running rank acknowledged it, or
    when its grace period has passed; None before."""
    code = StopCode(chain.suspend_code or StopCode.PREEMPTED)
    all_acked = all(r.rank in acked for r in running)
    deadline = epoch(chain.suspend_requested_at) + suspend_grace_seconds
    if all_acked or now.timestamp() >= deadline:
        reason = "suspended" + ("" if all_acked else " after the grace period")
        return (RankState.STOPPED_TERMINATING, code, reason)
    return None


def _timeout_stop(
    chain: Chain, job: Job, now: dt.datetime
) -> tuple[RankState, StopCode, str] | None:
    """The job ran longer than the chain's ``timeout`` option (seconds); None otherwise."""
    timeout = (chain.options or {}).get("timeout")
    if timeout and now.timestamp() - epoch(job.created_at) > float(timeout):
        reason = f"ran longer than its timeout of {timeout} s"
        return (RankState.STOPPED_TERMINATING, StopCode.TIMEOUT, reason)
    return None


class SchedulerLoop(LoggingConfigurable):
    """Drives chains through their states with the policy and a backend."""

    app = AnyTrait(help="The SchedulerApp: session factory, backend and knobs.")

    def __init__(self, clock: Callable[[], float] = time.time, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clock = clock
        self._wake: asyncio.Event | None = None
        self._aio: asyncio.AbstractEventLoop | None = None
        self.changes = ChangeNotes()
        self.queue = WaitingQueue()
        self.catalog = PolicyCatalog(refresh_seconds=self.app.catalog_refresh_seconds)
        self._queue_read_at = -math.inf
        self._last_key: DecisionKey | None = None
        self._last_decision = Decision()
        self._next_event = math.inf
        self.policy_runs = 0  # cycles that ran the policy (the others had nothing new)
        self._reasons_at = -math.inf  # the last complete walk of the queue
        self._changed_at = -math.inf  # the last cycle whose policy input changed
        self._reasons_stale = False  # some waiting chains' reasons predate the last changes
        self.last_walk_complete = True  # did the last policy run give every reason?
        self._reason_kinds_only = False  # the last walk writes only changed reason kinds

    def note_changed(self, chains: Iterable[int] = (), catalog: bool = False) -> None:
        """Writers (the API, after committing) name what they changed: ``chains`` inserted
        or changed, or the ``catalog`` (nodes, quotas, users). Safe from any thread; the
        next cycle re-reads just that (see :mod:`scheduler.service.queue_index`)."""
        self.changes.note(chains, catalog)

    # -- driving ------------------------------------------------------------------------
    def wake(self) -> None:
        """Ask for a cycle now (safe to call from any thread)."""
        if self._aio is not None and self._wake is not None:
            self._aio.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        self._aio = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        channel = self.app.backend.wake_channel()
        if channel is not None:
            self._aio.add_reader(channel.fileno(), self._drain_wake_channel, channel)
        synced = time.monotonic()
        while True:
            self._wake.clear()
            try:
                if time.monotonic() - synced > self.app.node_sync_seconds:
                    synced = time.monotonic()
                    await asyncio.to_thread(self.sync_nodes)
                await self.app.metrics.observe_cycle(asyncio.to_thread(self.cycle))
            except Exception:
                self.log.exception("scheduling cycle failed; retrying next tick")
                self.forget()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.app.tick_seconds)

    def forget(self) -> None:
        """Drop what the loop keeps in memory: the next cycle re-reads it all (after a
        failed cycle, whose writes may not have landed)."""
        self.queue.loaded = False
        self.catalog.read_at = -math.inf
        self._last_key = None
        self._reasons_at = -math.inf

    def _drain_wake_channel(self, channel: socket.socket) -> None:
        with contextlib.suppress(BlockingIOError):
            while channel.recv(64):
                pass
        if self._wake is not None:
            self._wake.set()

    @property
    def policy_config(self) -> PolicyConfig:
        return PolicyConfig(
            min_run_seconds=self.app.min_run_seconds,
            aging_seconds=self.app.aging_seconds,
            aging_max_priority=int(Priority.parse(self.app.aging_max_priority)),
            fair_share=fair_share_config(self.app),
        )

    def sync_nodes(self) -> None:
        """Make the node table match the backend's nodes (vanished ones go offline)."""
        specs = self.app.backend.discover_nodes()
        with self.app.session_factory.begin() as s:
            groups = {g.name: g for g in s.scalars(select(NodeGroup))}
            nodes = {n.name: n for n in s.scalars(select(Node))}
            for spec in specs:
                group = groups.get(spec.group)
                if group is None:
                    group = groups[spec.group] = NodeGroup(name=spec.group)
                    s.add(group)
                node = nodes.pop(spec.name, None)
                if node is None:
                    s.add(
                        Node(
                            name=spec.name, group=group, gpus=spec.gpus, gpu_ids=list(spec.gpu_ids)
                        )
                    )
                else:
                    node.group, node.gpus, node.gpu_ids = group, spec.gpus, list(spec.gpu_ids)
                    if node.state == NodeState.OFFLINE.value:
                        node.state = NodeState.READY.value
            for gone in nodes.values():
                gone.state = NodeState.OFFLINE.value
        self.note_changed(catalog=True)

    # -- one cycle ----------------------------------------------------------------------
    def cycle(self) -> Decision:
        """One reconcile → decide → act pass; returns the policy's decision.

        Its cost follows what changed, not the queue: running chains are reconciled, the
        queue is brought in step from the changes writers noted, and the policy runs only
        when its input changed or a time-dependent rule came due (otherwise the previous
        decision, which started and suspended nothing, stands).
        """
        now_f = self.clock()
        now = dt.datetime.fromtimestamp(now_f, dt.UTC)
        noted, catalog_noted = self.changes.take()
        with self.app.session_factory() as s:
            running = self._load_chains(s, Chain.state == ChainState.RUNNING.value)
            for chain in running:
                self._reconcile_isolated(s, chain, now)
            self._sync_inputs(s, noted, catalog_noted, now_f)
            stopped = self.queue.stop_requested()
            for chain in self._load_chains(s, Chain.id.in_(stopped)) if stopped else ():
                self._finish(chain, StopCode.STOPPED_BY_USER, "stopped by user", now)
            s.commit()
            left = [c.id for c in running if c.chain_state is not ChainState.RUNNING]
            if stopped or left:  # finished ones leave the queue, suspended ones join it
                self.queue.refresh(s, [*stopped, *left])
                running = [c for c in running if c.chain_state is ChainState.RUNNING]
            with self.app.inventory_lock:  # dev-server allocations wait for this
                released = self.app.devservers.release_overdue(s, now)
                decision = self._decide(s, running, now_f, force=bool(released))
                started = self._act(s, running, decision, now) if decision is not None else []
                s.commit()
            self._launch(s, started, now)
            s.commit()
        if decision is None:  # nothing new: nothing to start or suspend, the same reasons
            return Decision(waiting=self._last_decision.waiting)
        return decision

    def _sync_inputs(self, s: Session, noted: set[int], catalog_noted: bool, now: float) -> None:
        """Bring the catalog and the queue in step: what writers noted, a periodic re-read
        of the catalog, and now and then a full re-read of the queue (the safety net)."""
        if catalog_noted or self.catalog.stale(now):
            self.catalog.read(s, now)
        if not self.queue.loaded or now - self._queue_read_at >= self.app.queue_resync_seconds:
            with heap.paused(self.app.gc_freeze_queue > 0):
                self.queue.reload(s, self.catalog.owners)
            self._queue_read_at = now
            heap.settle(len(self.queue.rows), self.app.gc_freeze_queue)
        else:
            self.queue.refresh(s, noted)
        if self.queue.owners_missing():  # a new user's first chain
            self.catalog.read(s, now)
        self.queue.set_owners(self.catalog.owners)

    def _load_chains(self, s: Session, where: Any) -> list[Chain]:
        """Chains with their owner, jobs and ranks, as ORM objects (for changing them)."""
        return list(
            s.scalars(
                select(Chain)
                .where(where)
                .options(
                    selectinload(Chain.owner), selectinload(Chain.jobs).selectinload(Job.ranks)
                )
            )
        )

    # -- reconcile ----------------------------------------------------------------------
    def _observe(self, chain: Chain, job: Job, rank: JobRank) -> RankObservation:
        key = RankKey(chain.id, job.seq, rank.rank)
        if not rank.launched and rank.rank_state is RankState.CREATED:
            # committed but never started (the loop died in between): start it now
            self._start_ranks([(chain, job, rank)], dt.datetime.now(dt.UTC))
        obs = self.app.backend.poll_rank(key, rank.handle)
        if obs.handle:
            rank.handle = {**rank.handle, **obs.handle}
        return obs

    def _reconcile_isolated(self, s: Session, chain: Chain, now: dt.datetime) -> None:
        """One chain's reconcile in a savepoint of its own: whatever goes wrong there (a
        backend error, a value the database refuses) fails *that* chain, with its processes
        ended and the error as the reason, and the cycle goes on for everyone else."""
        try:
            with s.begin_nested():
                self._reconcile_running(chain, now)
        except Exception as exc:
            self.log.exception("chain %s could not be reconciled; failing it", chain.id)
            self._fail_broken_chain(s, chain, f"internal error while running it: {exc}", now)

    def _fail_broken_chain(self, s: Session, chain: Chain, reason: str, now: dt.datetime) -> None:
        reason = reason[:1000]
        try:
            with s.begin_nested():
                job = chain.current_job
                for rank in job.ranks if job is not None else ():
                    if rank.rank_state.is_terminal:
                        continue
                    with contextlib.suppress(Exception):  # best effort: it is broken already
                        key = RankKey(chain.id, job.seq, rank.rank)
                        self.app.backend.terminate(key, rank.handle, force=True)
                    rank.reason = reason
                    stopping = rank.rank_state is RankState.STOPPED_TERMINATING
                    rank.set_state(RankState.STOPPED if stopping else RankState.FAILED, now)
                if job is not None:
                    job.record_stop(StopCode.FAILED, reason)
                    job.ended_at = now
                self._finish(chain, StopCode.FAILED, reason, now)
        except Exception:  # the next cycle tries again; no other chain waits for it
            self.log.exception("chain %s could not be failed either", chain.id)

    def _reconcile_running(self, chain: Chain, now: dt.datetime) -> None:
        job = chain.current_job
        assert job is not None, f"running chain {chain.id} has no job"
        changed = False
        acked: set[int] = set()
        faults: list[str] = []
        for rank in job.ranks:
            if rank.rank_state.is_terminal:
                continue
            obs = self._observe(chain, job, rank)
            if obs.protocol_error:
                faults.append(f"rank {rank.rank}: {obs.protocol_error}")
            if rank.rank == 0 and obs.whole_life_state is not None:
                chain.whole_life_state = obs.whole_life_state
            if obs.suspend_acked:
                acked.add(rank.rank)
            changed |= self._apply_observation(chain, job, rank, obs, now)
        changed |= self._job_rules(chain, job, acked, now, faults)
        if job.ended:
            self._end_job(chain, job, now)
        elif changed:
            chain.updated_at = now

    def _apply_observation(
        self, chain: Chain, job: Job, rank: JobRank, obs: RankObservation, now: dt.datetime
    ) -> bool:
        """Move the rank to what the backend observed; whether its state changed."""
        state = rank.rank_state
        target = _LIVE_PHASES.get(obs.phase)
        if target is not None:
            if state.is_terminating or target == state or target is RankState.CREATED:
                return False
            rank.set_state(target, now)
            return True
        rank.set_state(_ended_rank_state(chain, job, rank, obs), now)  # exited or gone
        return True

    def _job_rules(
        self,
        chain: Chain,
        job: Job,
        acked: set[int],
        now: dt.datetime,
        faults: Sequence[str] = (),
    ) -> bool:
        """Stop requests, suspends, timeouts, failures (also a rank that broke the control
        protocol: ``faults``) and the grace periods of one job."""
        live = [r for r in job.ranks if not r.rank_state.is_terminal]
        if not live:
            return False
        running = [r for r in live if not r.rank_state.is_terminating]
        why = job_stop_cause(
            chain,
            job,
            running,
            acked,
            now,
            suspend_grace_seconds=self.app.suspend_grace_seconds,
            faults=faults,
        )
        changed = False
        if why is not None:
            state, code, reason = why
            if code is not StopCode.SUCCEEDED:
                job.record_stop(code, reason)
            for r in running:
                r.set_state(state, now)
                r.terminating_since = now
                changed = True
        self._apply_grace_periods(chain, job, live, now)
        return changed

    def _apply_grace_periods(
        self, chain: Chain, job: Job, live: Sequence[JobRank], now: dt.datetime
    ) -> None:
        """Terminating ranks: asked to end (TERM) when their soft deadline passes (at once,
        or after one grace period for the ranks of a succeeding job), then killed one grace
        period after that."""
        grace = dt.timedelta(seconds=self.app.stop_grace_seconds)
        for r in live:
            since = r.terminating_since
            if not r.rank_state.is_terminating or since is None:
                continue
            key = RankKey(chain.id, job.seq, r.rank)
            # ranks of a succeeding job get one grace period to finish by themselves
            soft_at = since + (
                grace if r.rank_state is RankState.SUCCEEDED_TERMINATING else _NO_TIME
            )
            if r.term_sent_at is None and now >= soft_at:
                self.app.backend.terminate(key, r.handle)
                r.term_sent_at = now
            elif (
                r.term_sent_at is not None and r.killed_at is None and now - r.term_sent_at > grace
            ):
                self.app.backend.terminate(key, r.handle, force=True)
                r.killed_at = now

    def _end_job(self, chain: Chain, job: Job, now: dt.datetime) -> None:
        states = [r.rank_state for r in job.ranks]
        if job.stop_code is None:
            ok = all(s is RankState.SUCCEEDED for s in states)
            job.record_stop(
                StopCode.SUCCEEDED if ok else StopCode.FAILED,
                "" if ok else "a rank did not succeed",
            )
        code = StopCode(job.stop_code)
        job.ended_at = now
        if (
            code.resumes
            and chain.stop_requested_at is None
            and any(s is RankState.STOPPED for s in states)
        ):
            chain.set_state(ChainState.SUSPENDED, now)
            chain.suspend_count += 1
            chain.suspend_requested_at = None
            chain.reason = f"suspended ({code.value}); waits to resume"
            return
        if code.resumes:  # it finished by itself while being suspended
            ok = all(s is RankState.SUCCEEDED for s in states)
            code = StopCode.SUCCEEDED if ok else StopCode.STOPPED_BY_USER
        self._finish(chain, code, job.reason, now)

    def _finish(self, chain: Chain, code: StopCode, reason: str, now: dt.datetime) -> None:
        chain.set_state(ChainState.FINISHED, now)
        chain.stop_code = code.value
        chain.reason = reason
        chain.finished_at = now
        chain.suspend_requested_at = None

    # -- decide ---------------------------------------------------------------------------
    def _decide(
        self, s: Session, chains: Sequence[Chain], now: float, force: bool = False
    ) -> Decision | None:
        """The policy's decision, or None when its input is what it was last cycle and no
        time-dependent rule (aging, minimum run time) has come due since.

        The policy walks the queue only as far as anything can start or preempt; the
        reasons of the chains behind that point are refreshed by a complete walk in the
        first cycle with nothing new (the queue settled), and while the queue keeps
        changing at least every ``reasons_refresh_seconds``."""
        occupancy = self.app.devservers.occupancy(s, self.catalog.node_groups)
        running = [*running_views(chains), *occupancy.spot]
        nodes = self.catalog.node_views(occupancy.blocked_nodes)
        config = self.policy_config
        key = DecisionKey(
            self.queue.version, self.catalog.version, tuple(running), tuple(nodes), config
        )
        unchanged = key == self._last_key and now < self._next_event
        if not unchanged:
            self._changed_at = now
        # a complete walk (every waiting chain's reason) once the queue settled, and
        # while it keeps changing at least every reasons_refresh_seconds
        overdue = now - self._reasons_at >= self.app.reasons_refresh_seconds
        settled = unchanged and now - self._changed_at >= _SETTLE_SECONDS
        if not force and unchanged and not (self._reasons_stale and (settled or overdue)):
            return None
        reasons_due = overdue or settled
        pending = self.queue.pending()
        quotas = QuotaTable(rows=self.catalog.quota_rows, defaults=dict(self.app.default_quota))
        usage = fair_share_usage(self.app, s, now)  # None: fair share is off
        decision = decide(
            pending,
            running,
            nodes,
            quotas,
            config,
            now,
            usage,
            presorted=True,
            complete=reasons_due,
            queued_groups=self.queue.queued_groups(),
        )
        self.policy_runs += 1
        # a complete walk while the queue still churns writes only the reasons whose kind
        # changed: their numbers (free, releasing, in use) move every cycle, and rewriting
        # 100,000 rows every reasons_refresh_seconds halved the drain; settled, all of them
        first = self._reasons_at == -math.inf  # at start: every reason, exactly
        self._reason_kinds_only = decision.complete and not settled and not first
        self._reasons_stale = not decision.complete or self._reason_kinds_only
        self.last_walk_complete = decision.complete
        if decision.complete:
            self._reasons_at = now
        self._last_key, self._last_decision = key, decision
        self._next_event = next_time_event(pending, running, config, now)
        return decision

    # -- act ------------------------------------------------------------------------------
    def _act(
        self, s: Session, chains: list[Chain], decision: Decision, now: dt.datetime
    ) -> list[Chain]:
        """Make the decision real in the database: jobs for the chains that start (returned,
        launched after the commit), suspend requests for the victims, the waiting reasons;
        and forward every pending suspend to its running ranks."""
        started = self._start_chains(s, decision, now)
        self._request_suspends(s, chains, decision, now)
        self.queue.discard([p.chain_id for p in decision.starts])
        self._write_reasons(s, decision)
        self._forward_suspends(chains, now)
        return started

    def _start_chains(self, s: Session, decision: Decision, now: dt.datetime) -> list[Chain]:
        """A new job, with its ranks on the placed nodes, for each chain that starts."""
        ids = [p.chain_id for p in decision.starts]
        started = self._load_chains(s, Chain.id.in_(ids)) if ids else []
        order = {cid: i for i, cid in enumerate(ids)}
        started.sort(key=lambda c: order[c.id])
        for chain, placement in zip(started, decision.starts, strict=True):
            job = Job(seq=len(chain.jobs), created_at=now)
            chain.jobs.append(job)
            port = free_port()
            for i, node in enumerate(placement.nodes):
                job.ranks.append(JobRank(rank=i, node=node, master_port=port))
            if chain.started_at is None:
                chain.started_at = now
            chain.set_state(ChainState.RUNNING, now)
            chain.reason = ""
        return started

    def _request_suspends(
        self, s: Session, chains: list[Chain], decision: Decision, now: dt.datetime
    ) -> None:
        """The victims: a suspend request on each chain, a reclaim of each spot dev server."""
        by_id = {c.id: c for c in chains}
        for chain_id in decision.suspends:
            if chain_id < 0:  # a spot dev server holds the node
                self.app.devservers.reclaim(s, -chain_id, now, "a training chain needs the node")
                continue
            chain = by_id[chain_id]
            chain.suspend_requested_at = now
            chain.suspend_code = StopCode.PREEMPTED.value
            chain.reason = "preempted for a higher-priority chain; may checkpoint, then stops"
            chain.updated_at = now

    def _forward_suspends(self, chains: list[Chain], now: dt.datetime) -> None:
        """Send the suspend command (once) to the running ranks of every running chain with
        a suspend requested (by the policy or an admin: admin suspends are intents too)."""
        for chain in chains:
            if chain.chain_state is ChainState.RUNNING and chain.suspend_requested_at is not None:
                job = chain.current_job
                for r in job.ranks:
                    if r.rank_state is RankState.RUNNING and r.suspend_sent_at is None:
                        self.app.backend.request_suspend(
                            RankKey(chain.id, job.seq, r.rank), r.handle
                        )
                        r.suspend_sent_at = now

    def _write_reasons(self, s: Session, decision: Decision) -> None:
        """Store each waiting chain's reason where it changed (one executemany); after a
        complete walk of a churning queue, only where its kind changed."""
        devservers, groups = self.app.devservers, self.catalog.node_groups
        spot = devservers.reclaiming_by_group(s, groups) if decision.waiting else {}
        rows = self.queue.rows
        kinds_only = self._reason_kinds_only
        changed: dict[int, str] = {}
        for cid, reason in decision.waiting.items():
            if spot:
                reason = spot_aware_reason(reason, spot)
            row = rows.get(cid)
            if row is None or row.reason == reason:
                continue
            if kinds_only and reason_kind(row.reason) == reason_kind(reason):
                continue
            changed[cid] = reason
        if changed:
            with heap.paused(len(changed) >= 1000):  # tens of thousands of parameter rows
                params = [{"id": cid, "reason": r} for cid, r in changed.items()]
                s.execute(update(Chain), params)
            self.queue.set_reasons(changed)

    def _launch(self, s: Session, started: list[Chain], now: dt.datetime) -> None:
        jobs = [(chain, chain.current_job) for chain in started]
        self._start_ranks([(chain, job, rank) for chain, job in jobs for rank in job.ranks], now)

    def _start_ranks(self, ranks: list[tuple[Chain, Job, JobRank]], now: dt.datetime) -> None:
        """Start these ranks through the backend in one batch (the local backend overlaps
        their supervisors' starts); a rank that cannot start fails its job's init."""
        launches: list[tuple[Chain, Job, JobRank, RankLaunch]] = []
        for chain, job, rank in ranks:
            launch = self._rank_launch(chain, job, rank, now)
            if launch is not None:
                launches.append((chain, job, rank, launch))
        results = self.app.backend.start_ranks([launch for *_, launch in launches])
        for (chain, job, rank, _launch), result in zip(launches, results, strict=True):
            if isinstance(result, Exception):
                self._init_failed(job, rank, str(result), now)
                continue
            rank.handle = {**rank.handle, **result}
            rank.launched = True
            rank.started_at = rank.started_at or now
            if result.get("isolated") and chain.owner.system_user is None:
                chain.owner.system_user = result["account"]  # the mapping, kept for good

    def _rank_launch(
        self, chain: Chain, job: Job, rank: JobRank, now: dt.datetime
    ) -> RankLaunch | None:
        """What the backend needs to start ``rank``; None (its init failed) when its
        haienv cannot be used."""
        python = None
        activation: dict[str, str] = {}
        if chain.haienv:
            try:
                python, activation = self.haienv_activation(chain.haienv, chain.owner.name)
            except Exception as exc:  # missing/failed env: the rank cannot start
                self._init_failed(job, rank, f"haienv {chain.haienv!r}: {exc}", now)
                return None
        env = {**activation, **rank_variables(chain, job, rank.rank, rank)}
        return RankLaunch(
            key=RankKey(chain.id, job.seq, rank.rank),
            world_size=len(job.ranks),
            node=rank.node,
            master_node=job.ranks[0].node,
            entrypoint=chain.entrypoint,
            parameters=tuple(str(p) for p in chain.parameters or ()),
            env=env,
            workspace=chain.workspace or ".",
            owner=chain.owner.name,
            system_user=chain.owner.system_user,
            uid=chain.owner.uid,
            gid=chain.owner.gid,
            haienv=chain.haienv,
            python=python,
            gpus=chain.gpus_per_node,
        )

    def _init_failed(self, job: Job, rank: JobRank, reason: str, now: dt.datetime) -> None:
        self.log.warning("chain %s rank %s could not start: %s", job.chain_id, rank.rank, reason)
        rank.reason = reason
        rank.set_state(RankState.FAILED, now)
        job.record_stop(StopCode.INIT_FAILED, f"rank {rank.rank}: {reason}")

    def haienv_activation(self, name: str, owner: str) -> tuple[str, dict[str, str]]:
        """The interpreter and environment variables of a ready haienv of ``owner``."""
        return envs.activation(name, owner, parent=self)
