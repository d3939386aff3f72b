"""The scheduler API's answers as the Python client reads them (generated: do not edit).

Written by scripts/gen_api_types.py from openapi.json, which is dumped from the models in
scheduler/service/schema/ (``make api-types``); tests/test_api_schema.py fails when this
file and the document disagree. Standard library only: hai-cli never imports pydantic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from hai_client.api_mixins import ChainMixin, Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

_set = object.__setattr__  # the fields are read-only once set (Record.__setattr__)


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _get(d: Mapping[str, Any], key: str, default: Any) -> Any:
    value = d.get(key)
    return default if value is None else value


def _maybe(read: Any, value: Any) -> Any:
    return None if value is None else read(value)


class Rank(Record):
    """``Rank`` in the API."""

    __slots__ = (
        "rank",
        "state",
        "node",
        "exit_code",
        "reason",
        "started_at",
        "ended_at",
        "gpu",
        "raw",
    )

    def __init__(
        self,
        rank: int,
        state: str,
        node: str | None = None,
        exit_code: int | None = None,
        reason: str = "",
        started_at: dt.datetime | None = None,
        ended_at: dt.datetime | None = None,
        gpu: dict[str, Any] | None = None,
        raw: dict[str, Any] | None = None,
    ) -> None:
        _set(self, "rank", rank)
        _set(self, "state", state)
        _set(self, "node", node)
        _set(self, "exit_code", exit_code)
        _set(self, "reason", reason)
        _set(self, "started_at", started_at)
        _set(self, "ended_at", ended_at)
        _set(self, "gpu", gpu)
        _set(self, "raw", {} if raw is None else raw)

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


class Job(Record):
    """``Job`` in the API."""

    __slots__ = (
        "seq",
        "stop_code",
        "reason",
        "created_at",
        "ended_at",
        "ranks",
        "raw",
    )

    def __init__(
        self,
        seq: int,
        stop_code: str | None = None,
        reason: str = "",
        created_at: dt.datetime | None = None,
        ended_at: dt.datetime | None = None,
        ranks: list[Rank] | None = None,
        raw: dict[str, Any] | None = None,
    ) -> None:
        _set(self, "seq", seq)
        _set(self, "stop_code", stop_code)
        _set(self, "reason", reason)
        _set(self, "created_at", created_at)
        _set(self, "ended_at", ended_at)
        _set(self, "ranks", list() if ranks is None else ranks)
        _set(self, "raw", {} if raw is None else raw)

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


class Chain(ChainMixin, Record):
    """A chain (one submitted task); ``jobs`` (each with its ranks) on a single chain."""

    __slots__ = (
        "id",
        "name",
        "owner",
        "state",
        "priority",
        "node_count",
        "gpus_per_node",
        "group",
        "suspend_count",
        "whole_life_state",
        "reason",
        "stop_code",
        "stop_requested",
        "held",
        "tags",
        "created_at",
        "updated_at",
        "started_at",
        "finished_at",
        "jobs",
        "raw",
    )

    def __init__(
        self,
        id: int,
        name: str,
        owner: str,
        state: str,
        priority: str = "NORMAL",
        node_count: int = 1,
        gpus_per_node: int | None = None,
        group: str = "",
        suspend_count: int = 0,
        whole_life_state: int = 0,
        reason: str = "",
        stop_code: str | None = None,
        stop_requested: bool = False,
        held: bool = False,
        tags: list[str] | None = None,
        created_at: dt.datetime | None = None,
        updated_at: dt.datetime | None = None,
        started_at: dt.datetime | None = None,
        finished_at: dt.datetime | None = None,
        jobs: list[Job] | None = None,
        raw: dict[str, Any] | None = None,
    ) -> None:
        _set(self, "id", id)
        _set(self, "name", name)
        _set(self, "owner", owner)
        _set(self, "state", state)
        _set(self, "priority", priority)
        _set(self, "node_count", node_count)
        _set(self, "gpus_per_node", gpus_per_node)
        _set(self, "group", group)
        _set(self, "suspend_count", suspend_count)
        _set(self, "whole_life_state", whole_life_state)
        _set(self, "reason", reason)
        _set(self, "stop_code", stop_code)
        _set(self, "stop_requested", stop_requested)
        _set(self, "held", held)
        _set(self, "tags", list() if tags is None else tags)
        _set(self, "created_at", created_at)
        _set(self, "updated_at", updated_at)
        _set(self, "started_at", started_at)
        _set(self, "finished_at", finished_at)
        _set(self, "jobs", list() if jobs is None else jobs)
        _set(self, "raw", {} if raw is None else raw)

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


class ChainPage(Record):
    """``ChainPage`` in the API."""

    __slots__ = (
        "chains",
        "page",
        "page_size",
        "total",
        "pages",
        "raw",
    )

    def __init__(
        self,
        chains: list[Chain],
        page: int,
        page_size: int,
        total: int,
        pages: int,
        raw: dict[str, Any] | None = None,
    ) -> None:
        _set(self, "chains", chains)
        _set(self, "page", page)
        _set(self, "page_size", page_size)
        _set(self, "total", total)
        _set(self, "pages", pages)
        _set(self, "raw", {} if raw is None else raw)

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


class LogLine(Record):
    """``LogLine`` in the API."""

    __slots__ = (
        "time",
        "text",
        "job",
        "marker",
        "raw",
    )

    def __init__(
        self,
        time: str,
        text: str,
        job: int = 0,
        marker: bool = False,
        raw: dict[str, Any] | None = None,
    ) -> None:
        _set(self, "time", time)
        _set(self, "text", text)
        _set(self, "job", job)
        _set(self, "marker", marker)
        _set(self, "raw", {} if raw is None else raw)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> LogLine:
        return cls(
            time=d["time"],
            text=d["text"],
            job=_get(d, "job", 0),
            marker=_get(d, "marker", False),
            raw=dict(d),
        )


class LogPage(Record):
    """``LogPage`` in the API."""

    __slots__ = (
        "chain_id",
        "rank",
        "state",
        "lines",
        "cursor",
        "eof",
        "done",
        "raw",
    )

    def __init__(
        self,
        chain_id: int,
        rank: int,
        state: str,
        lines: list[LogLine],
        cursor: str,
        eof: bool,
        done: bool,
        raw: dict[str, Any] | None = None,
    ) -> None:
        _set(self, "chain_id", chain_id)
        _set(self, "rank", rank)
        _set(self, "state", state)
        _set(self, "lines", lines)
        _set(self, "cursor", cursor)
        _set(self, "eof", eof)
        _set(self, "done", done)
        _set(self, "raw", {} if raw is None else raw)

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


class Whoami(Record):
    """``Whoami`` in the API."""

    __slots__ = (
        "name",
        "admin",
        "role",
        "group",
        "quotas",
        "usage",
        "raw",
    )

    def __init__(
        self,
        name: str,
        admin: bool,
        role: str,
        group: str | None = None,
        quotas: dict[str, Any] | None = None,
        usage: dict[str, Any] | None = None,
        raw: dict[str, Any] | None = None,
    ) -> None:
        _set(self, "name", name)
        _set(self, "admin", admin)
        _set(self, "role", role)
        _set(self, "group", group)
        _set(self, "quotas", dict() if quotas is None else quotas)
        _set(self, "usage", dict() if usage is None else usage)
        _set(self, "raw", {} if raw is None else raw)

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


class NodeInfo(Record):
    """``NodeInfo`` in the API."""

    __slots__ = (
        "name",
        "gpus",
        "state",
        "used_by",
        "raw",
    )

    def __init__(
        self,
        name: str,
        gpus: int,
        state: str,
        used_by: list[dict[str, Any]] | None = None,
        raw: dict[str, Any] | None = None,
    ) -> None:
        _set(self, "name", name)
        _set(self, "gpus", gpus)
        _set(self, "state", state)
        _set(self, "used_by", list() if used_by is None else used_by)
        _set(self, "raw", {} if raw is None else raw)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> NodeInfo:
        return cls(
            name=d["name"],
            gpus=d["gpus"],
            state=d["state"],
            used_by=[dict(x) for x in _get(d, "used_by", [])],
            raw=dict(d),
        )


class NodeGroup(Record):
    """A node group's totals and its nodes, with who runs where (``GET /nodes``)."""

    __slots__ = (
        "name",
        "nodes",
        "gpus",
        "used_nodes",
        "free_nodes",
        "used_gpus",
        "free_gpus",
        "node_list",
        "raw",
    )

    def __init__(
        self,
        name: str,
        nodes: int,
        gpus: int,
        used_nodes: int,
        free_nodes: int,
        used_gpus: int,
        free_gpus: int,
        node_list: list[NodeInfo] | None = None,
        raw: dict[str, Any] | None = None,
    ) -> None:
        _set(self, "name", name)
        _set(self, "nodes", nodes)
        _set(self, "gpus", gpus)
        _set(self, "used_nodes", used_nodes)
        _set(self, "free_nodes", free_nodes)
        _set(self, "used_gpus", used_gpus)
        _set(self, "free_gpus", free_gpus)
        _set(self, "node_list", list() if node_list is None else node_list)
        _set(self, "raw", {} if raw is None else raw)

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
