"""The cluster as the API shows it: node groups, nodes, the overview, who you are; an
admin's change of a node's state."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    Field,
)

from scheduler.service.schema.base import Request, Response, rule


class NodeInfo(Response):
    name: str
    gpus: int
    state: str
    used_by: list[dict[str, Any]] = []


class GroupUse(Response):
    """A node group's totals (``GET /overview``)."""

    name: str
    nodes: int
    gpus: int
    used_nodes: int
    free_nodes: int
    used_gpus: int
    free_gpus: int


class NodeGroup(GroupUse):
    """A node group's totals and its nodes, with who runs where (``GET /nodes``)."""

    node_list: list[NodeInfo] = []


class NodeGroups(Response):
    groups: list[NodeGroup]


class Overview(Response):
    """Chains per state (yours; admins: all) and GPUs in use per group."""

    scope: Literal["own", "all"]
    chains_by_state: dict[str, int]
    groups: list[GroupUse]


class Info(Response):
    """``GET /``: which service this is (no token needed)."""

    service: str
    api: str
    version: str


class Whoami(Response):
    name: str
    admin: bool
    role: Literal["user", "admin"]
    group: str | None = None
    quotas: dict[str, int | None] = Field(
        default={}, description="resource -> node limit (null = unlimited)"
    )
    usage: dict[str, Any] = {}


class NodeStateChange(Request):
    """``PATCH /nodes/{node}`` (admins): drain a node, or make it ready again."""

    state: Annotated[
        Literal["draining", "ready"],
        rule(lambda v: v in ("draining", "ready"), "state must be draining or ready"),
    ]
    missing_messages = {"state": "state must be draining or ready"}
