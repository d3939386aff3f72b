"""The server extension's one link to the scheduler: :class:`HaiLab`.

It holds the resolved connection and runs :class:`~hai_client.client.HaiClient` calls on a
small thread pool (the client is synchronous; the Jupyter server's event loop must never
wait on the network). Each pool thread has its own client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from hai_client.client import HaiClient
from hai_client.errors import HaiError
from hai_labextension.config import Connection, HaiLabConfig

T = TypeVar("T")


class HaiLab:
    """Shared state of the extension in one Jupyter server (``settings['hai_lab']``)."""

    def __init__(self, config: HaiLabConfig, log: logging.Logger | None = None) -> None:
        self.config = config
        self.log = log or logging.getLogger("hai_labextension")
        self._connection: Connection | None = None
        self._connection_error = ""
        self._me: str | None = None
        self._node_gpus: tuple[float, dict[str, int]] | None = None
        self._local = threading.local()
        self._clients: list[HaiClient] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, config.max_workers), thread_name_prefix="hai-lab"
        )
        from hai_labextension.events import ChainWatcher

        self.watcher = ChainWatcher(self)
        with contextlib.suppress(HaiError):
            self.connection()  # resolve now (again on demand until it works)

    # ------------------------------------------------------------------ connection

    def connection(self) -> Connection:
        """The connection; tried again on each call until it resolves once."""
        if self._connection is None:
            try:
                self._connection = self.config.resolve()
            except HaiError as exc:
                if str(exc) != self._connection_error:
                    self.log.warning("hai_labextension: %s", exc)
                self._connection_error = str(exc)
                raise
            self.log.info(
                "hai_labextension: scheduler %s (credentials from %s)",
                self._connection.url,
                self._connection.source,
            )
        return self._connection

    def _client(self) -> HaiClient:
        client = getattr(self._local, "client", None)
        if client is None:
            conn = self.connection()
            client = HaiClient(conn.url, conn.token, timeout=self.config.request_timeout)
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(client, *args, **kwargs)`` on a pool thread; HaiError passes through."""
        self.connection()

        def run() -> T:
            return fn(self._client(), *args, **kwargs)

        return await asyncio.get_running_loop().run_in_executor(self._pool, run)

    async def me(self) -> str:
        """The scheduler's name for the token's owner (asked once)."""
        if self._me is None:
            self._me = (await self.call(HaiClient.whoami)).name
        return self._me

    async def node_gpus(self, max_age: float = 60.0) -> dict[str, int]:
        """Node name -> GPUs (``GET /nodes``), read again at most every ``max_age`` s."""
        from hai_labextension.gpu_time import node_gpus

        now = time.monotonic()
        if self._node_gpus is None or now - self._node_gpus[0] > max_age:
            groups = await self.call(HaiClient.nodes)
            self._node_gpus = (now, node_gpus(g.raw for g in groups))
        return self._node_gpus[1]

    def lease_path(self) -> str | None:
        """``/devservers/{user}[/{server}]`` of this server; None outside JupyterHub."""
        user = self.config.hub_user
        if not user:
            return None
        path = f"/devservers/{HaiClient._ref(user)}"
        if self.config.server_name:
            path += f"/{HaiClient._ref(self.config.server_name)}"
        return path

    async def lease(self) -> dict[str, Any] | None:
        """This dev server's allocation and lease; None when it has none."""
        path = self.lease_path()
        if path is None:
            return None
        try:
            return await self.call(HaiClient.request, "GET", path)
        except HaiError as exc:
            if exc.status == 404:
                return None
            raise

    async def renew(self) -> dict[str, Any]:
        path = self.lease_path()
        if path is None:
            raise HaiError("this server does not run under JupyterHub: it has no lease", status=409)
        return await self.call(HaiClient.request, "POST", path + "/renew", json={})

    def close(self) -> None:
        self.watcher.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for client in self._clients:
                client.close()
            self._clients.clear()
