"""``GET /openapi.json``: the OpenAPI 3 description of the API, written as data.

A test checks that every route :mod:`scheduler.service.web` serves, with every method its
handler implements, is described here.
"""

from __future__ import annotations

import copy
from typing import Any

from scheduler.model.enums import ChainState, Priority
from scheduler.service.handlers.base import BaseHandler


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERR = _json(_ref("Error"), "Error; `field` names the offending field")
_ERRORS = {
    "400": _ERR,
    "401": _json(_ref("Error"), "Missing or invalid token"),
    "403": _json(_ref("Error"), "Not allowed to you (admins only, above your quota)"),
    "404": _json(_ref("Error"), "No such chain, or not yours"),
    "422": _json(
        _ref("Error"),
        "Well-formed but not acceptable: an invalid task spec, an unknown group, a "
        "missing haienv, a cursor this server did not give out",
    ),
}
_CONFLICT = _json(_ref("Error"), "The chain has finished (stop, suspend, resume)")
_REF_PARAM = {
    "name": "ref",
    "in": "path",
    "required": True,
    "description": "A chain id, or a chain name (the newest chain of that name)",
    "schema": {"type": "string"},
}
_TIME = {"type": "string", "format": "date-time", "nullable": True}
_PRIORITY = {"type": "string", "enum": [p.name for p in Priority]}
_STATE = {"type": "string", "enum": [s.value for s in ChainState]}
# what chains.states_param accepts: states separated by commas, nothing else
_STATES_LIST = "^({0})(,({0}))*$".format("|".join(s.value for s in ChainState))
# one GPU in one sample of a rank's GPU utilisation (scheduler.service.rank_gpu)
_GPU_SAMPLE = {
    "type": "object",
    "properties": {
        "utilization": {"type": "number", "minimum": 0, "maximum": 1},
        "memory_used_bytes": {"type": "integer"},
        "memory_total_bytes": {"type": "integer"},
        "error": {"type": "string"},
    },
}
# a query text parameter: what handlers.base.text_param accepts
_TEXT = {"type": "string", "maxLength": 256, "pattern": "^[^\\x00]*$"}


def _op(
    summary: str, ok: dict[str, Any], *, params: list | None = None, conflict: bool = False
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {"200": ok, **_ERRORS}}
    if conflict:
        op["responses"]["409"] = _CONFLICT
    if params:
        op["parameters"] = params
    return op


