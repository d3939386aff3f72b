"""What every API handler shares: the app, the database worker threads, the catalog cache.

Database work never runs on the IOLoop. Reads go to a small thread pool (SQLite in WAL
mode and PostgreSQL both serve concurrent readers); writes go to one writer thread, so
API writes never wait on each other's locks and each submission is one short transaction.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from scheduler.service.metrics import SchedulerMetrics
from scheduler.service.queries import Catalog, load_catalog

T = TypeVar("T")


class ApiContext:
    """Shared state of the API handlers of one :class:`~scheduler.service.app.SchedulerApp`."""

    def __init__(
        self,
        app: Any,
        *,
        read_threads: int = 4,
        catalog_seconds: float = 1.0,
        wake_interval: float = 0.2,
    ) -> None:
        self.app = app
        self.sessions = app.session_factory
        self.engine = app.session_factory.kw["bind"]
        self.authenticator = app.authenticator
        self.metrics = getattr(app, "metrics", None) or SchedulerMetrics(
            session_factory=app.session_factory, backend=app.backend
        )
        self.readers = ThreadPoolExecutor(read_threads, thread_name_prefix="hai-api-read")
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="hai-api-write")
        self.catalog_seconds = catalog_seconds
        self._catalog: tuple[float, Catalog] | None = None
        self.wake_interval = wake_interval
        self._last_wake = float("-inf")
        self._wake_pending = False

    @property
    def base_url(self) -> str:
        return self.app.base_url

    @property
    def default_quota(self) -> dict[str, int]:
        return dict(getattr(self.app, "default_quota", {}) or {})

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(session, *args)`` in a reader thread with a fresh session."""

        def run() -> T:
            with self.sessions() as session:
                return fn(session, *args)

        return await asyncio.get_running_loop().run_in_executor(self.readers, run)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(session, *args)`` in the writer thread, in one transaction."""

        def run() -> T:
            with self.sessions.begin() as session:
                return fn(session, *args)

        return await asyncio.get_running_loop().run_in_executor(self.writer, run)

    async def write_core(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(connection, *args)`` in the writer thread, in one Core transaction
        (no ORM session: the hot path of a submission)."""

        def run() -> T:
            with self.engine.begin() as conn:
                return fn(conn, *args)

        return await asyncio.get_running_loop().run_in_executor(self.writer, run)

    async def in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking non-database work (log files) in a reader thread."""
        return await asyncio.get_running_loop().run_in_executor(self.readers, fn, *args)

    async def catalog(self) -> Catalog:
        """Groups, quota rows and users' groups, re-read at most every ``catalog_seconds``."""
        now = time.monotonic()
        if self._catalog is None or now - self._catalog[0] > self.catalog_seconds:
            cat = await self.read(load_catalog)
            self._catalog = (time.monotonic(), cat)
        return self._catalog[1]

    def forget_catalog(self) -> None:
        """Groups, quotas or users changed: re-read them here and in the loop."""
        self._catalog = None
        self.wake_loop(catalog=True)

    def wake_loop(self, chains: Iterable[int] = (), catalog: bool = False) -> None:
        """Tell the scheduling loop what changed (call on the IOLoop thread, after the
        write committed): ``chains`` inserted or changed, or the ``catalog``.

        The note is taken at once, so the next cycle re-reads those rows. The first write
        wakes the loop at once; further writes within ``wake_interval`` are folded into one
        more wake at its end, so a burst of submissions does not keep the loop cycling back
        to back (it shares the GIL with this API).
        """
        loop = getattr(self.app, "loop", None)
        if loop is not None:
            loop.note_changed(chains, catalog)
        if self._wake_pending:
            return
        now = time.monotonic()
        wait = self._last_wake + self.wake_interval - now
        if wait <= 0:
            self._wake_now()
            return
        self._wake_pending = True
        asyncio.get_running_loop().call_later(wait, self._wake_now)

    def _wake_now(self) -> None:
        self._wake_pending = False
        self._last_wake = time.monotonic()
        loop = getattr(self.app, "loop", None)
        if loop is not None:
            loop.wake()

    def close(self) -> None:
        self.readers.shutdown(wait=False)
        self.writer.shutdown(wait=False)
