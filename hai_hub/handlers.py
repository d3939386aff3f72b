"""Hub-side endpoints for the dev container's lease, used by the hub's home page:

``GET  /hub/api/hai/devserver/{user}[/{server}]``  the allocation: profile, GPUs, lease, reclaim
``POST /hub/api/hai/devserver/{user}[/{server}]/renew``  renew a mig-gpu lease

They authenticate like any hub API call (cookie + XSRF from the page, or a token) and ask
the scheduler's inventory with the hub's own service token, for the user's own servers
only (admins: anyone's).
"""

from __future__ import annotations

import json
import os

from jupyterhub.apihandlers.base import APIHandler
from tornado import web

from hai_spawner.inventory import InventoryClient, InventoryError


class _Base(APIHandler):
    def inventory(self) -> InventoryClient:
        return InventoryClient(
            os.environ.get("HAI_SCHEDULER_URL", "http://127.0.0.1:8910/"),
            os.environ.get("HAI_SCHEDULER_TOKEN", ""),
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


def extra_handlers() -> list[tuple[str, type]]:
    """For ``c.JupyterHub.extra_handlers`` (mounted under /hub/)."""
    name = r"(?P<user>[^/]+)"
    return [
        (rf"/api/hai/devserver/{name}/renew", RenewHandler),
        (rf"/api/hai/devserver/{name}/(?P<server>[^/]+)/renew", RenewHandler),
        (rf"/api/hai/devserver/{name}", DevServerHandler),
        (rf"/api/hai/devserver/{name}/(?P<server>[^/]+)", DevServerHandler),
    ]
