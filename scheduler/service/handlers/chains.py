"""Chain endpoints: submit, list, get, describe, stop, suspend/resume (admin), priority,
and one rank's details (for ``hai-cli ssh`` / ``prof``), with its GPU utilisation.
"""

from __future__ import annotations

from typing import Any

from scheduler.backends.base import RankKey
from scheduler.model.enums import ChainState
from scheduler.model.orm import Chain, utcnow
from scheduler.model.spec import SpecError, TaskSpec, submitted_spec
from scheduler.service import envs, queries, rank_gpu, schema
from scheduler.service.handlers import intents
from scheduler.service.handlers.base import (
    ApiError,
    BaseHandler,
    QueryParam,
    int_param,
    not_found,
    parse_model,
    spec_error,
    text_param,
)
from scheduler.service.rank_env import rank_variables

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
STATES = tuple(s.value for s in ChainState)


def states_param(raw: str) -> tuple[str, ...]:
    """One state or several, separated by commas (LIST_PARAMS's pattern)."""
    states = tuple(raw.split(","))
    for s in states:
        if s not in STATES:
            raise ValueError(f"unknown state {s!r} (states: {', '.join(STATES)})")
    return states


#: ``GET /chains``'s query parameters (and their description in the document)
LIST_PARAMS = {
    "page": int_param(1, 1_000_000, "Page number (from 1)"),
    "page_size": int_param(
        1, queries.PAGE_SIZE_MAX, f"Chains per page (at most {queries.PAGE_SIZE_MAX}; default 20)"
    ),
    "name": text_param(description="Glob (* ?); plain text matches anywhere"),
    "state": QueryParam(
        states_param,
        {"type": "string", "pattern": "^({0})(,({0}))*$".format("|".join(STATES))},
        "A state, or several separated by commas",
    ),
    "group": text_param(description="Node group"),
    "owner": text_param(description="Owner's user name (admins)"),
}


class ChainBase(BaseHandler):
    async def find(self, ref: str, *, jobs: bool = False) -> tuple[Chain, str]:
        found = await self.ctx.read(queries.find_chain, self.identity, ref, jobs)
        if found is None:
            raise not_found(ref)
        return found

    async def apply(self, chain: Chain, values: dict[str, Any]) -> None:
        """Record an intent on an unfinished chain and wake the loop; 409 if it finished."""
        if not await self.ctx.write(intents.update_unfinished, chain.id, values):
            raise ApiError(409, f"chain {chain.id} has finished", "ref")
        self.ctx.wake_loop(chains=[chain.id])

    async def send_chain(self, ref: str, status: int = 200) -> None:
        chain, owner = await self.find(ref, jobs=True)
        out = queries.chain_model(chain, owner, jobs=True)
        await self.ctx.in_thread(rank_gpu.add_latest, self.ctx.app.backend, out)
        self.send(out.dump(), status)


class ChainsHandler(ChainBase):
    """``GET /chains`` (a page, filtered) and ``POST /chains`` (submit a task spec)."""

    async def get(self) -> None:
        args = self.query(LIST_PARAMS)
        states = args.pop("state", ())
        flt = queries.ChainFilter(states=states, **args)
        if flt.group is not None:
            intents.check_group(await self.ctx.catalog(), flt.group, "group")
        chains, total = await self.ctx.read(queries.list_chains, self.identity, flt)
        page = schema.ChainPage(
            chains=chains,
            page=flt.page,
            page_size=flt.page_size,
            total=total,
            pages=queries.page_count(total, flt.page_size),
        )
        self.send(page.dump())

    async def post(self) -> None:
        self.query({})
        task, overrides = self._task_and_overrides()
        try:
            spec = submitted_spec(task, overrides)
        except SpecError as exc:
            raise spec_error(exc) from None
        group_overridden = bool(overrides and overrides.get("group"))
        prefix = "overrides." if group_overridden else "resource."
        catalog = await self.ctx.catalog()
        group = intents.resolve_group(spec, catalog, f"{prefix}group")
        intents.check_fits(spec, catalog, group, "resource.")
        intents.check_quota(
            catalog,
            self.ctx.default_quota,
            self.identity.name,
            group,
            spec.priority,
            spec.node_count,
        )
        if spec.haienv:
            problem = await self.ctx.in_thread(
                envs.check_env, spec.haienv, self.identity.name, self.ctx.app
            )
            if problem:
                raise ApiError(422, f"{problem} (chains run in a ready haienv)", "spec.haienv")
        values = intents.new_chain_values(spec, self.identity.user_id, group, utcnow())
        chain_id = await self.ctx.write_core(intents.insert_chain, values)
        self.ctx.wake_loop(chains=[chain_id])
        chain = Chain(id=chain_id, **values)
        self.set_header("Location", f"{self.ctx.base_url}api/v1/chains/{chain_id}")
        self.send(queries.chain_model(chain, self.identity.name).dump(), 201)

    def _task_and_overrides(self) -> tuple[Any, dict[str, Any] | None]:
        ctype = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype in YAML_TYPES:
            try:
                return self.body_bytes().decode("utf-8"), None
            except UnicodeDecodeError:
                raise ApiError(400, "the YAML body is not UTF-8", "body") from None
        data = self.body_json()
        if isinstance(data, dict) and "task" in data:  # the envelope; else a bare spec
            sub = parse_model(schema.Submission, data)
            return sub.task, sub.overrides
        return data, None


