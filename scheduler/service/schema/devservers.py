"""Dev servers: an allocation and its lease (:mod:`scheduler.service.devservers`)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, ValidationInfo, WithJsonSchema

from hai_client.devcontainers import PROFILES
from scheduler.model.orm import NAME_MAX
from scheduler.model.spec import NO_NUL
from scheduler.service.schema.base import IsoText, Request, Response, rule


def _name(value: Any, info: ValidationInfo) -> Any:
    """A user or server name: text of at most NAME_MAX characters, no NUL; a user's not
    empty (the messages the endpoint has always given)."""
    field = info.field_name
    if field == "user" and (not isinstance(value, str) or not value):
        raise ValueError("user is required (a string)")
    if not isinstance(value, str):
        raise ValueError("server must be a string ('' for the default server)")
    if len(value) > NAME_MAX or "\x00" in value:
        raise ValueError(f"{field} must be at most {NAME_MAX} characters, no NUL")
    return value


def _name_schema(min_length: int) -> WithJsonSchema:
    return WithJsonSchema(
        {"type": "string", "minLength": min_length, "maxLength": NAME_MAX, "pattern": NO_NUL}
    )


class Allocation(Request):
    """``POST /devservers`` (admins: the hub's spawner): a MIG slice (``mig-gpu``) or a
    whole idle node (``spot``) for one of a user's servers. A field with a bad value is a
    422 naming it; an unknown field a 400."""

    invalid_status: ClassVar[int] = 422
    missing_messages: ClassVar[dict[str, str]] = {
        "user": "user is required (a string)",
        "profile": "profile is required (a string)",
    }

    user: Annotated[str, BeforeValidator(_name), _name_schema(min_length=1)]
    server: Annotated[str, BeforeValidator(_name), _name_schema(min_length=0)] = ""
    profile: Annotated[
        str,
        rule(lambda v: isinstance(v, str) and bool(v), "profile is required (a string)"),
        WithJsonSchema({"type": "string", "enum": list(PROFILES)}),
    ]


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
