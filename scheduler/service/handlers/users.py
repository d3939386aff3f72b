"""User accounts as admins manage them: ``GET /users``, ``GET|PATCH /users/{user}``, and
``POST /users/{user}/account`` (the hub's spawner: the system account a user's dev server
runs as, made on first use, the same one their ranks run as).

An admin disables a user (their tokens are refused from the next request on, on this
scheduler at once: the authenticator forgets what it remembered about them), enables
them again, or changes their admin flag. Users read their own row; anyone else's answers
404, so nothing leaks. The hub calls ``PATCH`` when an admin disables someone there.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.model import accounts
from scheduler.model.orm import User
from scheduler.service.handlers.base import ApiError, BaseHandler

_PATCHABLE = ("disabled", "admin")


def user_json(user: User) -> dict[str, Any]:
    return {
        "name": user.name,
        "admin": bool(user.is_admin),
        "disabled": bool(user.disabled),
        "group": user.group_name,
        "system_user": user.system_user,
        "created_at": user.created_at.isoformat(),
    }


class UsersHandler(BaseHandler):
    """``GET /users``: every user (admins)."""

    async def get(self) -> None:
        self.query({})
        if not self.identity.admin:
            raise ApiError(403, "only admins list users")

        def load(s: Session) -> list[dict[str, Any]]:
            return [user_json(u) for u in s.scalars(select(User).order_by(User.name))]

        self.send({"users": await self.ctx.read(load)})


class UserHandler(BaseHandler):
    """``GET /users/{user}`` (yourself or admins) and ``PATCH`` (admins)."""

    async def get(self, user: str) -> None:
        self.query({})
        if not self.identity.admin and self.identity.name != user:
            raise ApiError(404, f"no user {user!r}", "user")

        def load(s: Session) -> dict[str, Any] | None:
            row = accounts.get_user(s, user)
            return user_json(row) if row else None

        found = await self.ctx.read(load)
        if found is None:
            raise ApiError(404, f"no user {user!r}", "user")
        self.send(found)

    async def patch(self, user: str) -> None:
        self.query({})
        if not self.identity.admin:
            raise ApiError(403, "only admins change users")
        changes = self.body_object(_PATCHABLE)
        for field, value in changes.items():
            if not isinstance(value, bool):
                raise ApiError(400, f"{field} must be true or false", field)
        if user == self.identity.name and changes.get("disabled"):
            raise ApiError(409, "you cannot disable yourself", "disabled")

        def apply(s: Session) -> dict[str, Any]:
            row = accounts.get_user(s, user)
            if row is None:  # a hub user who never called the scheduler: remember the flags
                row = accounts.create_user(s, user)
            if "disabled" in changes:
                row.disabled = changes["disabled"]
            if "admin" in changes:
                row.is_admin = changes["admin"]
            s.flush()
            return user_json(row)

        try:
            result = await self.ctx.write(apply)
        except ValueError as exc:  # a name the user rules refuse
            raise ApiError(400, str(exc), "user") from None
        self.ctx.authenticator.forget_user(user)
        self.ctx.app.log.info("admin %s changed user %s: %s", self.identity.name, user, changes)
        self.send(result)


class UserAccountHandler(BaseHandler):
    """``POST /users/{user}/account``: resolve (and in create mode make) the system account
    ``user``'s code runs as on this machine, and remember it; with pods, the uid/gid they
    run as (admins: the hub)."""

    async def post(self, user: str) -> None:
        self.query({})
        if not self.identity.admin:
            raise ApiError(403, "only admins (the hub) resolve system accounts")
        accounts_of = getattr(self.ctx.app.backend, "accounts", None)

        def resolve(s: Session) -> dict[str, Any]:
            row = accounts.get_user(s, user) or accounts.create_user(s, user)
            if accounts_of is None:  # pods (Kubernetes): the users table's ids
                return {"user": user, "name": None, "uid": row.uid, "gid": row.gid}
            account = accounts_of.resolve(user, row.system_user)
            if not account.is_service and row.system_user is None:
                row.system_user = account.name
            return {
                "user": user,
                "name": account.name,
                "uid": account.uid,
                "gid": account.gid,
                "home": account.home,
                "shell": account.shell,
                "isolated": not account.is_service,
            }

        from scheduler.backends.local.accounts import NoAccount

        try:
            self.send(await self.ctx.write(resolve))
        except NoAccount as exc:
            raise ApiError(409, str(exc), "user") from None
        except ValueError as exc:
            raise ApiError(400, str(exc), "user") from None


def forbidden_doc() -> dict[str, Any]:
    """The documented 403 of admin-only operations."""
    from scheduler.service.handlers import openapi as oa

    return {"403": oa._json(oa._ref("Error"), "Only admins")}


def _doc() -> None:
    """Describe these endpoints in the API's OpenAPI document."""
    from scheduler.service.handlers import openapi as oa

    ref = oa._ref("User")
    user = {
        "name": "user",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": accounts.USER_NAME_PATTERN},
        "description": accounts.USER_NAME_RULE,
    }
    body = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"disabled": {"type": "boolean"}, "admin": {"type": "boolean"}},
    }
    forbidden = forbidden_doc()
    list_op = oa._op(
        "Every user (admins)",
        oa._json({"type": "object", "properties": {"users": {"type": "array", "items": ref}}}),
    )
    list_op["responses"].update(forbidden)
    oa.add_paths(
        {
            "/users": {
                "get": list_op,
            },
            "/users/{user}/account": {
                "parameters": [user],
                "post": {
                    "summary": "The system account the user's code runs as (admins: the hub)",
                    "responses": {
                        "200": oa._json({"type": "object"}),
                        **oa._ERRORS,
                        **forbidden,
                        "409": oa._json(oa._ref("Error"), "No account (and none may be made)"),
                    },
                },
            },
            "/users/{user}": {
                "parameters": [user],
                "get": oa._op("One user (yourself; admins: anyone)", oa._json(ref)),
                "patch": {
                    "summary": "Disable or enable a user, or set their admin flag (admins)",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": body}},
                    },
                    "responses": {
                        "200": oa._json(ref),
                        **oa._ERRORS,
                        **forbidden,
                        "409": oa._json(oa._ref("Error"), "You cannot disable yourself"),
                    },
                },
            },
        },
        {
            "User": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "admin": {"type": "boolean"},
                    "disabled": {"type": "boolean"},
                    "group": {"type": "string", "nullable": True},
                    "system_user": {"type": "string", "nullable": True},
                    "created_at": {"type": "string", "format": "date-time"},
                },
            }
        },
    )


_doc()
