"""``GET /chains/{ref}/logs``: one rank's output from a cursor, across the jobs of a chain.

The cursor is opaque to clients: it encodes (job seq, byte offset). When a job's log is
read to its end, that job has ended and a newer job exists (the chain was suspended and
resumed), reading goes on in the newer job after a marker line, so following a chain's
log survives preemption. ``done`` is true once the chain has finished and every line
has been returned.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from scheduler.backends.base import Backend, LogChunk, RankKey
from scheduler.model.enums import ChainState, RankState
from scheduler.model.orm import Job
from scheduler.service import queries, schema
from scheduler.service.auth import Identity
from scheduler.service.handlers.base import (
    ApiError,
    BaseHandler,
    QueryParam,
    int_param,
    not_found,
)

DEFAULT_MAX_BYTES = 256 * 1024
MAX_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Cursor:
    seq: int = 0
    offset: int = 0

    def encode(self) -> str:
        raw = f"{self.seq}:{self.offset}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        if not text:
            return cls()
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            seq, offset = (int(p) for p in raw.split(":"))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ValueError("not a cursor this server gave out") from None
        if seq < 0 or offset < 0:
            raise ValueError("not a cursor this server gave out")
        return cls(seq, offset)


def cursor_param(raw: str) -> Cursor:
    """A cursor this server gave out; any other text is well-formed but meaningless (422)."""
    if raw and not raw.replace("-", "").replace("_", "").isalnum():
        raise ValueError("not a cursor this server gave out")  # not base64url: a 400
    try:
        return Cursor.decode(raw)
    except ValueError as exc:
        raise ApiError(422, f"cursor: {exc}", "cursor") from None


#: ``GET /chains/{ref}/logs``'s query parameters (and their description in the document)
LOG_PARAMS = {
    "rank": int_param(0, description="Rank (default 0)"),
    "cursor": QueryParam(
        cursor_param,
        {"type": "string", "pattern": "^[A-Za-z0-9_-]*$"},
        "From a previous page; empty = start",
    ),
    "max_bytes": int_param(1, MAX_BYTES, "Most bytes to return"),
}


def _job_over(job: Job) -> bool:
    return job.ended_at is not None or (
        bool(job.ranks) and all(RankState(r.state).is_terminal for r in job.ranks)
    )


def read_rank_log(
    session: Session,
    backend: Backend,
    viewer: Identity,
    ref: str,
    rank: int,
    cursor: Cursor,
    max_bytes: int,
) -> dict[str, Any] | None:
    """One page of a rank's log from ``cursor`` (None: no such chain for ``viewer``)."""
    found = queries.find_chain(session, viewer, ref, jobs=True)
    if found is None:
        return None
    chain, _owner = found
    if rank >= chain.node_count:
        raise ApiError(422, f"chain {chain.id} has ranks 0-{chain.node_count - 1}", "rank")
    jobs = {j.seq: j for j in chain.jobs}
    last_seq = max(jobs) if jobs else None
    lines: list[dict[str, Any]] = []
    seq, offset = cursor.seq, cursor.offset
    budget = max_bytes
    exhausted = True
    while seq in jobs and budget > 0:
        chunk = _read(backend, RankKey(chain.id, seq, rank), offset, budget)
        for line in chunk.lines:
            lines.append({"time": line.time, "text": line.text, "job": seq})
            budget -= len(line.text) + 1
        offset = chunk.next_offset
        exhausted = chunk.eof
        if not chunk.eof:
            break
        newer = jobs.get(seq + 1)
        if newer is None or not _job_over(jobs[seq]):
            break
        seq, offset = seq + 1, 0
        exhausted = False  # the newer job's log is not read yet
        lines.append(
            {
                "time": schema.iso(newer.created_at),
                "text": f"--- job {seq} (resumed) ---",
                "job": seq,
                "marker": True,
            }
        )
    finished = chain.state == ChainState.FINISHED.value
    done = finished and exhausted and (last_seq is None or seq == last_seq)
    return {
        "chain_id": chain.id,
        "rank": rank,
        "state": chain.state,
        "lines": lines,
        "cursor": Cursor(seq, offset).encode(),
        "eof": exhausted,
        "done": done,
    }


def _read(backend: Backend, key: RankKey, offset: int, budget: int) -> LogChunk:
    try:
        return backend.read_log(key, offset, budget)
    except (FileNotFoundError, KeyError, NotImplementedError):
        return LogChunk(lines=[], next_offset=offset, eof=True)


class LogsHandler(BaseHandler):
    async def get(self, ref: str) -> None:
        args = self.query(LOG_PARAMS)
        page = await self.ctx.read(
            read_rank_log,
            self.ctx.app.backend,
            self.identity,
            ref,
            args.get("rank", 0),
            args.get("cursor", Cursor()),
            args.get("max_bytes", DEFAULT_MAX_BYTES),
        )
        if page is None:
            raise not_found(ref)
        self.send(schema.LogPage(**page).dump())
