"""``GET /hub/api/hai/usage/{user}``: a user's GPU-hours per day over the last 7 days
against the cluster's, for the hub's home page: ``{"series": {...}, "svg": "<svg …>"}``.

The SVG is drawn here (:func:`hai_client.usage_chart.svg`, no script needed to draw it);
the home page's script only puts it in place. The scheduler is asked with the hub's own
service token (``GET /usage?user=…&by=day&since=7d``), as the lease card's endpoint does,
for the logged-in user's own usage only (admins: anyone's).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from jupyterhub.apihandlers.base import APIHandler
from tornado import web

from hai_client.config import hub_scheduler_token, hub_scheduler_url
from hai_client.usage_chart import daily, svg


async def scheduler_usage(user: str, timeout: float = 20.0) -> dict[str, Any]:
    """``GET /usage?by=day&since=7d`` for ``user`` with the hub's scheduler token."""
    base = hub_scheduler_url().rstrip("/")
    headers = {"Authorization": f"token {hub_scheduler_token()}"}
    params = {"user": user, "by": "day", "since": "7d"}
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            resp = await client.get(f"{base}/api/v1/usage", params=params, headers=headers)
    except httpx.HTTPError as exc:
        raise web.HTTPError(502, f"the HAI scheduler is unreachable: {exc}") from None
    if resp.status_code != 200:
        raise web.HTTPError(502, f"the HAI scheduler answered {resp.status_code}: {resp.text}")
    return resp.json()


class UsageChartHandler(APIHandler):
    """The chart of one user's last 7 days (the user themself, or an admin)."""

    async def get(self, user: str) -> None:
        me = self.current_user
        if me is None:
            raise web.HTTPError(403, "log in first")
        if getattr(me, "name", None) != user and not getattr(me, "admin", False):
            raise web.HTTPError(404, f"no usage of {user} for you")
        series = daily(await scheduler_usage(user), user=user)
        who = "My" if me.name == user else f"{user}'s"
        self.write(json.dumps({"series": series.as_json(), "svg": svg(series, who)}))
