"""``GET /nodes`` (per group: nodes, GPUs, free/used, who runs where) and ``GET /overview``
(chains per state and GPUs in use per group, for ``hai-cli monitor``).
"""

from __future__ import annotations

from scheduler.service import queries, schema
from scheduler.service.handlers.base import BaseHandler


class NodesHandler(BaseHandler):
    async def get(self) -> None:
        self.query({})
        groups = await self.ctx.read(queries.node_overview, self.identity)
        self.send(schema.NodeGroups(groups=groups).dump())


class OverviewHandler(BaseHandler):
    async def get(self) -> None:
        self.query({})
        groups = await self.ctx.read(queries.node_overview, self.identity)
        states = await self.ctx.read(queries.chains_by_state, self.identity)
        out = schema.Overview(
            scope="all" if self.identity.admin else "own",
            chains_by_state=states,
            groups=[{k: v for k, v in g.items() if k != "node_list"} for g in groups],
        )
        self.send(out.dump())