class ChainHandler(ChainBase):
    """``GET /chains/{ref}`` (with jobs and ranks), ``PATCH`` to change the priority."""

    async def get(self, ref: str) -> None:
        self.query({})
        await self.send_chain(ref)

    async def patch(self, ref: str) -> None:
        self.query({})
        priority = self.body_model(schema.PriorityChange).priority
        chain, _owner = await self.find(ref)
        if chain.state == ChainState.FINISHED.value:
            raise ApiError(409, f"chain {chain.id} has finished", "ref")
        if not self.identity.admin:
            catalog = await self.ctx.catalog()
            intents.check_quota(
                catalog,
                self.ctx.default_quota,
                self.identity.name,
                chain.group_name,
                priority,
                chain.node_count,
            )
        await self.apply(chain, intents.priority_values(priority))
        await self.send_chain(str(chain.id))


class ChainActionHandler(ChainBase):
    """``POST /chains/{ref}/stop``, ``/suspend`` and ``/resume`` (the last two: admins)."""

    ADMIN_ONLY = ("suspend", "resume")

    async def post(self, ref: str, action: str) -> None:
        self.query({})
        self.body_object((), required=False)
        chain, _owner = await self.find(ref)
        if action in self.ADMIN_ONLY and not self.identity.admin:
            raise ApiError(403, f"only an admin may {action} chains", "action")
        if chain.state == ChainState.FINISHED.value:
            raise ApiError(409, f"chain {chain.id} has finished", "ref")
        values = {
            "stop": intents.stop_values,
            "suspend": intents.suspend_values,
            "resume": intents.resume_values,
        }[action]()
        await self.apply(chain, values)
        await self.send_chain(str(chain.id))


class DescribeHandler(ChainBase):
    """``GET /chains/{ref}/describe``: the spec as YAML that can be submitted again."""

    async def get(self, ref: str) -> None:
        self.query({})
        chain, owner = await self.find(ref)
        spec = TaskSpec.from_chain(chain)
        out = schema.Describe(id=chain.id, owner=owner, yaml=spec.to_yaml(), spec=spec.to_dict())
        self.send(out.dump())


class RankHandler(ChainBase):
    """``GET /chains/{ref}/ranks/{rank}``: where a rank of the newest job runs and how."""

    async def get(self, ref: str, rank: str) -> None:
        self.query({})
        chain, owner = await self.find(ref, jobs=True)
        r = int(rank)
        if r >= chain.node_count:
            raise ApiError(422, f"chain {chain.id} has ranks 0-{chain.node_count - 1}", "rank")
        job = chain.current_job
        row = job.ranks[r] if job is not None and r < len(job.ranks) else None
        env = rank_variables(chain, job, r, row)
        usage = rank_gpu.NOT_STARTED
        if row is not None:
            key = RankKey(chain.id, job.seq, r)
            usage = await self.ctx.in_thread(self.ctx.app.backend.gpu_usage, key)
        detail = schema.RankDetail(
            chain_id=chain.id,
            owner=owner,
            job_seq=job.seq if job else None,
            rank=r,
            state=row.state if row else None,
            node=row.node if row else None,
            handle=dict(row.handle or {}) if row else {},
            workspace=chain.workspace,
            haienv=chain.haienv,
            environment=env,
            chain_state=chain.state,
            gpu=rank_gpu.as_model(rank_gpu.full_view(usage)),
        )
        self.send(detail.dump())
