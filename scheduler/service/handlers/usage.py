"""``GET /usage``: GPU- and node-hours per user, group, node group, priority, day or
profile, over a window, from the accounting rollup (:mod:`scheduler.accounting`).

Admins see everyone's rows; anyone else sees their own rows and the cluster's total.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from scheduler.accounting import params
from scheduler.accounting.fold import DEFAULT_MARGIN
from scheduler.accounting.report import Filters, report
from scheduler.model.orm import NAME_MAX
from scheduler.service import schema
from scheduler.service.handlers.base import ApiError, BaseHandler, QueryParam, text_param

_TIME = {"type": "string", "maxLength": params.TIME_MAX_LEN, "pattern": params.TIME_PATTERN}
#: ``GET /usage``'s query parameters (and their description in the document)
_ACCEPTED = {
    "user": text_param(NAME_MAX, "Only this user (others than you: admins)"),
    "group": text_param(NAME_MAX, "Only this user group"),
    "node_group": text_param(NAME_MAX, "Only this node group"),
    "priority": QueryParam(
        params.priority_shape,
        {"type": "string", "pattern": params.PRIORITY_PATTERN},
        "Only this priority (training)",
    ),
    "kind": QueryParam(
        params.kind_shape,
        {"type": "string", "enum": list(params.KINDS)},
        "Only training chains or only dev servers",
    ),
    "since": QueryParam(
        params.time_shape, _TIME, "Start: date, date-time or Nd/Nh ago (default 30d)"
    ),
    "until": QueryParam(params.time_shape, _TIME, "End (default now); at most 366 days"),
    "by": QueryParam(
        params.by_shape,
        {"type": "string", "maxLength": params.BY_MAX_LEN, "pattern": params.BY_PATTERN},
        "Group rows by these, separated by commas (default user)",
    ),
}


def service_now(app: Any) -> dt.datetime:
    """The service's "now": the loop's clock (injected in tests), else the wall clock."""
    clock = getattr(getattr(app, "loop", None), "clock", None) or time.time
    return dt.datetime.fromtimestamp(clock(), dt.UTC)


def fold_margin(app: Any) -> dt.timedelta:
    accountant = getattr(app, "accountant", None)
    return accountant.margin if accountant is not None else DEFAULT_MARGIN


class UsageHandler(BaseHandler):
    async def get(self) -> None:
        q = self.query(_ACCEPTED)
        me = self.identity
        user = q.get("user")
        if not me.admin:
            if user is not None and user != me.name:
                raise ApiError(403, "you may see only your own usage (and the totals)", "user")
            user = me.name
        now = service_now(self.ctx.app)
        try:
            since, until = params.resolve_window(q.get("since"), q.get("until"), now)
        except params.Unacceptable as exc:
            raise ApiError(422, f"{exc.args[1]}: {exc.args[0]}", exc.args[1]) from None
        filters = Filters(
            since=since,
            until=until,
            user=user,
            group=q.get("group"),
            node_group=q.get("node_group"),
            priority=q.get("priority"),
            kind=q.get("kind"),
        )
        by = q.get("by", ("user",))
        result = await self.ctx.read(_report, filters, by, now, fold_margin(self.ctx.app))
        self.send(schema.Usage(scope="all" if me.admin else "own", **result).dump())


def _report(s: Any, f: Filters, by: tuple[str, ...], now: dt.datetime, margin: Any) -> Any:
    return report(s, f, by, now, margin=margin)


def _doc() -> None:
    """Describe this endpoint in the API's OpenAPI document."""
    from scheduler.service.handlers import openapi as oa

    oa.add_paths(
        {
            "/usage": {
                "get": oa._op(
                    "GPU- and node-hours over a window, grouped (yours and the cluster's "
                    "total; admins: everyone's)",
                    oa._json(oa._ref(schema.Usage)),
                    params=oa.query_params(_ACCEPTED),
                )
            }
        },
    )


_doc()
