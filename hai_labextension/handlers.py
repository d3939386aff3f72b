"""The ``/hai/...`` endpoints of the server extension (all JSON, two of them event streams).

Every handler needs the Jupyter server's own login (``@web.authenticated`` and the
server's authorizer); the scheduler is then called with the server owner's token, so it
is the scheduler that decides which chains exist for this user. Errors are JSON
``{"error": "...", "field": "..."}``: the scheduler's 4xx with its message and field, 502
when the scheduler cannot be reached or refuses the token, 503 when the extension has no
credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.iostream import StreamClosedError

from hai_client.client import HaiClient, LogPage
from hai_client.errors import HaiError
from hai_client.usage_chart import daily
from hai_labextension.events import ranks_summary, sse
from hai_labextension.gpu_time import gpu_time
from hai_labextension.service import HaiLab
from hai_labextension.submit import build_task

KEEPALIVE_SECONDS = 20.0
_CLOSED = "__closed__"


def hai_errors(method: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """Answer a HaiError as JSON with a status that says whose fault it was."""

    @functools.wraps(method)
    async def wrapper(self: HaiHandler, *args: Any, **kwargs: Any) -> None:
        try:
            await method(self, *args, **kwargs)
        except HaiError as exc:
            if self._headers_written:
                self.log.warning("hai_labextension: %s", exc)
                return
            self.send_error_json(exc)

    return wrapper


class HaiHandler(APIHandler):
    """Base: JSON in and out, the shared :class:`HaiLab`."""

    auth_resource = "hai"

    @property
    def lab(self) -> HaiLab:
        return self.settings["hai_lab"]

    def send_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data))

    def send_error_json(self, exc: HaiError) -> None:
        status = exc.status
        if status is None:
            status = 503 if "not configured" in str(exc) else 502
        elif status == 401 or status >= 500:
            status = 502  # the scheduler refused our token or failed: not the browser's fault
        body: dict[str, Any] = {"error": str(exc)}
        if exc.field:
            body["field"] = exc.field
        self.send_json(body, status)

    def body(self) -> dict[str, Any]:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise HaiError("the request body is not JSON", status=400, field="body") from None
        if not isinstance(data, dict):
            raise HaiError("the request body must be a JSON object", status=400, field="body")
        return data

    def int_arg(self, name: str, default: int, low: int = 0, high: int = 1_000_000) -> int:
        raw = self.get_argument(name, "")
        if raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise HaiError(f"{name} must be a whole number", status=400, field=name) from None
        if not low <= value <= high:
            raise HaiError(f"{name} must be {low}..{high}", status=400, field=name)
        return value


class StreamHandler(HaiHandler):
    """Server-sent events over a long GET; ends when the browser goes away."""

    _closed: asyncio.Event | None = None

    def start_stream(self) -> None:
        self._closed = asyncio.Event()
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")

    def on_connection_close(self) -> None:
        if self._closed is not None:
            self._closed.set()

    @property
    def closed(self) -> bool:
        return self._closed is not None and self._closed.is_set()

    async def emit(self, chunk: bytes) -> bool:
        """Write and flush one event; False once the browser has gone."""
        if self.closed:
            return False
        try:
            self.write(chunk)
            await self.flush()
        except StreamClosedError:
            self.on_connection_close()
            return False
        return True

    async def pause(self, seconds: float) -> None:
        """Sleep, waking early when the browser goes away."""
        assert self._closed is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), seconds)

    def end_stream(self) -> None:
        if not self.closed:
            with contextlib.suppress(StreamClosedError):
                self.finish(set_content_type="text/event-stream")


# --------------------------------------------------------------------------- endpoints


class StatusHandler(HaiHandler):
    """``GET /hai/status``: is the extension configured, who am I, which server is this."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        out: dict[str, Any] = {
            "configured": False,
            "error": None,
            "url": None,
            "source": None,
            "user": None,
            "hub_user": self.lab.config.hub_user or None,
            "server_name": self.lab.config.server_name,
            "profile": os.environ.get("HAI_PROFILE") or None,
            "node": os.environ.get("HAI_NODE") or None,
        }
        try:
            conn = self.lab.connection()
            out.update(configured=True, url=conn.url, source=conn.source)
            out["user"] = (await self.lab.call(HaiClient.whoami)).raw
        except HaiError as exc:
            out["error"] = str(exc)
        self.send_json(out)


