"""Submitting and reprioritising: the task spec's shape (for the document; its rules are
:mod:`scheduler.model.spec`'s), the overrides, ``POST /chains`` and ``PATCH /chains/{ref}``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    WithJsonSchema,
)

from scheduler.service.schema.base import PriorityIn, PriorityName, Request


class PriorityChange(Request):
    """``PATCH /chains/{ref}``: the new priority."""

    priority: PriorityIn
    missing_messages = {"priority": "nothing to change: send {'priority': ...}"}


class SpecBody(Request):
    entrypoint: str
    parameters: str | list[Any] | None = None
    workspace: str | None = None
    environments: dict[str, Any] | None = None
    haienv: str | None = None


class SpecResource(Request):
    group: str | None = None
    node_count: int | None = Field(default=None, ge=1)
    gpus_per_node: int | None = Field(default=None, ge=0)


class SpecOptions(Request):
    whole_life_state: int | None = Field(default=None, ge=0, le=2**31 - 1)
    timeout: int | None = Field(default=None, ge=1, le=2**31 - 1)
    tags: list[str] | None = None


class TaskSpec(Request):
    """The task spec, version 2 (docs/api.md); unknown fields are refused. Checked by
    :mod:`scheduler.model.spec` (messages name the field and the YAML line)."""

    version: Literal[2] = 2
    name: str = Field(min_length=1, max_length=128)
    priority: PriorityName | Annotated[int, Field(ge=0, le=6)] | None = None
    spec: SpecBody
    resource: SpecResource | None = None
    options: SpecOptions | None = None


class Overrides(Request):
    """Fields a submitter may set on top of a spec (``hai-cli run x.yaml -n 2``)."""

    name: str | None = None
    priority: PriorityName | Annotated[int, Field(ge=0, le=6)] | None = None
    group: str | None = None
    node_count: int | None = Field(default=None, ge=1)
    gpus_per_node: int | None = Field(default=None, ge=0)
    haienv: str | None = None
    workspace: str | None = None


class Submission(Request):
    """``POST /chains``: a task spec (an object, or YAML text) and its overrides. The
    envelope is parsed here; the spec and the overrides by :mod:`scheduler.model.spec`."""

    task: Annotated[
        Any,
        WithJsonSchema(
            {
                "oneOf": [
                    {"$ref": "#/components/schemas/TaskSpec"},
                    {"type": "string", "description": "YAML text"},
                ]
            }
        ),
    ]
    overrides: Annotated[
        dict[str, Any] | None,
        WithJsonSchema({"allOf": [{"$ref": "#/components/schemas/Overrides"}]}),
    ] = None
