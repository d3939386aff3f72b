"""Who may log in to the hub: each person with their own password (the embedded default).

:class:`HaiAuthenticator` is NativeAuthenticator (``jupyterhub-nativeauthenticator``:
sign-up, bcrypt-hashed passwords in the hub's database, admin approval, a lock after
repeated failed logins) with what a shared platform needs on top of it:

- user names follow the scheduler's rule, so a name the hub accepts is one the scheduler
  and the system-account mapping accept too;
- the first admin gets a password at first start (``initial_admin_password`` or a random
  one, printed once); they change it on ``/hub/change-password``;
- approving, disabling and discarding are POSTs checked against JupyterHub's XSRF token
  (upstream uses plain links, which any page an admin visits could trigger);
- disabling takes effect at once (:func:`disable_user`): browser sessions end, every hub
  token of the user is deleted, their servers stop, and the scheduler refuses them from
  the next request;
- a login refused because of the lock says so, and for how long.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any
from urllib.parse import quote

import bcrypt
import httpx
from jupyterhub.handlers.login import LoginHandler as HubLoginHandler
from jupyterhub.orm import new_token
from jupyterhub.scopes import needs_scope
from nativeauthenticator import NativeAuthenticator
from nativeauthenticator.handlers import LocalBase
from nativeauthenticator.orm import UserInfo
from tornado import web
from traitlets import Unicode, default

from hai_client.config import hub_scheduler_token, hub_scheduler_url

# The scheduler's user-name rule (scheduler.model.accounts), in the hub's lower case.
USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._@-]{0,63}\Z"  # \Z: "$" would let a final newline in


class HaiAuthenticator(NativeAuthenticator):
    """NativeAuthenticator with safe admin actions, a printed first password and lock-out
    messages. Defaults: 5 failed logins lock a name for 5 minutes; passwords of at least 8
    characters that are not among the common ones; sign-up needs an admin's approval."""

    initial_admin_password = Unicode(
        "",
        help="The first password of each admin in admin_users that has none yet "
        "(empty: a random one, printed once at start).",
    ).tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not self.username_pattern:
            self.username_pattern = USERNAME_PATTERN
        for name, password in self.ensure_admin_passwords():
            shown = "from initial_admin_password" if self.initial_admin_password else password
            print(  # once, at the first start: the operator needs it to log in
                f"HAI Hub: admin {name!r} can log in with the password {shown} "
                "(shown once; change it at /hub/change-password)",
                flush=True,
            )

    # NativeAuthenticator's own defaults are permissive (no lock, 1-character passwords)
    @default("allowed_failed_logins")
    def _default_allowed_failed_logins(self) -> int:
        return 5

    @default("seconds_before_next_try")
    def _default_seconds_before_next_try(self) -> int:
        return 300

    @default("minimum_password_length")
    def _default_minimum_password_length(self) -> int:
        return 8

    @default("check_common_password")
    def _default_check_common_password(self) -> bool:
        return True

    # ------------------------------------------------------------------ first admin

    def ensure_admin_passwords(self) -> list[tuple[str, str]]:
        """Give every configured admin without a password one; returns (name, password)
        for those created, so the caller can print them once."""
        created = []
        for name in sorted(self.admin_users):
            if self.get_user(name) is not None:
                continue
            password = self.initial_admin_password or secrets.token_urlsafe(12)
            hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt())
            self.db.add(UserInfo(username=name, password=hashed, is_authorized=True))
            self.db.commit()
            created.append((name, password))
        return created

    # ------------------------------------------------------------------ login

    def lock_seconds_left(self, username: str) -> int:
        """Seconds until ``username`` may try again (0: not locked)."""
        if not self.allowed_failed_logins or not self.is_blocked(username):
            return 0
        last = self.login_attempts[username]["time"]
        waited = (dt.datetime.now() - last).total_seconds()
        return max(1, int(self.seconds_before_next_try - waited))

    def user_exists(self, username: str) -> bool:
        """A sign-up may not take the name of any hub user, with a password or not (one
        made by an admin through the API has none yet)."""
        from jupyterhub import orm

        return super().user_exists(username) or orm.User.find(self.db, username) is not None

    async def refresh_user(self, user: Any, handler: Any = None) -> bool:
        """A user an admin disabled must log in again (and cannot)."""
        info = self.get_user(user.name)
        return info is None or bool(info.is_authorized)

    def get_handlers(self, app: Any) -> list[tuple[str, type]]:
        ours = {
            r"/login": LoginHandler,
            r"/authorize/([^/]*)": ToggleAuthorizationHandler,
            r"/discard/([^/]*)": DiscardHandler,
        }
        return [(path, ours.get(path, handler)) for path, handler in super().get_handlers(app)]


