"""``GET /openapi.json``: the OpenAPI 3.0 description of the API.

The schemas are generated from the models of :mod:`scheduler.service.schema` (the one
place the API's shapes are written); this module adds the paths table: which route takes
which body and answers which model. Handler modules outside this file describe their
routes with :func:`add_paths`. A test checks that every route :mod:`scheduler.service.web`
serves, with every method its handler implements, is described here; another that the
checked-in ``openapi.json`` (the source of the client types) is this document. Schemas
are written as JSON Schema and served in 3.0's dialect (:mod:`scheduler.service.openapi30`).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from scheduler.service import schema
from scheduler.service.handlers.base import MAX_BODY_BYTES, BaseHandler, QueryParam
from scheduler.service.handlers.chains import LIST_PARAMS
from scheduler.service.handlers.logs import LOG_PARAMS
from scheduler.service.openapi30 import to_openapi_30

REF_TEMPLATE = "#/components/schemas/{model}"


def _ref(model: str | type[BaseModel]) -> dict[str, str]:
    """A reference to a component schema: a model of :mod:`scheduler.service.schema`, or
    a name that a handler module added with :func:`add_paths`."""
    name = model if isinstance(model, str) else model.__name__
    return {"$ref": REF_TEMPLATE.format(model=name)}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERR = _json(_ref(schema.Error), "Error; `field` names the offending field")
_ERRORS = {
    "400": _ERR,
    "401": _json(_ref(schema.Error), "Missing or invalid token"),
    "403": _json(_ref(schema.Error), "Not allowed to you (admins only, above your quota)"),
    "404": _json(_ref(schema.Error), "No such chain, or not yours"),
    "422": _json(
        _ref(schema.Error),
        "Well-formed but not acceptable: an invalid task spec, an unknown group, a "
        "missing haienv, a cursor this server did not give out",
    ),
}
_CONFLICT = _json(_ref(schema.Error), "The chain has finished (stop, suspend, resume)")
_REF_PARAM = {
    "name": "ref",
    "in": "path",
    "required": True,
    "description": "A chain id, or a chain name (the newest chain of that name)",
    "schema": {"type": "string"},
}


def _op(
    summary: str, ok: dict[str, Any], *, params: list | None = None, conflict: bool = False
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {"200": ok, **_ERRORS}}
    if conflict:
        op["responses"]["409"] = _CONFLICT
    if params:
        op["parameters"] = params
    return op


def _body_of(model: type[schema.Request]) -> dict[str, Any]:
    """A required JSON request body parsed by ``model``."""
    return {"required": True, "content": {"application/json": {"schema": _ref(model)}}}


def query_params(accepted: dict[str, QueryParam]) -> list[dict[str, Any]]:
    """The document's ``parameters`` for the query parameters a handler accepts."""
    return [
        {"name": name, "in": "query", "schema": p.schema, "description": p.description}
        for name, p in accepted.items()
    ]


