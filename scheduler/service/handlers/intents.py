"""The API's writes: new chain rows and the intents the scheduling loop acts on.

The API never changes a chain's or a rank's *state* (the loop is the only writer of
states). It inserts chains (``waiting_init``), and records intents: a stop request, an
admin's suspend (which also holds the chain) or resume (which releases the hold), and a
new priority. Every intent is one guarded UPDATE that leaves finished chains alone.
This module also holds the submit-time checks against groups and quotas.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, func, update
from sqlalchemy.orm import Session

from scheduler.model.enums import ChainState, Priority, StopCode
from scheduler.model.orm import Chain, utcnow
from scheduler.model.quota_names import TOTAL_NODES, quota_resource
from scheduler.model.spec import TaskSpec
from scheduler.service.handlers.base import ApiError
from scheduler.service.queries import Catalog, quota_table

FINISHED = ChainState.FINISHED.value


# --------------------------------------------------------------------------- checks


def resolve_group(spec: TaskSpec, catalog: Catalog, field: str) -> str:
    """The group a chain goes to: the one it names (which must exist) or the default."""
    if spec.group is None:
        group = catalog.default_group()
        if group is None:
            raise ApiError(422, "no node groups are known yet; try again shortly", field)
        return group
    return check_group(catalog, spec.group, field)


def check_group(catalog: Catalog, group: str, field: str) -> str:
    """``group`` if it exists; 422 naming ``field`` and the known groups otherwise."""
    if group not in catalog.groups:
        known = ", ".join(sorted(catalog.groups)) or "none yet"
        raise ApiError(422, f"unknown group {group!r} (groups: {known})", field)
    return group


def check_fits(spec: TaskSpec, catalog: Catalog, group: str, prefix: str) -> None:
    """Refuse a chain that could never be placed in ``group``."""
    info = catalog.groups[group]
    if spec.node_count > info.nodes:
        raise ApiError(
            422,
            f"asks for {spec.node_count} nodes; group {group!r} has {info.nodes}",
            f"{prefix}node_count",
        )
    if spec.gpus_per_node is not None and spec.gpus_per_node > info.max_gpus:
        raise ApiError(
            422,
            f"asks for {spec.gpus_per_node} GPUs per node; nodes of group {group!r} have "
            f"at most {info.max_gpus}",
            f"{prefix}gpus_per_node",
        )


def check_quota(
    catalog: Catalog,
    defaults: dict[str, int],
    user: str,
    group: str,
    priority: Priority,
    node_count: int,
    field: str = "priority",
) -> None:
    """403 when ``user`` may never run ``node_count`` nodes at ``priority`` in ``group``."""
    table = quota_table(catalog, defaults)
    user_group = catalog.user_groups.get(user)
    limit = table.limit(user, user_group, quota_resource(group, priority))
    if limit is not None and limit < node_count:
        raise ApiError(
            403,
            f"priority {priority.name} is above your quota in group {group!r}: "
            f"you may use {limit} node(s) at {priority.name}, this chain needs {node_count}",
            field,
        )
    total = table.limit(user, user_group, TOTAL_NODES)
    if total is not None and total < node_count:
        raise ApiError(
            403,
            f"this chain needs {node_count} nodes; your total quota is {total}",
            "resource.node_count",
        )


# --------------------------------------------------------------------------- writes


def new_chain_values(spec: TaskSpec, owner_id: int, group: str, now: dt.datetime) -> dict:
    """Column values of a new chain for ``spec`` (waiting, queued now)."""
    values = spec.chain_fields()
    values.update(
        owner_id=owner_id,
        group_name=group,
        state=ChainState.WAITING_INIT.value,
        suspend_count=0,
        held=False,
        reason="",
        created_at=now,
        queued_at=now,
        updated_at=now,
    )
    return values


_INSERT_CHAIN = Chain.__table__.insert().returning(Chain.__table__.c.id)


def insert_chain(conn: Connection, values: dict[str, Any]) -> int:
    """Insert one chain row (Core: a quarter of the ORM's cost per submission); its id."""
    return conn.execute(_INSERT_CHAIN, values).scalar_one()


def update_unfinished(session: Session, chain_id: int, values: dict[str, Any]) -> bool:
    """Apply ``values`` (and bump ``updated_at``) unless the chain has finished."""
    now = utcnow()
    result = session.execute(
        update(Chain)
        .where(Chain.id == chain_id, Chain.state != FINISHED)
        .values(**values, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def stop_values() -> dict[str, Any]:
    return {"stop_requested_at": func.coalesce(Chain.stop_requested_at, utcnow())}


def suspend_values() -> dict[str, Any]:
    return {
        "suspend_requested_at": utcnow(),
        "suspend_code": StopCode.SUSPENDED_BY_ADMIN.value,
        "held": True,
    }


def resume_values() -> dict[str, Any]:
    return {"held": False}


def priority_values(priority: Priority) -> dict[str, Any]:
    return {"priority": int(priority)}
