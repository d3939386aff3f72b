"""Hub-side endpoints: the dev container's lease (for the hub's home page) and the
admin's account actions (for ``hai-admin users``):

``GET  /hub/api/hai/devserver/{user}[/{server}]``  the allocation: profile, GPUs, lease, reclaim
``POST /hub/api/hai/devserver/{user}[/{server}]/renew``  renew a mig-gpu lease
``GET  /hub/api/hai/users``  every account: approved, admin, running servers (admins)
``POST /hub/api/hai/users/{user}``  add an approved account with a password (admins)
``PATCH /hub/api/hai/users/{user}``  approve/disable, set admin, reset the password (admins)
``GET  /hub/api/hai/usage/{user}``  GPU-hours per day, last 7 days, as an SVG (``hai_hub.usage``)

They authenticate like any hub API call (cookie + XSRF from the page, or a token). The
lease endpoints ask the scheduler's inventory with the hub's own service token, for the
user's own servers only (admins: anyone's); the account endpoints need ``admin:users``.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import bcrypt
from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.roles import assign_default_roles
from jupyterhub.scopes import needs_scope
from nativeauthenticator.orm import UserInfo
from tornado import web

from hai_client.config import hub_scheduler_token, hub_scheduler_url
from hai_hub.auth import set_authorized, tell_scheduler
from hai_hub.usage import UsageChartHandler
from hai_spawner.inventory import InventoryClient, InventoryError


class _Base(APIHandler):
    def inventory(self) -> InventoryClient:
        return InventoryClient(
            hub_scheduler_url(),
            hub_scheduler_token(),
        )

    def check_user(self, user: str) -> None:
        me = self.current_user
        if me is None:
            raise web.HTTPError(403, "log in first")
        if getattr(me, "name", None) != user and not getattr(me, "admin", False):
            raise web.HTTPError(404, f"no dev server of {user}")


class DevServerHandler(_Base):
    async def get(self, user: str, server: str = "") -> None:
        self.check_user(user)
        try:
            data = await self.inventory().get(user, server or "")
        except InventoryError as exc:
            raise web.HTTPError(502, str(exc)) from None
        if data is None:
            raise web.HTTPError(404, f"{user} has no running dev server")
        self.write(json.dumps(data))


class RenewHandler(_Base):
    async def post(self, user: str, server: str = "") -> None:
        self.check_user(user)
        try:
            data = await self.inventory().renew(user, server or "")
        except InventoryError as exc:
            raise web.HTTPError(409, str(exc)) from None
        self.write(json.dumps(data))


class UsersAdminHandler(APIHandler):
    """``GET /hub/api/hai/users``: accounts with their sign-up state (admins)."""

    @needs_scope("admin:users")
    async def get(self) -> None:
        infos = {i.username: i for i in UserInfo.all_users(self.db)}
        names = sorted(set(infos) | {u.name for u in self.users.values()} | _orm_names(self))
        self.write(json.dumps({"users": [self.account(n, infos.get(n)) for n in names]}))

    def account(self, name: str, info: Any) -> dict[str, Any]:
        user = self.find_user(name)
        servers = sorted(n for n, sp in user.spawners.items() if sp.active) if user else []
        return {
            "name": name,
            "approved": bool(info and info.is_authorized),
            "has_password": info is not None,
            "admin": bool(user and user.admin),
            "servers": servers,
        }


def _orm_names(handler: APIHandler) -> set[str]:
    from jupyterhub import orm

    return {name for (name,) in handler.db.query(orm.User.name)}


class UserAdminHandler(UsersAdminHandler):
    """``POST``/``PATCH /hub/api/hai/users/{user}`` (admins)."""

    FIELDS = ("approved", "admin", "password")

    def body(self) -> dict[str, Any]:
        data = self.get_json_body() or {}
        if not isinstance(data, dict):
            raise web.HTTPError(400, "the body must be a JSON object")
        for key, value in data.items():
            if key not in self.FIELDS:
                allowed = ", ".join(self.FIELDS)
                raise web.HTTPError(400, f"{key}: unknown field (allowed: {allowed})")
            wanted = str if key == "password" else bool
            if not isinstance(value, wanted):
                raise web.HTTPError(400, f"{key}: must be a {wanted.__name__}")
        return data

    @needs_scope("admin:users")
    async def post(self, user: str) -> None:
        """Add an approved account; a password is made up when none is given."""
        data = self.body()
        name = self.authenticator.normalize_username(user)
        if not self.authenticator.validate_username(name):
            raise web.HTTPError(400, f"user: invalid name {user!r}")
        if UserInfo.find(self.db, name) is not None:
            raise web.HTTPError(409, f"user {name} exists already")
        password = data.get("password") or secrets.token_urlsafe(12)
        self.check_password(password)
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt())
        self.db.add(UserInfo(username=name, password=hashed, is_authorized=True))
        self.db.commit()
        self.user_from_username(name)
        if data.get("admin"):
            await self.set_admin(name, True)
        self.set_status(201)
        out = self.account(name, UserInfo.find(self.db, name))
        if not data.get("password"):
            out["password"] = password  # shown this once
        self.write(json.dumps(out))

    @needs_scope("admin:users")
    async def patch(self, user: str) -> None:
        data = self.body()
        info = UserInfo.find(self.db, user)
        if info is None and ("approved" in data or "password" in data):
            raise web.HTTPError(404, f"user: no account named {user}")
        if data.get("approved") is False and user == self.current_user.name:
            raise web.HTTPError(409, "approved: you cannot disable yourself")
        if "password" in data:
            self.check_password(data["password"])
            self.authenticator.change_password(user, data["password"])
        if "approved" in data:
            await set_authorized(self, user, data["approved"])
        if "admin" in data:
            await self.set_admin(user, data["admin"])
        self.write(json.dumps(self.account(user, UserInfo.find(self.db, user))))

    def check_password(self, password: str) -> None:
        if not self.authenticator.is_password_strong(password):
            least = self.authenticator.minimum_password_length
            raise web.HTTPError(
                400, f"password: needs at least {least} characters and must not be a common one"
            )

    async def set_admin(self, name: str, admin: bool) -> None:
        user = self.user_from_username(name)
        user.admin = admin
        assign_default_roles(self.db, entity=user)  # what JupyterHub's own PATCH does
        self.db.commit()
        await tell_scheduler(self, name, {"admin": admin})


def extra_handlers() -> list[tuple[str, type]]:
    """For ``c.JupyterHub.extra_handlers`` (mounted under /hub/)."""
    name = r"(?P<user>[^/]+)"
    return [
        (r"/api/hai/users", UsersAdminHandler),
        (rf"/api/hai/users/{name}", UserAdminHandler),
        (rf"/api/hai/devserver/{name}/renew", RenewHandler),
        (rf"/api/hai/devserver/{name}/(?P<server>[^/]+)/renew", RenewHandler),
        (rf"/api/hai/usage/{name}", UsageChartHandler),
        (rf"/api/hai/devserver/{name}", DevServerHandler),
        (rf"/api/hai/devserver/{name}/(?P<server>[^/]+)", DevServerHandler),
    ]
