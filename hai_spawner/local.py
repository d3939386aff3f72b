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
from traitlets import Dict, List, Unicode, default

from hai_spawner.allocation import InventoryMixin

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


class HaiLocalSpawner(InventoryMixin, SimpleLocalProcessSpawner):
    """Local dev container bound to a MIG slice or a spot node from the shared inventory."""

    profiles = List(
        Dict(),
        default_value=DEFAULT_PROFILES,
        help="Profiles on the spawn form: slug ('mig-gpu' or 'spot'), display_name, "
        "description, default.",
    ).tag(config=True)

    @default("poll_interval")
    def _default_poll_interval(self) -> int:
        return 2  # a process that died shows as stopped within seconds

    home_dir_template = Unicode(
        os.path.join(os.environ.get("HAI_DATA_DIR", "var/hai"), "home", "{username}"),
        help="Each user's home (their files survive server stops).",
    ).tag(config=True)

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

    def requested_profile(self) -> str:
        slug = (self.user_options or {}).get("profile") or self.default_profile()
        known = [p["slug"] for p in self.profiles]
        if slug not in known:
            raise web.HTTPError(400, f"unknown profile {slug!r}; choose one of {known}")
        return slug

    # -- life cycle ---------------------------------------------------------------------------

    async def poll(self) -> int | None:
        held = self.allocation is not None
        status = await super().poll()  # clears the state (and our allocation) when dead
        if status is not None and held:
            # the process died underneath: the hub will not call stop(), so give back here
            await self.release()
        return status

    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        env.update(self.allocation_env())
        if self.allocation is not None:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(self.allocation.gpu_ids)
        return env
