"""What both HAI spawners share: holding a slice or node of the scheduler's inventory for
the life of a server (allocate before start, give back on stop or death, keep it in the
spawner's state across hub restarts) and the environment that tells the server about it.
"""

from __future__ import annotations

from typing import Any

from tornado import web
from traitlets import Bool, Dict, Integer, List, Unicode, default
from traitlets.config import Configurable

from hai_client.config import DEFAULT_URL, URL_VAR, hub_scheduler_token, hub_scheduler_url
from hai_spawner.inventory import Allocation, InventoryClient, InventoryError
from hai_spawner.profiles import DEFAULT_PROFILES

#: passed from the hub to every dev server (Spawner.env_keep)
TLS_AND_PROXY_VARIABLES = (
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "PIP_CERT",
    "UV_NATIVE_TLS",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
)


class InventoryMixin(Configurable):
    """Mix into a JupyterHub Spawner (before it in the bases)."""

    use_inventory = Bool(
        True, help="Take the slice/node from the scheduler's inventory for each server."
    ).tag(config=True)
    scheduler_url = Unicode(
        help="Base URL of the HAI scheduler service (default: $HAI_SCHEDULER_URL)."
    ).tag(config=True)
    scheduler_token = Unicode(
        help="Token the hub uses with the scheduler service (default: $HAI_SCHEDULER_TOKEN)."
    ).tag(config=True)
    public_scheduler_url = Unicode(
        help="Scheduler URL as seen from the user's server (default: scheduler_url)."
    ).tag(config=True)
    allocation_timeout = Integer(30, help="Seconds to wait for the scheduler.").tag(config=True)
    profiles = List(
        Dict(),
        default_value=DEFAULT_PROFILES,
        help="Profiles on the spawn form: slug ('mig-gpu' or 'spot'), display_name, "
        "description, default.",
    ).tag(config=True)

    default_scheduler_url = DEFAULT_URL

    @default("env_keep")
    def _default_env_keep(self) -> list[str]:
        """JupyterHub's own, plus what reaching a package index behind a company proxy or
        custom CA needs (uv, pip, requests, curl), and the locale."""
        return [
            "JUPYTERHUB_SINGLEUSER_APP",
            *TLS_AND_PROXY_VARIABLES,
            "LANG",
            "LC_ALL",
        ]

    @default("scheduler_url")
    def _default_scheduler_url(self) -> str:
        return hub_scheduler_url(self.default_scheduler_url)

    @default("scheduler_token")
    def _default_scheduler_token(self) -> str:
        return hub_scheduler_token()

    @default("public_scheduler_url")
    def _default_public_scheduler_url(self) -> str:
        return self.scheduler_url

    allocation: Allocation | None = None

    @property
    def inventory(self) -> InventoryClient:
        return InventoryClient(self.scheduler_url, self.scheduler_token, self.allocation_timeout)

    async def allocate(self, profile: str) -> None:
        """Hold a slice or node for this server; refuse the spawn with the reason if none."""
        if not self.use_inventory or self.allocation is not None:
            return
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

    async def release(self) -> None:
        """Give the slice or node back (idempotent; failures are logged, not raised)."""
        if not self.use_inventory:
            return
        try:
            await self.inventory.release(self.user.name, self.name)
        except InventoryError as exc:
            self.log.warning("%s: could not give back the allocation: %s", self._log_name, exc)
        self.allocation = None

    def default_profile(self) -> str:
        for p in self.profiles:
            if p.get("default"):
                return str(p["slug"])
        return str(self.profiles[0]["slug"])

    def requested_profile(self) -> str:
        """The profile slug this spawn asked for (the form's or the API's ``profile``)."""
        slug = (self.user_options or {}).get("profile") or self.default_profile()
        known = [p["slug"] for p in self.profiles]
        if slug not in known:
            raise web.HTTPError(400, f"unknown profile {slug!r}; choose one of {known}")
        return str(slug)

    async def start(self) -> Any:
        await self.allocate(self.requested_profile())
        try:
            return await super().start()
        except Exception:
            await self.release()
            raise

    async def stop(self, now: bool = False) -> None:
        try:
            await super().stop(now=now)
        finally:
            await self.release()

    def allocation_env(self) -> dict[str, str]:
        env = {URL_VAR: self.public_scheduler_url}
        if self.allocation is not None:
            env["HAI_PROFILE"] = self.allocation.profile
            env["HAI_NODE"] = self.allocation.node
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
