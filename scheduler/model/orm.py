"""The database schema (SQLAlchemy 2 declarative) and the state-changing methods on it.

Rows change state only through :meth:`Chain.set_state` and :meth:`JobRank.set_state`,
which consult the one state machine in :mod:`scheduler.model.states`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from scheduler.model.enums import ChainState, NodeState, Priority, RankState, StopCode
from scheduler.model.states import check_chain, check_rank

NAME_MAX = 128


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator):
    """Stores naive UTC (portable to SQLite), always returns aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    group_name: Mapped[str | None] = mapped_column(String(NAME_MAX), default=None)
    # a disabled user's tokens are refused at once; their finished data stays readable to admins
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # the system account this user's code runs as (None: chosen by the configured mapping)
    system_user: Mapped[str | None] = mapped_column(String(32), default=None)
    # the uid/gid of the user's pods on Kubernetes (set at creation: UID_BASE + id)
    uid: Mapped[int | None] = mapped_column(Integer, default=None)
    gid: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user", cascade="all")


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    note: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)  # None: never

    user: Mapped[User] = relationship(back_populates="tokens")


class NodeGroup(Base):
    __tablename__ = "node_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")

    nodes: Mapped[list[Node]] = relationship(back_populates="group")


class Node(Base):
    __tablename__ = "nodes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("node_groups.id"))
    gpus: Mapped[int] = mapped_column(Integer, default=0)
    gpu_ids: Mapped[list[Any]] = mapped_column(default=list)  # GPU indices or MIG/GPU UUIDs
    state: Mapped[str] = mapped_column(String(16), default=NodeState.READY.value)

    group: Mapped[NodeGroup] = relationship(back_populates="nodes")


class Quota(Base):
    """A node quota row: ``resource`` is ``node-<group>-<PRIORITY>`` or ``node`` (total).

    ``subject_kind`` is ``user`` or ``group``; a user row overrides a group row.
    """

    __tablename__ = "quotas"
    __table_args__ = (UniqueConstraint("subject_kind", "subject", "resource"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(NAME_MAX))
    resource: Mapped[str] = mapped_column(String(255))
    limit: Mapped[int] = mapped_column(Integer)


class Chain(Base):
    """One submitted task; it runs as a sequence of jobs."""

    __tablename__ = "chains"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    group_name: Mapped[str] = mapped_column(String(NAME_MAX))
    node_count: Mapped[int] = mapped_column(Integer, default=1)
    gpus_per_node: Mapped[int | None] = mapped_column(Integer, default=None)
    priority: Mapped[int] = mapped_column(Integer, default=int(Priority.NORMAL))
    entrypoint: Mapped[str] = mapped_column(Text)
    parameters: Mapped[list[Any]] = mapped_column(default=list)
    workspace: Mapped[str] = mapped_column(Text, default="")
    environment: Mapped[dict[str, Any]] = mapped_column(default=dict)
    haienv: Mapped[str | None] = mapped_column(String(NAME_MAX), default=None)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    whole_life_state: Mapped[int] = mapped_column(Integer, default=0)
    suspend_count: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(
        String(16), default=ChainState.WAITING_INIT.value, index=True
    )
    stop_code: Mapped[str | None] = mapped_column(String(32), default=None)
    reason: Mapped[str] = mapped_column(Text, default="")  # why it waits / why it ended
    stop_requested_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    suspend_requested_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    suspend_code: Mapped[str | None] = mapped_column(String(32), default=None)
    held: Mapped[bool] = mapped_column(Boolean, default=False)  # admin-suspended: not resumed
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)  # keeps its place on resume
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    owner: Mapped[User] = relationship()
    jobs: Mapped[list[Job]] = relationship(
        back_populates="chain", order_by="Job.seq", cascade="all, delete-orphan"
    )

    @property
    def chain_state(self) -> ChainState:
        return ChainState(self.state)

    @property
    def priority_level(self) -> Priority:
        return Priority(self.priority)

    def set_state(self, new: ChainState, now: dt.datetime | None = None) -> None:
        check_chain(self.chain_state, new)
        self.state = new.value
        self.updated_at = now or utcnow()

    @property
    def current_job(self) -> Job | None:
        return self.jobs[-1] if self.jobs else None


class Job(Base):
    """One run of a chain on its nodes; a resumed chain gets a new job (seq + 1)."""

    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("chain_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chain_id: Mapped[int] = mapped_column(ForeignKey("chains.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    stop_code: Mapped[str | None] = mapped_column(String(32), default=None)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    chain: Mapped[Chain] = relationship(back_populates="jobs")
    ranks: Mapped[list[JobRank]] = relationship(
        back_populates="job", order_by="JobRank.rank", cascade="all, delete-orphan"
    )

    @property
    def is_resume(self) -> bool:
        return self.seq > 0

    @property
    def ended(self) -> bool:
        return all(RankState(r.state).is_terminal for r in self.ranks)

    def record_stop(self, code: StopCode, reason: str) -> None:
        """Remember why the job ends; the first cause recorded wins."""
        if self.stop_code is None:
            self.stop_code = code.value
            self.reason = reason


class JobRank(Base):
    """One rank of one job: which node it runs on and how it is doing."""

    __tablename__ = "job_ranks"
    __table_args__ = (UniqueConstraint("job_id", "rank"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    node: Mapped[str] = mapped_column(String(NAME_MAX), index=True)
    state: Mapped[str] = mapped_column(String(32), default=RankState.CREATED.value, index=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, default=None)
    reason: Mapped[str] = mapped_column(Text, default="")
    handle: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the backend's reference
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None, index=True)
    # what the loop did to the rank (the handle is the backend's, these are the loop's)
    master_port: Mapped[int | None] = mapped_column(Integer, default=None)  # rank 0 listens
    launched: Mapped[bool] = mapped_column(Boolean, default=False)  # backend.start_rank done
    suspend_sent_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    terminating_since: Mapped[dt.datetime | None] = mapped_column(default=None)
    term_sent_at: Mapped[dt.datetime | None] = mapped_column(default=None)  # asked to end
    killed_at: Mapped[dt.datetime | None] = mapped_column(default=None)  # then killed

    job: Mapped[Job] = relationship(back_populates="ranks")

    @property
    def rank_state(self) -> RankState:
        return RankState(self.state)

    def set_state(self, new: RankState, now: dt.datetime | None = None) -> None:
        if new == self.rank_state:
            return
        check_rank(self.rank_state, new)
        now = now or utcnow()
        self.state = new.value
        if new == RankState.RUNNING and self.started_at is None:
            self.started_at = now
        if new.is_terminal:
            self.ended_at = now


class DevServer(Base):
    """A dev container's hold on the inventory: one MIG slice (``mig-gpu``) or a whole node
    (``spot``), with the lease of a mig-gpu server and the reclaim request of a spot one."""

    __tablename__ = "dev_servers"
    __table_args__ = (UniqueConstraint("user_name", "server_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_name: Mapped[str] = mapped_column(String(NAME_MAX), index=True)
    server_name: Mapped[str] = mapped_column(String(NAME_MAX), default="")
    profile: Mapped[str] = mapped_column(String(32))
    node: Mapped[str] = mapped_column(String(NAME_MAX), index=True)
    gpu_ids: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    lease_max_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    reclaim_requested_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    reclaim_deadline: Mapped[dt.datetime | None] = mapped_column(default=None)
    reclaim_reason: Mapped[str] = mapped_column(Text, default="")
