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
from traitlets import Unicode, default

from hai_spawner.allocation import InventoryMixin


class HaiLocalSpawner(InventoryMixin, SimpleLocalProcessSpawner):
    """Local dev container bound to a MIG slice or a spot node from the shared inventory."""

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