class EventsHandler(StreamHandler):
    """``GET /hai/events``: the shared watcher's ``chains``, ``lease`` and ``error`` events."""

    _queue: asyncio.Queue | None = None

    def on_connection_close(self) -> None:
        super().on_connection_close()
        if self._queue is not None:
            self._queue.put_nowait((_CLOSED, None))

    @web.authenticated
    @authorized
    @hai_errors
    async def get(self) -> None:
        self.lab.connection()  # 503 now rather than an empty stream
        watcher = self.lab.watcher
        self.start_stream()
        self._queue = queue = watcher.subscribe()
        try:
            if not await self.emit(sse("hello", {"poll_seconds": self.lab.config.poll_seconds})):
                return
            while not self.closed:
                try:
                    event, data = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    if not await self.emit(b": keepalive\n\n"):
                        break
                    continue
                if event == _CLOSED or not await self.emit(sse(event, data)):
                    break
        finally:
            watcher.unsubscribe(queue)
            self.end_stream()


class ChainsHandler(HaiHandler):
    """``GET /hai/chains`` (my chains, a page) and ``POST /hai/chains`` (submit)."""

    @web.authenticated
    @authorized
    @hai_errors
    async def get(self) -> None:
        me = await self.lab.me()
        page = await self.lab.call(
            HaiClient.list,
            page=self.int_arg("page", 1, 1),
            page_size=self.int_arg("page_size", 20, 1, 50),
            name=self.get_argument("name", None),
            state=self.get_argument("state", None),
            owner=me,
        )
        self.send_json(page.raw)

    @web.authenticated
    @authorized
    @hai_errors
    async def post(self) -> None:
        form = self.body()
        if "task" in form:  # a whole task spec (YAML text or a mapping), as hai-cli run
            overrides = form.get("overrides")
            if overrides is not None and not isinstance(overrides, dict):
                raise HaiError("overrides must be an object", status=422, field="overrides")
            chain = await self.lab.call(HaiClient.create, form["task"], overrides=overrides)
        else:
            root = getattr(self.contents_manager, "root_dir", None) or self.settings.get(
                "server_root_dir", os.getcwd()
            )
            task, overrides = build_task(root, form)
            chain = await self.lab.call(HaiClient.create, task, overrides=overrides)
        self.lab.watcher.poke()
        self.send_json(chain.raw, 201)


class ChainHandler(HaiHandler):
    """``GET /hai/chains/{ref}``: one chain with its jobs, a ``ranks`` summary and its
    ``gpu_time`` (:mod:`hai_labextension.gpu_time`)."""

    @web.authenticated
    @authorized
    @hai_errors
    async def get(self, ref: str) -> None:
        chain = await self.lab.call(HaiClient.get, ref)
        gpus = gpu_time(chain.raw, await self.lab.node_gpus())
        self.send_json({**chain.raw, "ranks": ranks_summary(chain), "gpu_time": gpus})


class StopHandler(HaiHandler):
    """``POST /hai/chains/{ref}/stop``: stop for good."""

    @web.authenticated
    @authorized
    @hai_errors
    async def post(self, ref: str) -> None:
        chain = await self.lab.call(HaiClient.stop, ref)
        self.lab.watcher.poke()
        self.send_json(chain.raw)


class ResubmitHandler(HaiHandler):
    """``POST /hai/chains/{ref}/resubmit``: the same task spec again, as a new chain."""

    @web.authenticated
    @authorized
    @hai_errors
    async def post(self, ref: str) -> None:
        spec = await self.lab.call(HaiClient.describe, ref)
        chain = await self.lab.call(HaiClient.create, spec)
        self.lab.watcher.poke()
        self.send_json(chain.raw, 201)


def _page_json(page: LogPage, rank: int) -> dict[str, Any]:
    return {
        "rank": rank,
        "lines": [
            {"time": x.time, "text": x.text, "job": x.job, "marker": x.marker} for x in page.lines
        ],
        "cursor": page.cursor,
        "eof": page.eof,
        "done": page.done,
        "state": page.state,
    }


