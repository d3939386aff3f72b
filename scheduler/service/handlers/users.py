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
from scheduler.service import schema
from scheduler.service.handlers.base import ApiError, BaseHandler


def user_json(user: User) -> dict[str, Any]:
    """A user as the API shows it (:class:`scheduler.service.schema.User`)."""
    return schema.User(
        name=user.name,
        admin=bool(user.is_admin),
        disabled=bool(user.disabled),
        group=user.group_name,
        system_user=user.system_user,
        created_at=user.created_at.isoformat(),
    ).dump()


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

    async def post(self, user: str) -> None:
        """Create a user (admins): ``{admin?, group?}``; 409 if the name exists."""
        self.query({})
        if not self.identity.admin:
            raise ApiError(403, "only admins create users")
        body = self.body_model(schema.NewUser, required=False)

        def create(s: Session) -> dict[str, Any] | None:
            if accounts.get_user(s, user) is not None:
                return None
            row = accounts.create_user(s, user, admin=body.admin, group=body.group)
            return user_json(row)

        try:
            made = await self.ctx.write(create)
        except ValueError as exc:
            raise ApiError(400, str(exc), "user") from None
        if made is None:
            raise ApiError(409, f"user {user!r} exists already", "user")
        self.ctx.forget_catalog()
        self.send(made, 201)

    async def patch(self, user: str) -> None:
        self.query({})
        if not self.identity.admin:
            raise ApiError(403, "only admins change users")
        changes = self.body_model(schema.UserChange).model_dump(exclude_unset=True)
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
            if "group" in changes:
                row.group_name = changes["group"]
            if "system_user" in changes:
                row.system_user = changes["system_user"]
            s.flush()
            return user_json(row)

        try:
            result = await self.ctx.write(apply)
        except ValueError as exc:  # a name the user rules refuse
            raise ApiError(400, str(exc), "user") from None
        self.ctx.authenticator.forget_user(user)
        self.ctx.forget_catalog()
        self.ctx.app.log.info("admin %s changed user %s: %s", self.identity.name, user, changes)
        self.send(result)


def prepare_env_folder(user: str, account: Any) -> None:
    """The user's haienv folder (``<root>/users/<user>``) exists and is theirs (0700), so
    their dev server can build envs there and the scheduler finds them."""
    import os

    from scheduler.service.envs import env_config

    try:
        folder = env_config(user).user_dir
    except Exception:  # a user name haienv refuses: their server has no env folder here
        return
    if not folder.parent.is_dir():
        return  # no shared root is set up (each account's own ~/.haienv then)
    if not folder.exists():
        folder.mkdir(mode=0o700)
    if folder.stat().st_uid != account.uid:
        os.chown(folder, account.uid, account.gid)
        folder.chmod(0o700)


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
            if not account.is_service:
                prepare_env_folder(user, account)
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

    ref = oa._ref(schema.User)
    user = {
        "name": "user",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": accounts.USER_NAME_PATTERN},
        "description": accounts.USER_NAME_RULE,
    }
    forbidden = forbidden_doc()
    list_op = oa._op(
        "Every user (admins)",
        oa._json(oa._ref(schema.Users)),
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
                "post": {
                    "summary": "Create a user (admins)",
                    "requestBody": {
                        "content": {"application/json": {"schema": oa._ref(schema.NewUser)}}
                    },
                    "responses": {
                        "201": oa._json(ref, "Created"),
                        **oa._ERRORS,
                        **forbidden,
                        "409": oa._json(oa._ref("Error"), "The name exists"),
                    },
                },
                "patch": {
                    "summary": "Disable or enable a user, set their admin flag, group or system "
                    "account (admins)",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": oa._ref(schema.UserChange)}},
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
    )


_doc()