def _body(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A required JSON request body: an object of exactly these properties."""
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
    }
    if required:
        schema["required"] = list(required)
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description}


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string"},
            "field": {"type": "string", "nullable": True},
            "line": {"type": "integer", "nullable": True},
            "errors": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Rank": {
        "type": "object",
        "properties": {
            "rank": {"type": "integer"},
            "state": {"type": "string"},
            "node": {"type": "string"},
            "exit_code": {"type": "integer", "nullable": True},
            "reason": {"type": "string"},
            "started_at": _TIME,
            "ended_at": _TIME,
            "gpu": _ref("RankGpu"),  # the newest sample, on active ranks of the current job
        },
    },
    "RankGpu": {
        "type": "object",
        "description": "GPU utilisation sampled by the rank's supervisor (NVML); "
        "available false with the reason where there is no data",
        "properties": {
            "available": {"type": "boolean"},
            "reason": {"type": "string"},
            "interval_seconds": {"type": "number", "nullable": True},
            "time": {"type": "string", "nullable": True},
            "gpus": {"type": "object", "nullable": True, "additionalProperties": _GPU_SAMPLE},
            "samples": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "time": {"type": "string"},
                        "gpus": {"type": "object", "additionalProperties": _GPU_SAMPLE},
                    },
                },
            },
        },
    },
    "Job": {
        "type": "object",
        "properties": {
            "seq": {"type": "integer"},
            "stop_code": {"type": "string", "nullable": True},
            "reason": {"type": "string"},
            "created_at": _TIME,
            "ended_at": _TIME,
            "ranks": {"type": "array", "items": _ref("Rank")},
        },
    },
    "Chain": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "owner": {"type": "string"},
            "state": _STATE,
            "priority": _PRIORITY,
            "node_count": {"type": "integer"},
            "gpus_per_node": {"type": "integer", "nullable": True},
            "group": {"type": "string"},
            "suspend_count": {"type": "integer"},
            "whole_life_state": {"type": "integer"},
            "reason": {"type": "string"},
            "stop_code": {"type": "string", "nullable": True},
            "stop_requested": {"type": "boolean"},
            "held": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "created_at": _TIME,
            "updated_at": _TIME,
            "started_at": _TIME,
            "finished_at": _TIME,
            "jobs": {"type": "array", "items": _ref("Job")},
        },
    },
    "ChainPage": {
        "type": "object",
        "properties": {
            "chains": {"type": "array", "items": _ref("Chain")},
            "page": {"type": "integer"},
            "page_size": {"type": "integer"},
            "total": {"type": "integer"},
            "pages": {"type": "integer"},
        },
    },
    "TaskSpec": {
        "type": "object",
        "description": "The task spec, version 2 (see docs/api.md); unknown fields are refused",
        "additionalProperties": False,
        "required": ["name", "spec"],
        "properties": {
            "version": {"type": "integer", "enum": [2]},
            "name": {"type": "string", "minLength": 1, "maxLength": 128},
            "priority": {"oneOf": [_PRIORITY, {"type": "integer", "minimum": 0, "maximum": 6}]},
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "required": ["entrypoint"],
                "properties": {
                    "entrypoint": {"type": "string"},
                    "parameters": {"oneOf": [{"type": "string"}, {"type": "array", "items": {}}]},
                    "workspace": {"type": "string"},
                    "environments": {"type": "object", "additionalProperties": {}},
                    "haienv": {"type": "string"},
                },
            },
            "resource": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "group": {"type": "string"},
                    "node_count": {"type": "integer", "minimum": 1},
                    "gpus_per_node": {"type": "integer", "minimum": 0},
                },
            },
            "options": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "whole_life_state": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                    "timeout": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
    "Submission": {
        "type": "object",
        "required": ["task"],
        "additionalProperties": False,
        "properties": {
            "task": {"oneOf": [_ref("TaskSpec"), {"type": "string", "description": "YAML text"}]},
            "overrides": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string"},
                    "priority": _PRIORITY,
                    "group": {"type": "string"},
                    "node_count": {"type": "integer", "minimum": 1},
                    "gpus_per_node": {"type": "integer", "minimum": 0},
                    "haienv": {"type": "string"},
                },
            },
        },
    },
    "LogPage": {
        "type": "object",
        "properties": {
            "chain_id": {"type": "integer"},
            "rank": {"type": "integer"},
            "state": _STATE,
            "lines": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "time": {"type": "string"},
                        "text": {"type": "string"},
                        "job": {"type": "integer"},
                        "marker": {"type": "boolean"},
                    },
                },
            },
            "cursor": {"type": "string", "description": "Pass back to continue"},
            "eof": {"type": "boolean"},
            "done": {"type": "boolean", "description": "Chain finished and all lines read"},
        },
    },
    "Describe": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "owner": {"type": "string"},
            "yaml": {"type": "string"},
            "spec": _ref("TaskSpec"),
        },
    },
    "RankDetail": {
        "type": "object",
        "properties": {
            "chain_id": {"type": "integer"},
            "job_seq": {"type": "integer", "nullable": True},
            "rank": {"type": "integer"},
            "state": {"type": "string", "nullable": True},
            "node": {"type": "string", "nullable": True},
            "handle": {"type": "object"},
            "workspace": {"type": "string"},
            "haienv": {"type": "string", "nullable": True},
            "environment": {"type": "object", "additionalProperties": {"type": "string"}},
            "chain_state": _STATE,
            "gpu": _ref("RankGpu"),
        },
    },
    "NodeGroup": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "nodes": {"type": "integer"},
            "gpus": {"type": "integer"},
            "used_nodes": {"type": "integer"},
            "free_nodes": {"type": "integer"},
            "used_gpus": {"type": "integer"},
            "free_gpus": {"type": "integer"},
            "node_list": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "gpus": {"type": "integer"},
                        "state": {"type": "string"},
                        "used_by": {"type": "array", "items": {"type": "object"}},
                    },
                },
            },
        },
    },
    "Whoami": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "admin": {"type": "boolean"},
            "role": {"type": "string", "enum": ["user", "admin"]},
            "group": {"type": "string", "nullable": True},
            "quotas": {
                "type": "object",
                "description": "resource -> node limit (null = unlimited)",
                "additionalProperties": {"type": "integer", "nullable": True},
            },
            "usage": {"type": "object"},
        },
    },
}

PATHS: dict[str, Any] = {
    "/": {
        "get": {
            "summary": "Service name and version (no token needed)",
            "security": [],
            "responses": {"200": _json({"type": "object"})},
        }
    },
    "/openapi.json": {
        "get": {
            "summary": "This document (no token needed)",
            "security": [],
            "responses": {"200": _json({"type": "object"})},
        }
    },
    "/whoami": {"get": _op("Who you are: role, quotas, current usage", _json(_ref("Whoami")))},
    "/chains": {
        "get": _op(
            "List your chains (admins: all), newest first",
            _json(_ref("ChainPage")),
            params=[
                _query(
                    "page",
                    {"type": "integer", "minimum": 1, "maximum": 1_000_000},
                    "Page number (from 1)",
                ),
                _query(
                    "page_size",
                    {"type": "integer", "minimum": 1, "maximum": 50},
                    "Chains per page (at most 50; default 20)",
                ),
                _query("name", _TEXT, "Glob (* ?); plain text matches anywhere"),
                _query(
                    "state",
                    {"type": "string", "pattern": _STATES_LIST},
                    "A state, or several separated by commas",
                ),
                _query("group", _TEXT, "Node group"),
                _query("owner", _TEXT, "Owner's user name (admins)"),
            ],
        ),
        "post": {
            "summary": "Submit a task spec (JSON, a Submission envelope, or YAML text)",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"oneOf": [_ref("Submission"), _ref("TaskSpec")]}
                    },
                    "application/yaml": {"schema": {"type": "string"}},
                },
            },
            "responses": {
                "201": _json(_ref("Chain"), "Created (state waiting_init)"),
                **_ERRORS,
                "403": _json(_ref("Error"), "Priority above your quota"),
                "422": _json(_ref("Error"), "Invalid spec; `line` is set for YAML"),
            },
        },
    },
    "/chains/{ref}": {
        "parameters": [_REF_PARAM],
        "get": _op("One chain with its jobs and ranks", _json(_ref("Chain"))),
        "patch": {
            "summary": "Change the priority (within your quota)",
            "requestBody": _body({"priority": _PRIORITY}, ("priority",)),
            "responses": {
                "200": _json(_ref("Chain")),
                **_ERRORS,
                "403": _json(_ref("Error"), "Priority above your quota"),
                "409": _json(_ref("Error"), "The chain has finished"),
            },
        },
    },
    "/chains/{ref}/stop": {
        "parameters": [_REF_PARAM],
        "post": _op("Stop the chain for good", _json(_ref("Chain")), conflict=True),
    },
    "/chains/{ref}/suspend": {
        "parameters": [_REF_PARAM],
        "post": _op("Suspend and hold the chain (admins)", _json(_ref("Chain")), conflict=True),
    },
    "/chains/{ref}/resume": {
        "parameters": [_REF_PARAM],
        "post": _op(
            "Release an admin's hold so the chain can resume (admins)",
            _json(_ref("Chain")),
            conflict=True,
        ),
    },
    "/chains/{ref}/describe": {
        "parameters": [_REF_PARAM],
        "get": _op("The spec as YAML that can be submitted again", _json(_ref("Describe"))),
    },
    "/chains/{ref}/logs": {
        "parameters": [_REF_PARAM],
        "get": _op(
            "One rank's log lines from a cursor (continues across the chain's jobs)",
            _json(_ref("LogPage")),
            params=[
                _query("rank", {"type": "integer", "minimum": 0}, "Rank (default 0)"),
                _query(
                    "cursor",
                    {"type": "string", "pattern": "^[A-Za-z0-9_-]*$"},
                    "From a previous page; empty = start",
                ),
                _query(
                    "max_bytes",
                    {"type": "integer", "minimum": 1, "maximum": 4 << 20},
                    "Most bytes to return",
                ),
            ],
        ),
    },
    "/chains/{ref}/ranks/{rank}": {
        "parameters": [
            _REF_PARAM,
            {"name": "rank", "in": "path", "required": True, "schema": {"type": "integer"}},
        ],
        "get": _op(
            "Where a rank of the newest job runs, its working directory and environment",
            _json(_ref("RankDetail")),
        ),
    },
    "/nodes": {
        "get": _op(
            "Per group: nodes, GPUs, free/used, who runs where",
            _json(
                {
                    "type": "object",
                    "properties": {"groups": {"type": "array", "items": _ref("NodeGroup")}},
                }
            ),
        )
    },
    "/overview": {
        "get": _op(
            "Chains per state (yours; admins: all) and GPUs in use per group",
            _json({"type": "object"}),
        )
    },
}


def add_paths(paths: dict[str, Any], schemas: dict[str, Any] | None = None) -> None:
    """Describe more endpoints (for handler modules outside this file, e.g. dev servers)."""
    PATHS.update(paths)
    SCHEMAS.update(schemas or {})


def openapi_document(base_url: str = "/") -> dict[str, Any]:
    """The OpenAPI 3.0 document, with the server URL under ``base_url``."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "HAI scheduler API",
            "version": "1",
            "description": "Submit, follow and control training chains. Authenticate with "
            "'Authorization: token <token>' (or Bearer).",
        },
        "servers": [{"url": f"{base_url.rstrip('/')}/api/v1"}],
        "security": [{"token": []}],
        "components": {
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "Authorization"}
            },
            "schemas": copy.deepcopy(SCHEMAS),
        },
        "paths": copy.deepcopy(PATHS),
    }


class OpenAPIHandler(BaseHandler):
    auth_required = False

    def get(self) -> None:
        self.query({})
        self.send(openapi_document(self.ctx.base_url))
