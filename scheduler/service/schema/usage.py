"""Usage reports (``GET /usage``): GPU- and node-hours by the requested dimensions."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
)

from scheduler.service.schema.base import IsoTime, Response

Hours = Annotated[float, Field(ge=0)]


class UsageTotals(Response):
    gpu_hours: Hours
    node_hours: Hours


class UsageRow(Response):
    """One group of a usage report: the ``by`` dimensions it groups on, and its hours."""

    user: str | None = None
    group: str | None = None
    node_group: str | None = None
    priority: str | None = None
    day: str | None = None
    profile: str | None = None
    kind: str | None = None
    gpu_hours: Hours
    node_hours: Hours
    sometimes_absent = ("user", "group", "node_group", "priority", "day", "profile", "kind")


class UsageDay(Response):
    day: str = Field(json_schema_extra={"format": "date"})
    gpu_hours: Hours
    node_hours: Hours


class Usage(Response):
    """GPU- and node-hours over a window (:mod:`scheduler.accounting.report`)."""

    scope: Literal["own", "all"]
    since: IsoTime
    until: IsoTime
    by: list[str]
    rows: list[UsageRow]
    total: UsageTotals
    cluster: UsageTotals
    cluster_days: list[UsageDay] = Field(
        default=[], description="The cluster's hours per day (only when by has day)"
    )
    sometimes_absent = ("cluster_days",)
