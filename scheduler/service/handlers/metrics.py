"""``GET /metrics``: the service's Prometheus metrics (:mod:`scheduler.service.metrics`).

As JupyterHub's ``/hub/metrics``: with ``SchedulerMetrics.authenticate_prometheus`` (the
default) only an admin's token may read it (no token: 401, a user's: 403); set it False to
let Prometheus scrape without a token. The text is made in a reader thread, because the
state series query the database.
"""

from __future__ import annotations

from prometheus_client.exposition import choose_encoder

from scheduler.service.handlers import openapi as oa
from scheduler.service.handlers.base import ApiError, BaseHandler


class MetricsHandler(BaseHandler):
    async def prepare(self) -> None:
        metrics = self.ctx.metrics
        self.auth_required = metrics.authenticate_prometheus
        await super().prepare()
        if self.auth_required and not self.identity.admin:
            raise ApiError(
                403,
                "only admins may read the metrics "
                "(or set SchedulerMetrics.authenticate_prometheus = False)",
            )

    async def get(self) -> None:
        self.query({})
        encoder, content_type = choose_encoder(self.request.headers.get("Accept", ""))
        body = await self.ctx.in_thread(encoder, self.ctx.metrics.registry)
        self.set_header("Content-Type", content_type)
        self.finish(body)


_TEXT = {"schema": {"type": "string"}}

oa.add_paths(
    {
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (admins; no token needed when "
                "SchedulerMetrics.authenticate_prometheus is False)",
                "description": "Every series is listed in docs/usage.md (Metrics for operators).",
                "responses": {
                    "200": {
                        "description": "The Prometheus text format (OpenMetrics when the "
                        "Accept header asks for it)",
                        "content": {
                            "text/plain": _TEXT,
                            "application/openmetrics-text": _TEXT,
                        },
                    },
                    "400": oa._ERRORS["400"],
                    "401": oa._ERRORS["401"],
                    "403": oa._json(oa._ref("Error"), "Not an admin"),
                },
            }
        }
    }
)
