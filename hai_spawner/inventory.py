"""The spawner's side of the shared inventory: asks the scheduler service for a MIG slice
or a spot node, and gives it back. Async (it runs inside the hub's event loop).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx


class InventoryError(RuntimeError):
    """The scheduler refused or could not be reached; the message is for the user."""


@dataclass(frozen=True, slots=True)
class Allocation:
    profile: str
    node: str
    gpu_ids: tuple[str, ...]
    lease_expires_at: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Allocation:
        return cls(
            profile=data["profile"],
            node=data["node"],
            gpu_ids=tuple(data.get("gpu_ids") or ()),
            lease_expires_at=data.get("lease_expires_at"),
        )


class InventoryClient:
    """Talks to ``{scheduler_url}api/v1/devservers`` with the hub's service token."""

    def __init__(self, scheduler_url: str, token: str, timeout: float = 20.0) -> None:
        self.base = scheduler_url.rstrip("/") + "/api/v1/devservers"
        self.headers = {"Authorization": f"token {token}"}
        self.timeout = timeout

    def _path(self, user: str, server: str) -> str:
        path = f"{self.base}/{quote(user, safe='')}"
        return f"{path}/{quote(server, safe='')}" if server else path

    async def _call(self, method: str, url: str, **kw: Any) -> httpx.Response:
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                return await client.request(method, url, headers=self.headers, **kw)
        except httpx.HTTPError as exc:
            raise InventoryError(f"the HAI scheduler is unreachable at {url}: {exc}") from None

    async def allocate(self, user: str, server: str, profile: str) -> Allocation:
        resp = await self._call(
            "POST", self.base, json={"user": user, "server": server, "profile": profile}
        )
        if resp.status_code != 201:
            raise InventoryError(_message(resp))
        return Allocation.from_json(resp.json())

    async def release(self, user: str, server: str) -> bool:
        resp = await self._call("DELETE", self._path(user, server))
        if resp.status_code not in (204, 404):
            raise InventoryError(_message(resp))
        return resp.status_code == 204

    async def get(self, user: str, server: str) -> dict[str, Any] | None:
        resp = await self._call("GET", self._path(user, server))
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise InventoryError(_message(resp))
        return resp.json()

    async def renew(self, user: str, server: str) -> dict[str, Any]:
        resp = await self._call("POST", self._path(user, server) + "/renew")
        if resp.status_code != 200:
            raise InventoryError(_message(resp))
        return resp.json()

    async def account(self, user: str) -> dict[str, Any]:
        """The system account ``user``'s server runs as (made on first use)."""
        url = f"{self.base.rsplit('/devservers', 1)[0]}/users/{quote(user, safe='')}/account"
        resp = await self._call("POST", url)
        if resp.status_code != 200:
            raise InventoryError(_message(resp))
        return resp.json()

    async def list(self) -> list[dict[str, Any]]:
        resp = await self._call("GET", self.base)
        if resp.status_code != 200:
            raise InventoryError(_message(resp))
        return resp.json()["devservers"]


def _message(resp: httpx.Response) -> str:
    try:
        return str(resp.json().get("error") or resp.text)
    except ValueError:
        return f"HTTP {resp.status_code}: {resp.text[:200]}"
