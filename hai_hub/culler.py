"""The lease culler: a JupyterHub managed service that stops dev containers whose time is up.

JupyterHub has no server lifetime of its own (and jupyterhub-idle-culler's ``--max-age``
is neither per profile nor renewable), so the lease lives in the scheduler's inventory and
this service enforces it: a ``mig-gpu`` server whose lease expired, and a ``spot`` server
whose reclaim deadline passed, are stopped through the hub's API. Stopping keeps the
user's files; the spawner gives the slice or node back.

It also keeps the inventory true to the hub: an allocation whose server the hub does not
have (started or starting) for longer than ``orphan_grace`` is given back. So however the
platform stopped (Ctrl-C stops the scheduler before the servers; a crash stops nothing in
order), slices of servers that no longer exist return within seconds of the next start.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from urllib.parse import quote

import httpx
from traitlets import Float, Unicode, default
from traitlets.config import Application

from hai_client.config import hub_api_token, hub_api_url, hub_scheduler_token, hub_scheduler_url
from hai_spawner.inventory import InventoryClient, InventoryError


def due(ds: dict[str, Any], now: dt.datetime) -> str | None:
    """Why this dev server must stop now, or None."""
    if ds["state"] == "expired":
        return f"its {ds['profile']} lease expired at {ds['lease_expires_at']}"
    deadline = ds.get("reclaim_deadline")
    if ds["state"] == "reclaiming" and deadline and dt.datetime.fromisoformat(deadline) <= now:
        return f"its spot node {ds['node']} is reclaimed for training"
    return None


class LeaseCuller(Application):
    """Every ``interval`` seconds: stop the servers that are due."""

    name = "hai-lease-culler"
    interval = Float(10.0, help="Seconds between two checks.").tag(config=True)
    hub_api_url = Unicode(help="Default: $JUPYTERHUB_API_URL").tag(config=True)
    hub_token = Unicode(help="Default: $JUPYTERHUB_API_TOKEN").tag(config=True)
    scheduler_url = Unicode(help="Default: $HAI_SCHEDULER_URL").tag(config=True)
    scheduler_token = Unicode(help="Default: $HAI_SCHEDULER_TOKEN").tag(config=True)

    orphan_grace = Float(
        60.0,
        help="An allocation older than this whose server the hub does not have is released.",
    ).tag(config=True)

    aliases = {"interval": "LeaseCuller.interval", "orphan-grace": "LeaseCuller.orphan_grace"}

    @default("hub_api_url")
    def _hub_api_url(self) -> str:
        return hub_api_url()

    @default("hub_token")
    def _hub_token(self) -> str:
        return hub_api_token()

    @default("scheduler_url")
    def _scheduler_url(self) -> str:
        return hub_scheduler_url()

    @default("scheduler_token")
    def _scheduler_token(self) -> str:
        return hub_scheduler_token()

    async def stop_server(self, client: httpx.AsyncClient, user: str, server: str) -> None:
        path = f"/users/{quote(user, safe='')}/server"
        if server:
            path = f"/users/{quote(user, safe='')}/servers/{quote(server, safe='')}"
        resp = await client.delete(self.hub_api_url.rstrip("/") + path)
        if resp.status_code not in (202, 204, 400, 404):
            self.log.warning(
                "stopping %s/%s: HTTP %s %s", user, server, resp.status_code, resp.text[:200]
            )

    async def hub_servers(self, client: httpx.AsyncClient) -> set[tuple[str, str]]:
        """(user, server name) of every server the hub has, started or starting (one that
        is stopping is going away: after a crash the hub may take long to finish that)."""
        found: set[tuple[str, str]] = set()
        offset = 0
        pages = {"Accept": "application/jupyterhub-pagination+json"}
        while True:
            resp = await client.get(
                self.hub_api_url.rstrip("/") + "/users",
                params={"state": "active", "offset": offset, "limit": 200},
                headers=pages,
            )
            resp.raise_for_status()
            body = resp.json()
            for user in body["items"]:
                found |= {
                    (user["name"], name)
                    for name, server in (user.get("servers") or {}).items()
                    if server.get("ready") or server.get("pending") == "spawn"
                }
            nxt = (body.get("_pagination") or {}).get("next")
            if not nxt:
                return found
            offset = nxt["offset"]

    async def cull_once(self) -> list[tuple[str, str, str]]:
        inventory = InventoryClient(self.scheduler_url, self.scheduler_token)
        now = dt.datetime.now(dt.UTC)
        stopped = []
        headers = {"Authorization": f"token {self.hub_token}"}
        async with httpx.AsyncClient(headers=headers, timeout=30) as client:
            allocations = await inventory.list()
            alive = await self.hub_servers(client) if allocations else set()
            for ds in allocations:
                if (ds["user"], ds["server"]) not in alive:
                    await self.release_orphan(inventory, ds, now)
                    continue
                why = due(ds, now)
                if why is None:
                    continue
                self.log.info("stopping %s's server %r: %s", ds["user"], ds["server"], why)
                await self.stop_server(client, ds["user"], ds["server"])
                stopped.append((ds["user"], ds["server"], why))
        return stopped

    async def release_orphan(
        self, inventory: InventoryClient, ds: dict[str, Any], now: dt.datetime
    ) -> None:
        """Give back an allocation whose server the hub does not have (after the grace, so
        a spawn that has allocated but not yet registered is left alone)."""
        made = dt.datetime.fromisoformat(ds["created_at"])
        if (now - made).total_seconds() < self.orphan_grace:
            return
        self.log.info(
            "releasing %s's %s on %s: the hub has no such server",
            ds["user"],
            ds["profile"],
            ds["node"],
        )
        await inventory.release(ds["user"], ds["server"])

    async def run(self) -> None:
        while True:
            try:
                await self.cull_once()
            except (InventoryError, httpx.HTTPError) as exc:
                self.log.warning("lease check failed: %s", exc)
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        asyncio.run(self.run())


def main(argv: list[str] | None = None) -> None:
    LeaseCuller.launch_instance(argv)


if __name__ == "__main__":
    main()
