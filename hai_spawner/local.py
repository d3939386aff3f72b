"""HaiLocalSpawner: the embedded default dev container, a local process on this machine.

It is JupyterHub's simple local-process spawner plus the HAI profiles: before the server
starts it asks the scheduler for a MIG slice (``mig-gpu``, with a lease) or a whole idle
training node (``spot``), exposes exactly those GPUs through ``CUDA_VISIBLE_DEVICES``, and
gives them back when the server stops. It refuses with the scheduler's message when
nothing is free.
"""

from __future__ import annotations

import html
import os
from typing import Any

from jupyterhub.spawner import SimpleLocalProcessSpawner
from tornado import web
from traitlets import Dict, Integer, List, Unicode, default

from hai_spawner.inventory import Allocation, InventoryClient, InventoryError

DEFAULT_PROFILES = [
    {
        "slug": "mig-gpu",
        "display_name": "MIG GPU",
        "description": "One MIG slice on a shared node. 24 h lease, renewable while active.",
        "default": True,
    },
    {
        "slug": "spot",
        "display_name": "Spot node",
        "description": "A whole idle training node with all its GPUs. No fixed lifetime; "
        "reclaimed (after a warning) when training needs the node.",
    },
]


class HaiLocalSpawner(SimpleLocalProcessSpawner):
    """Local dev container bound to a MIG slice or a spot node from the shared inventory."""

    profiles = List(
        Dict(),
        default_value=DEFAULT_PROFILES,
        help="Profiles on the spawn form: slug ('mig-gpu' or 'spot'), display_name, "
        "description, default.",
    ).tag(config=True)
    scheduler_url = Unicode(
        help="Base URL of the HAI scheduler service (default: $HAI_SCHEDULER_URL)."
    ).tag(config=True)
    scheduler_token = Unicode(
        help="Token the hub uses with the scheduler service (default: $HAI_SCHEDULER_TOKEN)."
    ).tag(config=True)
    public_scheduler_url = Unicode(
        help="Scheduler URL as seen from the user's server (default: scheduler_url).",
    ).tag(config=True)

    @default("scheduler_url")
    def _default_scheduler_url(self) -> str:
        return os.environ.get("HAI_SCHEDULER_URL", "http://127.0.0.1:8910/")

    @default("scheduler_token")
    def _default_scheduler_token(self) -> str:
        return os.environ.get("HAI_SCHEDULER_TOKEN", "")

    @default("public_scheduler_url")
    def _default_public_scheduler_url(self) -> str:
        return self.scheduler_url

    @default("poll_interval")
    def _default_poll_interval(self) -> int:
        return 2  # a process that died shows as stopped within seconds

    home_dir_template = Unicode(
        os.path.join(os.environ.get("HAI_DATA_DIR", "var/hai"), "home", "{username}"),
        help="Each user's home (their files survive server stops).",
    ).tag(config=True)

    allocation_timeout = Integer(30, help="Seconds to wait for the scheduler.").tag(config=True)

    @property
    def inventory(self) -> InventoryClient:
        return InventoryClient(self.scheduler_url, self.scheduler_token, self.allocation_timeout)

    # -- the spawn form -------------------------------------------------------------------
    @default("options_form")
    def _default_options_form(self) -> str:
        rows = []
        for p in self.profiles:
            checked = " checked" if p.get("default") else ""
            slug = html.escape(p["slug"])
            rows.append(
                f'<label class="hai-profile"><input type="radio" name="profile" value="{slug}"'
                f"{checked}> <strong>{html.escape(p.get('display_name', slug))}</strong>"
                f"<br><small>{html.escape(p.get('description', ''))}</small></label><br>"
            )
        return "\n".join(rows)

    def options_from_form(self, formdata: dict[str, list[str]]) -> dict[str, Any]:
        return {"profile": formdata.get("profile", [self.default_profile()])[0]}

    def default_profile(self) -> str:
        for p in self.profiles:
            if p.get("default"):
                return p["slug"]
        return self.profiles[0]["slug"]

    @property
    def profile(self) -> str:
        slug = (self.user_options or {}).get("profile") or self.default_profile()
        known = [p["slug"] for p in self.profiles]
        if slug not in known:
            raise web.HTTPError(400, f"unknown profile {slug!r}; choose one of {known}")
        return slug

    # -- life cycle ---------------------------------------------------------------------------
    allocation: Allocation | None = None

    async def start(self) -> Any:
        profile = self.profile
        try:
            self.allocation = await self.inventory.allocate(self.user.name, self.name, profile)
        except InventoryError as exc:
            raise web.HTTPError(409, f"Cannot start a {profile} server: {exc}") from None
        self.log.info(
            "%s: %s on %s, GPUs %s",
            self._log_name,
            profile,
            self.allocation.node,
            ",".join(self.allocation.gpu_ids),
        )
        try:
            return await super().start()
        except Exception:
            await self._release()
            raise

    async def stop(self, now: bool = False) -> None:
        try:
            await super().stop(now=now)
        finally:
            await self._release()

    async def poll(self) -> int | None:
        held = self.allocation is not None
        status = await super().poll()  # clears the state (and our allocation) when dead
        if status is not None and held:
            # the process died underneath: the hub will not call stop(), so give back here
            await self._release()
        return status

    async def _release(self) -> None:
        try:
            await self.inventory.release(self.user.name, self.name)
        except InventoryError as exc:
            self.log.warning("%s: could not give back the allocation: %s", self._log_name, exc)
        self.allocation = None

    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        if self.allocation is not None:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(self.allocation.gpu_ids)
            env["HAI_PROFILE"] = self.allocation.profile
            env["HAI_NODE"] = self.allocation.node
        env["HAI_SCHEDULER_URL"] = self.public_scheduler_url
        return env

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        if self.allocation is not None:
            state["hai_allocation"] = {
                "profile": self.allocation.profile,
                "node": self.allocation.node,
                "gpu_ids": list(self.allocation.gpu_ids),
                "lease_expires_at": self.allocation.lease_expires_at,
            }
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        if state.get("hai_allocation"):
            self.allocation = Allocation.from_json(state["hai_allocation"])

    def clear_state(self) -> None:
        super().clear_state()
        self.allocation = None
