"""The scheduler API's answers as the Python client reads them (generated: do not edit).

Written by scripts/gen_api_types.py from openapi.json, which is dumped from the models in
scheduler/service/schema.py (``make api-types``); tests/test_api_schema.py fails when this
file and the document disagree. Standard library only: hai-cli never imports pydantic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hai_client.api_mixins import ChainMixin


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _get(d: Mapping[str, Any], key: str, default: Any) -> Any:
    value = d.get(key)
    return default if value is None else value


def _maybe(read: Any, value: Any) -> Any:
    return None if value is None else read(value)


@dataclass(frozen=True, slots=True)
class Rank:
    """``Rank`` in the API."""

    rank: int
    state: str
    node: str | None = None
    exit_code: int | None = None
    reason: str = ""
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    gpu: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Rank:
        return cls(
            rank=d["rank"],
            state=d["state"],
            node=_get(d, "node", None),
            exit_code=_get(d, "exit_code", None),
            reason=_get(d, "reason", ""),
            started_at=_time(_get(d, "started_at", None)),
            ended_at=_time(_get(d, "ended_at", None)),
            gpu=_maybe(dict, _get(d, "gpu", None)),
            raw=dict(d),
        )


@dataclass(frozen=True, slots=True)
class Job:
    """``Job`` in the API."""

    seq: int
    stop_code: str | None = None
    reason: str = ""
    created_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    ranks: list[Rank] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Job:
        return cls(
            seq=d["seq"],
            stop_code=_get(d, "stop_code", None),
            reason=_get(d, "reason", ""),
            created_at=_time(_get(d, "created_at", None)),
            ended_at=_time(_get(d, "ended_at", None)),
            ranks=[Rank.from_json(x) for x in _get(d, "ranks", [])],
            raw=dict(d),
        )


@dataclass(frozen=True, slots=True)
class Chain(ChainMixin):
    """A chain (one submitted task); ``jobs`` (each with its ranks) on a single chain."""

    id: int
    name: str
    owner: str
    state: str
    priority: str = "NORMAL"
    node_count: int = 1
    gpus_per_node: int | None = None
    group: str = ""
    suspend_count: int = 0
    whole_life_state: int = 0
    reason: str = ""
    stop_code: str | None = None
    stop_requested: bool = False
    held: bool = False
    tags: list[str] = field(default_factory=list)
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    jobs: list[Job] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Chain:
        return cls(
            id=d["id"],
            name=d["name"],
            owner=_get(d, "owner", ""),
            state=d["state"],
            priority=_get(d, "priority", "NORMAL"),
            node_count=_get(d, "node_count", 1),
            gpus_per_node=_get(d, "gpus_per_node", None),
            group=_get(d, "group", ""),
            suspend_count=_get(d, "suspend_count", 0),
            whole_life_state=_get(d, "whole_life_state", 0),
            reason=_get(d, "reason", ""),
            stop_code=_get(d, "stop_code", None),
            stop_requested=_get(d, "stop_requested", False),
            held=_get(d, "held", False),
            tags=list(_get(d, "tags", [])),
            created_at=_time(_get(d, "created_at", None)),
            updated_at=_time(_get(d, "updated_at", None)),
            started_at=_time(_get(d, "started_at", None)),
            finished_at=_time(_get(d, "finished_at", None)),
            jobs=[Job.from_json(x) for x in _get(d, "jobs", [])],
            raw=dict(d),
        )


@dataclass(frozen=True, slots=True)
class ChainPage:
    """``ChainPage`` in the API."""

    chains: list[Chain]
    page: int
    page_size: int
    total: int
    pages: int
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ChainPage:
        return cls(
            chains=[Chain.from_json(x) for x in d["chains"]],
            page=d["page"],
            page_size=d["page_size"],
            total=d["total"],
            pages=d["pages"],
            raw=dict(d),
        )


@dataclass(frozen=True, slots=True)
class LogLine:
    """``LogLine`` in the API."""

    time: str
    text: str
    job: int = 0
    marker: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> LogLine:
        return cls(
            time=d["time"],
            text=d["text"],
            job=_get(d, "job", 0),
            marker=_get(d, "marker", False),
            raw=dict(d),
        )


@dataclass(frozen=True, slots=True)
class LogPage:
    """``LogPage`` in the API."""

    chain_id: int
    rank: int
    state: str
    lines: list[LogLine]
    cursor: str
    eof: bool
    done: bool
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> LogPage:
        return cls(
            chain_id=_get(d, "chain_id", 0),
            rank=_get(d, "rank", 0),
            state=d["state"],
            lines=[LogLine.from_json(x) for x in d["lines"]],
            cursor=d["cursor"],
            eof=d["eof"],
            done=d["done"],
            raw=dict(d),
        )


@dataclass(frozen=True, slots=True)
class Whoami:
    """``Whoami`` in the API."""

    name: str
    admin: bool
    role: str
    group: str | None = None
    quotas: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Whoami:
        return cls(
            name=d["name"],
            admin=d["admin"],
            role=d["role"],
            group=_get(d, "group", None),
            quotas=dict(_get(d, "quotas", {})),
            usage=dict(_get(d, "usage", {})),
            raw=dict(d),
        )


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """``NodeInfo`` in the API."""

    name: str
    gpus: int
    state: str
    used_by: list[dict[str, Any]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> NodeInfo:
        return cls(
            name=d["name"],
            gpus=d["gpus"],
            state=d["state"],
            used_by=[dict(x) for x in _get(d, "used_by", [])],
            raw=dict(d),
        )


@dataclass(frozen=True, slots=True)
class NodeGroup:
    """A node group's totals and its nodes, with who runs where (``GET /nodes``)."""

    name: str
    nodes: int
    gpus: int
    used_nodes: int
    free_nodes: int
    used_gpus: int
    free_gpus: int
    node_list: list[NodeInfo] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> NodeGroup:
        return cls(
            name=d["name"],
            nodes=d["nodes"],
            gpus=d["gpus"],
            used_nodes=d["used_nodes"],
            free_nodes=d["free_nodes"],
            used_gpus=d["used_gpus"],
            free_gpus=d["free_gpus"],
            node_list=[NodeInfo.from_json(x) for x in _get(d, "node_list", [])],
            raw=dict(d),
        )


__all__ = [
    "Chain",
    "ChainPage",
    "Job",
    "LogLine",
    "LogPage",
    "NodeGroup",
    "NodeInfo",
    "Rank",
    "Whoami",
]
