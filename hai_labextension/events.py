"""Live updates: one shared watcher per Jupyter server, pushed as server-sent events.

:class:`ChainWatcher` asks the scheduler for the owner's chains (every
``HaiLabConfig.poll_seconds``, 2 s by default) and for this server's lease (every
``lease_poll_seconds``) only while at least one browser tab listens on ``/hai/events``;
all tabs share the same polls. A tab gets the latest snapshot at once, then only changes.
Chains whose ``updated_at`` moved are read once more in full for their ranks, nodes and
GPU time (:mod:`hai_labextension.gpu_time`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import TYPE_CHECKING, Any

from hai_client.client import Chain, HaiClient
from hai_client.errors import HaiError
from hai_labextension.gpu_time import gpu_time

if TYPE_CHECKING:
    from hai_labextension.service import HaiLab

Event = tuple[str, Any]


def sse(event: str, data: Any, event_id: str | None = None) -> bytes:
    """One server-sent event: ``event:``, optional ``id:``, one ``data:`` line of JSON."""
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id else "")
    return (head + "data: " + json.dumps(data, separators=(",", ":")) + "\n\n").encode()


def ranks_summary(chain: Chain) -> list[dict[str, Any]]:
    """The ranks of the newest job: rank, state, node, exit code, reason."""
    job = chain.current_job
    if job is None:
        return []
    return [
        {
            "rank": r.rank,
            "state": r.state,
            "node": r.node,
            "exit_code": r.exit_code,
            "reason": r.reason,
        }
        for r in job.ranks
    ]


class ChainWatcher:
    """Polls the scheduler for all listening tabs; each tab holds an asyncio.Queue."""

    def __init__(self, lab: HaiLab) -> None:
        self.lab = lab
        self.queues: set[asyncio.Queue[Event]] = set()
        self.chains: dict[str, Any] | None = None  # the latest "chains" payload
        self.lease: dict[str, Any] | None = None  # the latest "lease" payload
        self.error: str | None = None
        self.polls = 0  # how many times the chain list was read (tests look)
        self._details: dict[int, tuple[str | None, dict[str, Any]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._poke = asyncio.Event()
        self._lease_at = 0.0

    # ------------------------------------------------------------------ subscribers

    def subscribe(self) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        if self.chains is not None:
            queue.put_nowait(("chains", self.chains))
        if self.lease is not None:
            queue.put_nowait(("lease", self.lease))
        if self.error is not None:
            queue.put_nowait(("error", {"error": self.error}))
        self.queues.add(queue)
        if self._task is None or self._task.done():
            self._poke = asyncio.Event()
            self._lease_at = 0.0
            self._task = asyncio.create_task(self._run())
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        self.queues.discard(queue)
        if not self.queues:
            self.poke()  # the loop sees nobody listens and ends

    def poke(self) -> None:
        """Poll now (after a submit or stop) instead of at the next tick."""
        self._poke.set()

    def _broadcast(self, event: str, data: Any) -> None:
        for queue in list(self.queues):
            queue.put_nowait((event, data))

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    # ------------------------------------------------------------------ polling

    async def _run(self) -> None:
        while self.queues:
            try:
                await self._poll_chains()
                if time.monotonic() >= self._lease_at:
                    self._lease_at = time.monotonic() + self.lab.config.lease_poll_seconds
                    await self._poll_lease()
                self._set_error(None)
            except HaiError as exc:
                self._set_error(str(exc))
            except Exception as exc:  # keep serving the tabs whatever happens
                self.lab.log.exception("hai_labextension: polling failed")
                self._set_error(f"polling the scheduler failed: {exc}")
            self._poke.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), self.lab.config.poll_seconds)
        self._task = None

    def _set_error(self, error: str | None) -> None:
        if error != self.error:
            self.error = error
            self._broadcast("error", {"error": error})

    async def _poll_chains(self) -> None:
        me = await self.lab.me()
        size = max(1, min(50, self.lab.config.list_page_size))
        page = await self.lab.call(HaiClient.list, page_size=size, owner=me)
        self.polls += 1
        chains = []
        for chain in page.chains:
            row = {**chain.raw, **await self._details_of(chain)}
            row["nodes"] = sorted({r["node"] for r in row["ranks"] if r["node"]})
            chains.append(row)
        seen = {c.id for c in page.chains}
        for cid in list(self._details):
            if cid not in seen:
                del self._details[cid]
        payload = {"user": me, "total": page.total, "chains": chains}
        if payload != self.chains:
            self.chains = payload
            self._broadcast("chains", payload)

    async def _details_of(self, chain: Chain) -> dict[str, Any]:
        """``ranks`` and ``gpu_time`` of a chain, read again when its ``updated_at`` moved."""
        stamp = chain.raw.get("updated_at")
        cached = self._details.get(chain.id)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            full = await self.lab.call(HaiClient.get, chain.id)
        except HaiError as exc:
            if exc.status == 404:
                return {"ranks": []}
            raise
        details = {
            "ranks": ranks_summary(full),
            "gpu_time": gpu_time(full.raw, await self.lab.node_gpus()),
        }
        self._details[chain.id] = (stamp, details)
        return details

    async def _poll_lease(self) -> None:
        lease = await self.lab.lease()
        payload = {"lease": lease, "hub": self.lab.lease_path() is not None}
        if payload != self.lease:
            self.lease = payload
            self._broadcast("lease", payload)
