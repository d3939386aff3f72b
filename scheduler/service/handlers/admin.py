"""What admins set over the API (``hai-cli admin``): quota rows and node states.

``GET /quotas``: every quota row and the configured defaults. ``PUT`` / ``DELETE
/quotas/{kind}/{subject}/{resource}``: set or remove one row (``kind`` is ``user`` or
``group``; ``resource`` is ``node-<group>-<PRIORITY>`` or the total ``node``). ``PATCH
/nodes/{node}`` ``{"state": "draining"|"ready"}``: drain a node (running work stays,
nothing new is placed there) or put it back. Users answer 403 on all of them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.model import accounts
from scheduler.model.enums import NodeState, Priority
from scheduler.model.orm import Node, Quota
from scheduler.model.quota_names import check_quota_resource
from scheduler.service import schema
from scheduler.service.handlers.base import ApiError, BaseHandler

QUOTA_LIMIT_MAX = schema.QUOTA_LIMIT_MAX


def quota_json(row: Quota) -> dict[str, Any]:
    """A quota row as the API shows it (:class:`scheduler.service.schema.Quota`)."""
    return schema.Quota(
        kind=row.subject_kind, subject=row.subject, resource=row.resource, limit=row.limit
    ).dump()


class AdminBase(BaseHandler):
    def require_admin(self) -> None:
        if not self.identity.admin:
            raise ApiError(403, "only admins change quotas and nodes")


class QuotasHandler(AdminBase):
    """``GET /quotas`` (admins)."""

    async def get(self) -> None:
        self.query({})
        self.require_admin()

        def load(s: Session) -> list[dict[str, Any]]:
            q = select(Quota).order_by(Quota.subject_kind, Quota.subject, Quota.resource)
            return [quota_json(r) for r in s.scalars(q)]

        self.send({"quotas": await self.ctx.read(load), "defaults": self.ctx.default_quota})


class QuotaHandler(AdminBase):
    """``PUT`` / ``DELETE /quotas/{kind}/{subject}/{resource}`` (admins)."""

    def target(self, kind: str, resource: str) -> None:
        self.require_admin()
        if kind not in ("user", "group"):
            raise ApiError(400, "kind must be user or group", "kind")
        try:
            check_quota_resource(resource)
        except ValueError as exc:
            raise ApiError(400, str(exc), "resource") from None

    async def put(self, kind: str, subject: str, resource: str) -> None:
        self.query({})
        self.target(kind, resource)
        limit = self.body_model(schema.QuotaLimit).limit

        def apply(s: Session) -> dict[str, Any]:
            return quota_json(accounts.set_quota(s, kind, subject, resource, limit))

        row = await self.ctx.write(apply)
        self.ctx.forget_catalog()
        self.send(row)

    async def delete(self, kind: str, subject: str, resource: str) -> None:
        self.query({})
        self.target(kind, resource)

        def remove(s: Session) -> bool:
            row = s.scalars(
                select(Quota).where(
                    Quota.subject_kind == kind, Quota.subject == subject, Quota.resource == resource
                )
            ).one_or_none()
            if row is None:
                return False
            s.delete(row)
            return True

        if not await self.ctx.write(remove):
            raise ApiError(404, f"no {kind} quota {resource} for {subject!r}", "resource")
        self.ctx.forget_catalog()
        self.no_content()


class NodeHandler(AdminBase):
    """``PATCH /nodes/{node}`` ``{"state": "draining"|"ready"}`` (admins)."""

    async def patch(self, node: str) -> None:
        self.query({})
        self.require_admin()
        state = self.body_model(schema.NodeStateChange).state

        def apply(s: Session) -> dict[str, Any] | None:
            row = s.scalars(select(Node).where(Node.name == node)).one_or_none()
            if row is None:
                return None
            if row.state == NodeState.OFFLINE.value:
                raise ValueError(f"node {node} is offline; it comes back when the backend sees it")
            row.state = state
            return {"name": row.name, "group": row.group.name, "state": row.state}

        try:
            result = await self.ctx.write(apply)
        except ValueError as exc:
            raise ApiError(409, str(exc), "node") from None
        if result is None:
            raise ApiError(404, f"no node {node!r}", "node")
        self.ctx.forget_catalog()
        self.send(result)


def _doc() -> None:
    """Describe these endpoints in the API's OpenAPI document."""
    from scheduler.service.handlers import openapi as oa
    from scheduler.service.handlers.users import forbidden_doc

    quota = oa._ref(schema.Quota)
    path_params = [
        {
            "name": "kind",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "enum": ["user", "group"]},
        },
        {"name": "subject", "in": "path", "required": True, "schema": {"type": "string"}},
        {
            "name": "resource",
            "in": "path",
            "required": True,
            "schema": {
                "type": "string",
                "pattern": f"^node(-.+-({'|'.join(Priority.__members__)}))?$",
            },
            "description": "node-<group>-<PRIORITY>, or node (the total)",
        },
    ]
    errors = {**oa._ERRORS, **forbidden_doc()}
    oa.add_paths(
        {
            "/quotas": {
                "get": {
                    **oa._op(
                        "Every quota row and the configured defaults (admins)",
                        oa._json(oa._ref(schema.Quotas)),
                    ),
                }
            },
            "/quotas/{kind}/{subject}/{resource}": {
                "parameters": path_params,
                "put": {
                    "summary": "Set one quota row (admins)",
                    "requestBody": oa._body_of(schema.QuotaLimit),
                    "responses": {"200": oa._json(quota), **errors},
                },
                "delete": {
                    "summary": "Remove one quota row (admins)",
                    "responses": {"204": {"description": "Removed"}, **errors},
                },
            },
            "/nodes/{node}": {
                "parameters": [
                    {"name": "node", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "patch": {
                    "summary": "Drain a node or put it back (admins)",
                    "requestBody": oa._body_of(schema.NodeStateChange),
                    "responses": {
                        "200": oa._json({"type": "object"}),
                        **errors,
                        "409": oa._json(oa._ref("Error"), "The node is offline"),
                    },
                },
            },
        }
    )


_doc()