class LogsHandler(StreamHandler):
    """``GET /hai/chains/{ref}/logs?rank=&cursor=[&follow=1]``.

    Without ``follow``: one page of lines from ``cursor`` (JSON). With it: server-sent
    ``lines`` events (``id:`` is the cursor after them) until the chain has finished and
    every line was sent, then one ``done`` event. The cursor continues across the chain's
    jobs, so following survives a suspend and resume.
    """

    @web.authenticated
    @authorized
    @hai_errors
    async def get(self, ref: str) -> None:
        rank = self.int_arg("rank", 0)
        cursor = self.get_argument("cursor", "") or self.request.headers.get("Last-Event-ID", "")
        follow = self.get_argument("follow", "") in ("1", "true", "yes")
        if not follow:
            page = await self.lab.call(HaiClient.logs, ref, rank=rank, cursor=cursor)
            self.send_json(_page_json(page, rank))
            return
        chain = await self.lab.call(HaiClient.get, ref)  # pin a name to one chain
        first = await self.lab.call(HaiClient.logs, chain.id, rank=rank, cursor=cursor)
        self.start_stream()
        try:
            await self._follow(chain.id, rank, first)
        finally:
            self.end_stream()

    async def _follow(self, chain_id: int, rank: int, page: LogPage) -> None:
        ok = await self.emit(sse("hello", {"chain_id": chain_id, "rank": rank}))
        quiet = 0.0
        poll = self.lab.config.log_poll_seconds
        while ok:
            if page.lines:
                ok = await self.emit(sse("lines", _page_json(page, rank), page.cursor))
                quiet = 0.0
            if not ok:
                return
            if page.done:
                final = await self.lab.call(HaiClient.get, chain_id)
                data = {"state": final.state, "stop_code": final.stop_code}
                await self.emit(sse("done", data, page.cursor))
                return
            if page.eof:
                await self.pause(poll)
                quiet += poll
                if quiet >= KEEPALIVE_SECONDS:
                    ok = await self.emit(b": keepalive\n\n")
                    quiet = 0.0
            if self.closed:
                return
            try:
                page = await self.lab.call(HaiClient.logs, chain_id, rank=rank, cursor=page.cursor)
            except HaiError as exc:
                ok = await self.emit(sse("error", {"error": str(exc)}))
                await self.pause(poll * 3)
                page = LogPage([], page.cursor, True, False, page.state)


class LeaseHandler(HaiHandler):
    """``GET /hai/lease``: this dev server's allocation and lease (null without one)."""

    @web.authenticated
    @authorized
    @hai_errors
    async def get(self) -> None:
        lease = await self.lab.lease()
        self.send_json({"lease": lease, "hub": self.lab.lease_path() is not None})


class RenewHandler(HaiHandler):
    """``POST /hai/lease/renew``: lease = now + the profile's lease length (capped)."""

    @web.authenticated
    @authorized
    @hai_errors
    async def post(self) -> None:
        lease = await self.lab.renew()
        self.lab.watcher.lease = None  # the next poll broadcasts the renewed lease
        self.lab.watcher.poke()
        self.send_json({"lease": lease, "hub": True})


class NodesHandler(HaiHandler):
    """``GET /hai/nodes``: node groups, free and used nodes and GPUs."""

    @web.authenticated
    @authorized
    @hai_errors
    async def get(self) -> None:
        groups = await self.lab.call(HaiClient.nodes)
        self.send_json({"groups": [g.raw for g in groups]})


class QuotaHandler(HaiHandler):
    """``GET /hai/quota``: who I am to the scheduler, my quotas and what I use now."""

    @web.authenticated
    @authorized
    @hai_errors
    async def get(self) -> None:
        me = await self.lab.call(HaiClient.whoami)
        self.send_json(me.raw)


class UsageHandler(HaiHandler):
    """``GET /hai/usage``: my GPU-hours per day over the last 7 UTC days against the
    cluster's (``GET /usage?by=day&since=7d``, zeros filled in), for the sidebar's chart."""

    @web.authenticated
    @authorized
    @hai_errors
    async def get(self) -> None:
        me = await self.lab.me()  # an admin's usage without user= would be everyone's
        usage = await self.lab.call(HaiClient.usage, by="day", since="7d", user=me)
        self.send_json(daily(usage, user=me).as_json())


_REF = r"(?P<ref>[^/]+)"

ROUTES: list[tuple[str, type[HaiHandler]]] = [
    (r"/hai/status", StatusHandler),
    (r"/hai/events", EventsHandler),
    (r"/hai/chains", ChainsHandler),
    (rf"/hai/chains/{_REF}", ChainHandler),
    (rf"/hai/chains/{_REF}/stop", StopHandler),
    (rf"/hai/chains/{_REF}/resubmit", ResubmitHandler),
    (rf"/hai/chains/{_REF}/logs", LogsHandler),
    (r"/hai/lease", LeaseHandler),
    (r"/hai/lease/renew", RenewHandler),
    (r"/hai/nodes", NodesHandler),
    (r"/hai/quota", QuotaHandler),
    (r"/hai/usage", UsageHandler),
]


def setup_handlers(web_app: web.Application) -> None:
    """Add the routes under the server's base URL."""
    base = web_app.settings.get("base_url", "/")
    web_app.add_handlers(
        ".*$", [(url_path_join(base, pattern) + "$", handler) for pattern, handler in ROUTES]
    )
