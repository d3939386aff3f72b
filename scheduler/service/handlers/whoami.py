"""``GET /whoami``: the caller's name, role, group, quotas, what they use now and their
GPU-hours today / 7 days / 30 days, and
``GET /`` (service name and version, no authentication)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from scheduler.accounting.report import recent
from scheduler.service import queries, schema
from scheduler.service.handlers.base import BaseHandler
from scheduler.service.handlers.usage import fold_margin, service_now


def service_version() -> str:
    try:
        return version("hai-hub")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


class WhoamiHandler(BaseHandler):
    async def get(self) -> None:
        self.query({})
        catalog = await self.ctx.catalog()
        used = await self.ctx.read(queries.usage, self.identity)
        used["gpu_hours"] = await self.ctx.read(
            recent, self.identity.name, service_now(self.ctx.app), fold_margin(self.ctx.app)
        )
        me = schema.Whoami(
            name=self.identity.name,
            admin=self.identity.admin,
            role="admin" if self.identity.admin else "user",
            group=catalog.user_groups.get(self.identity.name),
            quotas=queries.effective_quotas(catalog, self.ctx.default_quota, self.identity.name),
            usage=used,
        )
        self.send(me.dump())


class InfoHandler(BaseHandler):
    auth_required = False

    def get(self) -> None:
        self.send(schema.Info(service="hai-scheduler", api="v1", version=service_version()).dump())