PATHS: dict[str, Any] = {
    "/": {
        "get": {
            "summary": "Service name and version (no token needed)",
            "security": [],
            "responses": {"200": _json(_ref(schema.Info))},
        }
    },
    "/openapi.json": {
        "get": {
            "summary": "This document (no token needed)",
            "security": [],
            "responses": {"200": _json({"type": "object"})},
        }
    },
    "/whoami": {"get": _op("Who you are: role, quotas, current usage", _json(_ref(schema.Whoami)))},
    "/chains": {
        "get": _op(
            "List your chains (admins: all), newest first",
            _json(_ref(schema.ChainPage)),
            params=query_params(LIST_PARAMS),
        ),
        "post": {
            "summary": "Submit a task spec (JSON, a Submission envelope, or YAML text)",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"oneOf": [_ref(schema.Submission), _ref(schema.TaskSpec)]}
                    },
                    "application/yaml": {"schema": {"type": "string"}},
                },
            },
            "responses": {
                "201": _json(_ref(schema.Chain), "Created (state waiting_init)"),
                **_ERRORS,
                "403": _json(_ref(schema.Error), "Priority above your quota"),
                "413": _json(
                    _ref(schema.Error),
                    f"The body is larger than {MAX_BODY_BYTES} bytes (a spec within every "
                    "field's limits can be)",
                ),
                "422": _json(_ref(schema.Error), "Invalid spec; `line` is set for YAML"),
            },
        },
    },
    "/chains/{ref}": {
        "parameters": [_REF_PARAM],
        "get": _op("One chain with its jobs and ranks", _json(_ref(schema.Chain))),
        "patch": {
            "summary": "Change the priority (within your quota)",
            "requestBody": _body_of(schema.PriorityChange),
            "responses": {
                "200": _json(_ref(schema.Chain)),
                **_ERRORS,
                "403": _json(_ref(schema.Error), "Priority above your quota"),
                "409": _json(_ref(schema.Error), "The chain has finished"),
            },
        },
    },
    "/chains/{ref}/stop": {
        "parameters": [_REF_PARAM],
        "post": _op("Stop the chain for good", _json(_ref(schema.Chain)), conflict=True),
    },
    "/chains/{ref}/suspend": {
        "parameters": [_REF_PARAM],
        "post": _op(
            "Suspend and hold the chain (admins)", _json(_ref(schema.Chain)), conflict=True
        ),
    },
    "/chains/{ref}/resume": {
        "parameters": [_REF_PARAM],
        "post": _op(
            "Release an admin's hold so the chain can resume (admins)",
            _json(_ref(schema.Chain)),
            conflict=True,
        ),
    },
    "/chains/{ref}/describe": {
        "parameters": [_REF_PARAM],
        "get": _op("The spec as YAML that can be submitted again", _json(_ref(schema.Describe))),
    },
    "/chains/{ref}/logs": {
        "parameters": [_REF_PARAM],
        "get": _op(
            "One rank's log lines from a cursor (continues across the chain's jobs)",
            _json(_ref(schema.LogPage)),
            params=query_params(LOG_PARAMS),
        ),
    },
    "/chains/{ref}/ranks/{rank}": {
        "parameters": [
            _REF_PARAM,
            {"name": "rank", "in": "path", "required": True, "schema": {"type": "integer"}},
        ],
        "get": _op(
            "Where a rank of the newest job runs, its working directory and environment",
            _json(_ref(schema.RankDetail)),
        ),
    },
    "/nodes": {
        "get": _op(
            "Per group: nodes, GPUs, free/used, who runs where",
            _json(_ref(schema.NodeGroups)),
        )
    },
    "/overview": {
        "get": _op(
            "Chains per state (yours; admins: all) and GPUs in use per group",
            _json(_ref(schema.Overview)),
        )
    },
}


#: schemas of handler modules not (yet) written as models (add_paths)
EXTRA_SCHEMAS: dict[str, Any] = {}


def add_paths(paths: dict[str, Any], schemas: dict[str, Any] | None = None) -> None:
    """Describe more endpoints (for handler modules outside this file, e.g. dev servers)."""
    PATHS.update(paths)
    EXTRA_SCHEMAS.update(schemas or {})


def model_schemas() -> dict[str, Any]:
    """The component schemas of :mod:`scheduler.service.schema`: answers as serialised,
    request bodies as parsed."""
    models = [(m, "serialization") for m in schema.RESPONSES]
    models += [(m, "validation") for m in schema.REQUESTS]
    _, defs = models_json_schema(models, ref_template=REF_TEMPLATE)
    return defs["$defs"]


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
            "schemas": to_openapi_30({**model_schemas(), **EXTRA_SCHEMAS}),
        },
        "paths": to_openapi_30(PATHS),
    }


class OpenAPIHandler(BaseHandler):
    auth_required = False

    def get(self) -> None:
        self.query({})
        self.send(openapi_document(self.ctx.base_url))


def main() -> None:
    """``python -m scheduler.service.handlers.openapi``: the document as the checked-in
    ``openapi.json`` holds it (``make api-types``): every route's, as the service serves it."""
    import scheduler.service.web  # noqa: F401  (its handler modules add their paths)
    from scheduler.service.handlers import openapi  # not __main__: the module they extend

    print(json.dumps(openapi.openapi_document(), indent=2))


if __name__ == "__main__":
    main()
