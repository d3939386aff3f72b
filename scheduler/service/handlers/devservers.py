"""Dev-server endpoints: the hub's spawner allocates and releases MIG slices and spot nodes;
users read their allocation and renew a mig-gpu lease.

``/devservers/{user}`` is a user's default server, ``/devservers/{user}/{server}`` a named
one. Allocating and releasing are for admins (the hub); reading and renewing for the owner
too. Someone else's server answers 404, so nothing leaks.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.model.orm import DevServer, utcnow
from scheduler.service import schema
from scheduler.service.devservers import NoCapacity, devserver_state
from scheduler.service.handlers.base import ApiError, BaseHandler


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def devserver_json(ds: DevServer, now: dt.datetime) -> dict[str, Any]:
    left = (ds.lease_expires_at - now).total_seconds() if ds.lease_expires_at else None
    state = devserver_state(ds, now)
    out = schema.DevServer(
        user=ds.user_name,
        server=ds.server_name,
        profile=ds.profile,
        node=ds.node,
        gpu_ids=list(ds.gpu_ids),
        state=state,
        created_at=_iso(ds.created_at),
        lease_expires_at=_iso(ds.lease_expires_at),
        lease_max_at=_iso(ds.lease_max_at),
        lease_seconds_left=None if left is None else max(0.0, round(left, 1)),
        reclaim_requested_at=_iso(ds.reclaim_requested_at),
        reclaim_deadline=_iso(ds.reclaim_deadline),
        reclaim_reason=ds.reclaim_reason,
    )
    return out.dump()


class DevServerBase(BaseHandler):
    def require_admin(self) -> None:
        if not self.identity.admin:
            raise ApiError(403, "only admins (the hub) allocate and release dev servers")

    def check_owner(self, user: str, server: str) -> None:
        if not self.identity.admin and self.identity.name != user:
            raise ApiError(404, f"{user} has no dev server {server or '(default)'}", "user")

    @property
    def manager(self) -> Any:
        return self.ctx.app.devservers


class DevServersHandler(DevServerBase):
    """``GET /devservers`` (yours, or all for admins) and ``POST /devservers`` (allocate)."""

    async def get(self) -> None:
        self.query({})
        me = None if self.identity.admin else self.identity.name

        def load(s: Session) -> list[dict[str, Any]]:
            q = select(DevServer).order_by(DevServer.id)
            if me is not None:
                q = q.where(DevServer.user_name == me)
            now = utcnow()
            return [devserver_json(d, now) for d in s.scalars(q)]

        self.send({"devservers": await self.ctx.read(load)})  # each a schema.DevServer

    async def post(self) -> None:
        self.require_admin()
        body = self.body_model(schema.Allocation)

        def allocate(s: Session) -> dict[str, Any]:
            with self.ctx.app.inventory_lock:
                now = utcnow()
                ds = self.manager.allocate(s, body.user, body.server, body.profile, now)
                return devserver_json(ds, now)

        try:
            result = await self.ctx.write(allocate)
        except NoCapacity as exc:
            raise ApiError(409, str(exc), "profile") from None
        except ValueError as exc:
            raise ApiError(422, str(exc), "profile") from None
        self.ctx.wake_loop()
        self.send(result, 201)


class DevServerHandler(DevServerBase):
    """``GET`` / ``DELETE /devservers/{user}[/{server}]``."""

    async def get(self, user: str, server: str | None = None) -> None:
        server = server or ""
        self.check_owner(user, server)

        def load(s: Session) -> dict[str, Any] | None:
            ds = self.manager.get(s, user, server)
            return devserver_json(ds, utcnow()) if ds else None

        found = await self.ctx.read(load)
        if found is None:
            raise ApiError(404, f"{user} has no dev server {server or '(default)'}", "user")
        self.send(found)

    async def delete(self, user: str, server: str | None = None) -> None:
        self.require_admin()
        server = server or ""

        def release(s: Session) -> bool:
            with self.ctx.app.inventory_lock:
                return self.manager.release(s, user, server)

        if not await self.ctx.write(release):
            raise ApiError(404, f"{user} has no dev server {server or '(default)'}", "user")
        self.ctx.wake_loop()
        self.no_content()


class RenewHandler(DevServerBase):
    """``POST /devservers/{user}[/{server}]/renew``: lease = now + lease length (capped)."""

    async def post(self, user: str, server: str | None = None) -> None:
        server = server or ""
        self.check_owner(user, server)
        self.body_object((), required=False)

        def renew(s: Session) -> dict[str, Any]:
            now = utcnow()
            return devserver_json(self.manager.renew(s, user, server, now), now)

        try:
            self.send(await self.ctx.write(renew))
        except LookupError as exc:
            raise ApiError(404, str(exc).strip("'\""), "user") from None
        except ValueError as exc:
            raise ApiError(409, str(exc), "server") from None


def _doc() -> None:
    """Describe these endpoints in the API's OpenAPI document."""
    from scheduler.service.handlers import openapi as oa

    ds = oa._ref(schema.DevServer)
    user = {"name": "user", "in": "path", "required": True, "schema": {"type": "string"}}
    server = {"name": "server", "in": "path", "required": True, "schema": {"type": "string"}}
    one = {
        "get": oa._op("A user's dev-server allocation (owner or admin)", oa._json(ds)),
        "delete": {
            "summary": "Release the allocation (admins: the hub's spawner)",
            "responses": {"204": {"description": "Released"}, **oa._ERRORS},
        },
    }
    renew = {
        "post": oa._op(
            "Renew a mig-gpu lease: now + lease length, capped", oa._json(ds), conflict=True
        )
    }
    oa.add_paths(
        {
            "/devservers": {
                "get": oa._op(
                    "Dev-server allocations (yours; admins: all)",
                    oa._json(oa._ref(schema.DevServers)),
                ),
                "post": {
                    "summary": "Allocate a MIG slice (mig-gpu) or a spot node (admins: the hub)",
                    "requestBody": oa._body_of(schema.Allocation),
                    "responses": {
                        "201": oa._json(ds, "Allocated"),
                        **oa._ERRORS,
                        "409": oa._json(oa._ref("Error"), "Nothing free"),
                    },
                },
            },
            "/devservers/{user}": {**one, "parameters": [user]},
            "/devservers/{user}/renew": {**renew, "parameters": [user]},
            "/devservers/{user}/{server}": {**one, "parameters": [user, server]},
            "/devservers/{user}/{server}/renew": {**renew, "parameters": [user, server]},
        },
    )


_doc()
