"""Dev servers: an allocation and its lease (:mod:`scheduler.service.devservers`)."""

from __future__ import annotations

from typing import Literal

from scheduler.service.schema.base import IsoText, Response


class DevServer(Response):
    """A dev server's allocation and lease (:mod:`scheduler.service.devservers`)."""

    user: str
    server: str
    profile: str
    node: str
    gpu_ids: list[str | int]  # GPU indices or MIG/GPU UUIDs
    state: Literal["active", "expired", "reclaiming"]
    created_at: IsoText
    lease_expires_at: IsoText
    lease_max_at: IsoText
    lease_seconds_left: float | None
    reclaim_requested_at: IsoText
    reclaim_deadline: IsoText
    reclaim_reason: str


class DevServers(Response):
    devservers: list[DevServer]
