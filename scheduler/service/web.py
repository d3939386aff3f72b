"""The tornado application of the scheduler's HTTP API: routes under ``{base_url}api/v1/``.

:data:`ROUTES` is the one list of endpoints: each entry names the tornado pattern, the
handler and the OpenAPI path it is documented under (a test keeps the two in step).
"""

from __future__ import annotations

from typing import Any

import tornado.web

from scheduler.service.handlers.admin import NodeHandler, QuotaHandler, QuotasHandler
from scheduler.service.handlers.base import NotFoundHandler
from scheduler.service.handlers.chains import (
    ChainActionHandler,
    ChainHandler,
    ChainsHandler,
    DescribeHandler,
    RankHandler,
)
from scheduler.service.handlers.context import ApiContext
from scheduler.service.handlers.devservers import (
    DevServerHandler,
    DevServersHandler,
    RenewHandler,
)
from scheduler.service.handlers.logs import LogsHandler
from scheduler.service.handlers.metrics import MetricsHandler
from scheduler.service.handlers.nodes import NodesHandler, OverviewHandler
from scheduler.service.handlers.openapi import OpenAPIHandler
from scheduler.service.handlers.tokens import TokenHandler, TokensHandler
from scheduler.service.handlers.usage import UsageHandler
from scheduler.service.handlers.users import UserAccountHandler, UserHandler, UsersHandler
from scheduler.service.handlers.whoami import InfoHandler, WhoamiHandler

API_PREFIX = "api/v1"
_REF = r"(?P<ref>[^/]+)"
_USER = r"(?P<user>[^/]+)"
_SERVER = r"(?P<server>(?!renew$)[^/]+)"

#: (pattern under {base_url}api/v1, handler, OpenAPI path)
ROUTES: list[tuple[str, type[tornado.web.RequestHandler], str]] = [
    (r"/?", InfoHandler, "/"),
    (r"/openapi\.json", OpenAPIHandler, "/openapi.json"),
    (r"/whoami", WhoamiHandler, "/whoami"),
    (r"/chains", ChainsHandler, "/chains"),
    (rf"/chains/{_REF}", ChainHandler, "/chains/{ref}"),
    *(
        (rf"/chains/{_REF}/(?P<action>{action})", ChainActionHandler, f"/chains/{{ref}}/{action}")
        for action in ("stop", "suspend", "resume")
    ),
    (rf"/chains/{_REF}/describe", DescribeHandler, "/chains/{ref}/describe"),
    (rf"/chains/{_REF}/logs", LogsHandler, "/chains/{ref}/logs"),
    (rf"/chains/{_REF}/ranks/(?P<rank>[0-9]{{1,6}})", RankHandler, "/chains/{ref}/ranks/{rank}"),
    (r"/tokens", TokensHandler, "/tokens"),
    (r"/tokens/(?P<token_id>[0-9]{1,12})", TokenHandler, "/tokens/{id}"),
    (r"/users", UsersHandler, "/users"),
    (rf"/users/{_USER}", UserHandler, "/users/{user}"),
    (rf"/users/{_USER}/account", UserAccountHandler, "/users/{user}/account"),
    (r"/nodes", NodesHandler, "/nodes"),
    (r"/nodes/(?P<node>[^/]+)", NodeHandler, "/nodes/{node}"),
    (r"/quotas", QuotasHandler, "/quotas"),
    (
        r"/quotas/(?P<kind>[^/]+)/(?P<subject>[^/]+)/(?P<resource>[^/]+)",
        QuotaHandler,
        "/quotas/{kind}/{subject}/{resource}",
    ),
    (r"/overview", OverviewHandler, "/overview"),
    (r"/metrics", MetricsHandler, "/metrics"),
    (r"/usage", UsageHandler, "/usage"),
    (r"/devservers", DevServersHandler, "/devservers"),
    (rf"/devservers/{_USER}", DevServerHandler, "/devservers/{user}"),
    (rf"/devservers/{_USER}/renew", RenewHandler, "/devservers/{user}/renew"),
    (rf"/devservers/{_USER}/{_SERVER}", DevServerHandler, "/devservers/{user}/{server}"),
    (rf"/devservers/{_USER}/{_SERVER}/renew", RenewHandler, "/devservers/{user}/{server}/renew"),
]


def listen(web_app: tornado.web.Application, port: int, address: str, **kwargs: Any) -> Any:
    """Serve ``web_app``. A body over twice what the API accepts is refused from its
    headers (tornado answers 400 and closes) before a byte of it is buffered, so large
    unauthenticated requests cannot fill the service's memory; one just over the limit
    still gets the API's own 413 naming the limit."""
    from scheduler.service.handlers.base import MAX_BODY_BYTES

    return web_app.listen(port, address=address, max_body_size=2 * MAX_BODY_BYTES, **kwargs)


def api_root(base_url: str) -> str:
    """``/prefix/`` → ``/prefix/api/v1``."""
    if not base_url.startswith("/"):
        base_url = "/" + base_url
    if not base_url.endswith("/"):
        base_url += "/"
    return f"{base_url}{API_PREFIX}"


class ApiApplication(tornado.web.Application):
    """Tornado's Application, timing every answered request into the metrics by route."""

    def log_request(self, handler: tornado.web.RequestHandler) -> None:
        super().log_request(handler)
        self.settings["hai_ctx"].metrics.observe_request(
            getattr(handler, "route", ""),
            handler.request.method or "",
            handler.get_status(),
            handler.request.request_time(),
        )


def make_web_app(app: Any, **settings: Any) -> tornado.web.Application:
    """The tornado Application serving the API of ``app`` (a SchedulerApp or a stand-in).

    ``app`` provides ``session_factory``, ``authenticator``, ``backend``, ``loop`` (with
    ``wake()``), ``base_url``, ``default_quota`` and ``log``; ``metrics`` if it has them
    (a stand-in without gets its own).
    """
    ctx = ApiContext(app)
    root = api_root(app.base_url)
    handlers = [
        (root + pattern + "$", handler, {"ctx": ctx, "route": path})
        for pattern, handler, path in ROUTES
    ]
    handlers.append((root + r"/.*", NotFoundHandler, {"ctx": ctx}))
    return ApiApplication(
        handlers,
        default_handler_class=NotFoundHandler,
        default_handler_args={"ctx": ctx},
        hai_ctx=ctx,
        **settings,
    )