# ---------------------------------------------------------------------- disabling


async def set_authorized(handler: Any, name: str, authorized: bool) -> bool:
    """Approve (``True``) or disable (``False``) ``name``; False if no such sign-up."""
    info = UserInfo.find(handler.db, name)
    if info is None:
        return False
    info.is_authorized = authorized
    handler.db.commit()
    if not authorized:
        await disable_user(handler, name)
    await tell_scheduler(handler, name, {"disabled": not authorized})
    return True


async def disable_user(handler: Any, name: str) -> None:
    """End everything ``name`` holds now: servers, browser sessions, hub tokens."""
    user = handler.find_user(name)
    if user is None:
        return
    for server_name, spawner in list(user.spawners.items()):
        if spawner.active:
            await handler.stop_single_user(user, server_name)
    user.orm_user.cookie_id = new_token()  # every login cookie of theirs stops matching
    for token in list(user.orm_user.api_tokens):
        handler.db.delete(token)
    handler.db.commit()
    handler.log.info("disabled %s: servers stopped, sessions and tokens revoked", name)


async def tell_scheduler(handler: Any, name: str, flags: dict[str, bool]) -> None:
    """Pass a user's flags on to the scheduler service (its own cache forgets them at
    once); the hub's tokens are gone already, so a failure here only delays it."""
    url = hub_scheduler_url(default="")
    token = hub_scheduler_token()
    if not url or not token:
        return
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            resp = await client.patch(
                f"{url.rstrip('/')}/api/v1/users/{quote(name, safe='')}",
                json=flags,
                headers={"Authorization": f"token {token}"},
            )
        resp.raise_for_status()
    except httpx.HTTPError as exc:
        handler.log.warning("could not tell the scheduler about %s %s: %s", name, flags, exc)


# ---------------------------------------------------------------------- handlers


class LoginHandler(HubLoginHandler):
    """JupyterHub's own login form (NativeAuthenticator's handler no longer runs on
    JupyterHub 6), telling a locked name how long to wait and a pending sign-up that it
    waits for an admin."""

    async def post(self) -> None:
        auth = self.authenticator
        username = auth.normalize_username(self.get_argument("username", "", strip=True))
        refusal = None
        left = auth.lock_seconds_left(username)
        if left:
            refusal = (429, f"Too many failed logins for {username}: try again in {left} s.")
        else:
            info = auth.get_user(username)
            password = self.get_argument("password", "", strip=False)
            if info is not None and not info.is_authorized and info.is_valid_password(password):
                refusal = (403, f"{username} is waiting for an admin's approval.")
        if refusal is None:
            await super().post()
            return
        self.set_status(refusal[0])
        self.finish(await self._render(login_error=refusal[1], username=username))


class ToggleAuthorizationHandler(LocalBase):
    """``POST /hub/authorize/{name}`` with ``action=approve|disable`` (admins, XSRF)."""

    @needs_scope("admin:users")
    async def post(self, name: str) -> None:
        action = self.get_body_argument("action", "")
        if action not in ("approve", "disable"):
            raise web.HTTPError(400, "action must be approve or disable")
        if name == self.current_user.name and action == "disable":
            raise web.HTTPError(409, "you cannot disable yourself")
        if not await set_authorized(self, name, action == "approve"):
            raise web.HTTPError(404, f"no sign-up named {name}")
        self.redirect(self.hub.base_url + "authorize#" + re.sub(r"[^\w.@-]", "", name))


class DiscardHandler(LocalBase):
    """``POST /hub/discard/{name}``: drop a sign-up that was never approved (admins)."""

    @needs_scope("admin:users")
    async def post(self, name: str) -> None:
        info = UserInfo.find(self.db, name)
        if info is None or info.is_authorized:
            raise web.HTTPError(404, f"no pending sign-up named {name}")
        self.db.delete(info)
        self.db.commit()
        self.redirect(self.hub.base_url + "authorize")
