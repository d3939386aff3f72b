"""The API's shapes, once: pydantic models of what the scheduler's HTTP API takes and answers.

This module owns them. The handlers parse request bodies through the request models and
serialise their answers (chains, pages, logs, nodes, who you are, dev servers, users,
tokens, quotas, usage, errors) through the response models; ``GET /openapi.json``
(:mod:`scheduler.service.handlers.openapi`) is generated from them; the checked-in
``openapi.json`` is dumped from that document (``make api-types``), and the client types
follow from it: ``hai_client/api_types.py`` (``scripts/gen_api_types.py``) and the lab's
``src/api.gen.d.ts`` (``npm run build:types``). tests/test_api_schema.py fails when a copy
drifts.

Response models list every field the server sends as required (a default is what the
Python client assumes when a field is missing or null; pydantic copies mutable defaults);
``sometimes_absent`` names the fields the server leaves out in some answers (a chain's
``jobs`` in lists, a rank's ``gpu``, a log line's ``marker``). Request fields with a rule
of their own (:func:`rule`) refuse a value in the words the API has always used.
The task spec's own rules (line-numbered YAML errors) stay in :mod:`scheduler.model.spec`;
:class:`TaskSpec` and :class:`Overrides` describe its shape for the document, and a test
keeps their fields equal to the spec checker's.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
)

from scheduler.model.accounts import TOKEN_DAYS_MAX, TOKEN_NOTE_MAX
from scheduler.model.enums import ChainState, Priority, RankState

PriorityName = Literal[tuple(p.name for p in Priority)]  # type: ignore[valid-type]


def iso(value: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` and milliseconds (None stays None)."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


#: a moment as the API writes it (``2026-12-01T10:00:00.000Z``), or null
Timestamp = Annotated[
    dt.datetime | None,
    PlainSerializer(iso, return_type=str | None),
    WithJsonSchema({"type": ["string", "null"], "format": "date-time"}),
]


def _required_unless_absent(schema: dict[str, Any], cls: type) -> None:
    absent = getattr(cls, "sometimes_absent", ())
    if absent and "required" in schema:
        schema["required"] = [n for n in schema["required"] if n not in absent]


class Response(BaseModel):
    """An answer's shape: every field required in the document unless ``sometimes_absent``."""

    model_config = ConfigDict(
        extra="forbid",  # a misspelt field is an error where the answer is built
        json_schema_serialization_defaults_required=True,
        json_schema_extra=_required_unless_absent,
    )
    sometimes_absent: ClassVar[tuple[str, ...]] = ()

    def dump(self) -> dict[str, Any]:
        """The JSON object the API sends (fields never set are left out)."""
        return self.model_dump(mode="json", exclude_unset=True)


class Request(BaseModel):
    """A request body's shape: unknown fields are refused; ``missing_messages`` says what
    a 400 for a missing field says (default "required")."""

    model_config = ConfigDict(extra="forbid")
    missing_messages: ClassVar[dict[str, str]] = {}


# --------------------------------------------------------------------------- errors


class Error(Response):
    """Every 4xx/5xx answer; ``field`` names the offending field (a dotted path)."""

    error: str
    field: str | None = None
    line: int | None = None  # a task spec's YAML line
    errors: list[dict[str, Any]] = []  # every problem of a spec
    sometimes_absent = ("line", "errors")


# --------------------------------------------------------------------------- chains


class GpuSample(Response):
    """One GPU in one sample of a rank's utilisation (:mod:`scheduler.service.rank_gpu`)."""

    utilization: float | None = Field(default=None, ge=0, le=1)
    memory_used_bytes: int | None = None
    memory_total_bytes: int | None = None
    error: str | None = None
    sometimes_absent = ("utilization", "memory_used_bytes", "memory_total_bytes", "error")


class GpuSampleAt(Response):
    time: str
    gpus: dict[str, GpuSample]


class RankGpu(Response):
    """GPU utilisation sampled by the rank's supervisor (NVML); ``available`` false with
    the reason where there is no data. On a chain's ranks: the newest sample (``time``,
    ``gpus``); on a rank's details: every sample kept (``interval_seconds``, ``samples``)."""

    available: bool
    reason: str = ""
    interval_seconds: float | None = None
    time: str | None = None
    gpus: dict[str, GpuSample] | None = None
    samples: list[GpuSampleAt] = []
    sometimes_absent = ("interval_seconds", "time", "gpus", "samples")


class Rank(Response):
    rank: int
    state: RankState
    node: str | None = None
    exit_code: int | None = None
    reason: str = ""
    started_at: Timestamp = None
    ended_at: Timestamp = None
    gpu: RankGpu | None = None  # the newest sample, on active ranks of the current job
    sometimes_absent = ("gpu",)


class Job(Response):
    seq: int
    stop_code: str | None = None
    reason: str = ""
    created_at: Timestamp = None
    ended_at: Timestamp = None
    ranks: list[Rank] = []


class Chain(Response):
    """A chain (one submitted task); ``jobs`` (each with its ranks) on a single chain."""

    id: int
    name: str
    owner: str = ""
    state: ChainState
    priority: PriorityName = "NORMAL"
    node_count: int = 1
    gpus_per_node: int | None = None
    group: str = ""
    suspend_count: int = 0
    whole_life_state: int = 0
    reason: str = ""
    stop_code: str | None = None
    stop_requested: bool = False
    held: bool = False
    tags: list[str] = []
    created_at: Timestamp = None
    updated_at: Timestamp = None
    started_at: Timestamp = None
    finished_at: Timestamp = None
    jobs: list[Job] = []
    sometimes_absent = ("jobs",)


class ChainPage(Response):
    chains: list[Chain]
    page: int
    page_size: int
    total: int
    pages: int


class Describe(Response):
    id: int
    owner: str
    yaml: str
    spec: TaskSpec


class RankDetail(Response):
    """Where a rank of the newest job runs, its working directory and environment."""

    chain_id: int
    owner: str
    job_seq: int | None
    rank: int
    state: RankState | None
    node: str | None
    handle: dict[str, Any]
    workspace: str
    haienv: str | None
    environment: dict[str, str]
    chain_state: ChainState
    gpu: RankGpu


# --------------------------------------------------------------------------- logs


class LogLine(Response):
    time: str
    text: str
    job: int = 0
    marker: bool = False  # a "--- job N (resumed) ---" line the server inserted
    sometimes_absent = ("marker",)


class LogPage(Response):
    chain_id: int = 0
    rank: int = 0
    state: ChainState
    lines: list[LogLine]
    cursor: str = Field(description="Pass back to continue")
    eof: bool
    done: bool = Field(description="Chain finished and all lines read")


# --------------------------------------------------------------------------- nodes, who


class NodeInfo(Response):
    name: str
    gpus: int
    state: str
    used_by: list[dict[str, Any]] = []


class GroupUse(Response):
    """A node group's totals (``GET /overview``)."""

    name: str
    nodes: int
    gpus: int
    used_nodes: int
    free_nodes: int
    used_gpus: int
    free_gpus: int


class NodeGroup(GroupUse):
    """A node group's totals and its nodes, with who runs where (``GET /nodes``)."""

    node_list: list[NodeInfo] = []


class NodeGroups(Response):
    groups: list[NodeGroup]


class Overview(Response):
    """Chains per state (yours; admins: all) and GPUs in use per group."""

    scope: Literal["own", "all"]
    chains_by_state: dict[str, int]
    groups: list[GroupUse]


class Info(Response):
    """``GET /``: which service this is (no token needed)."""

    service: str
    api: str
    version: str


class Whoami(Response):
    name: str
    admin: bool
    role: Literal["user", "admin"]
    group: str | None = None
    quotas: dict[str, int | None] = Field(
        default={}, description="resource -> node limit (null = unlimited)"
    )
    usage: dict[str, Any] = {}


# --------------------------------------------------------------------------- dev servers

#: a moment as the dev-server answers write it (Python's ``isoformat``), or null
IsoText = Annotated[str | None, WithJsonSchema({"type": ["string", "null"], "format": "date-time"})]


class DevServer(Response):
    """A dev server's allocation and lease (:mod:`scheduler.service.devservers`)."""

    user: str
    server: str
    profile: str
    node: str
    gpu_ids: list[str | int]  # GPU indices or MIG/GPU UUIDs
    state: Literal["active", "expired", "reclaiming"]
    created_at: IsoText
    lease_expires_at: IsoText
    lease_max_at: IsoText
    lease_seconds_left: float | None
    reclaim_requested_at: IsoText
    reclaim_deadline: IsoText
    reclaim_reason: str


class DevServers(Response):
    devservers: list[DevServer]


# --------------------------------------------------------------------------- accounts

#: a moment as the account answers write it (Python's ``isoformat``)
IsoTime = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


class User(Response):
    name: str
    admin: bool
    disabled: bool
    group: str | None
    system_user: str | None
    created_at: IsoTime


class Users(Response):
    users: list[User]


class Token(Response):
    """An API token; ``token`` (the secret) only in the answer that issued it."""

    id: int
    user: str
    note: str
    created_at: IsoTime
    expires_at: IsoText
    expired: bool
    token: str = ""
    sometimes_absent = ("token",)


class Tokens(Response):
    tokens: list[Token]


class Quota(Response):
    """One quota row: at most ``limit`` nodes of ``resource`` for a user or a group."""

    kind: Literal["user", "group"]
    subject: str
    resource: str
    limit: int


class Quotas(Response):
    quotas: list[Quota]
    defaults: dict[str, Any] = Field(description="resource -> the configured default limit")


# --------------------------------------------------------------------------- usage

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


# --------------------------------------------------------------------------- requests


def rule(ok: Callable[[Any], bool], message: str) -> BeforeValidator:
    """A request field's own check, in the words the API has always used: a value that
    fails ``ok`` is a 400 saying ``message`` (``{field}``: the field's name)."""

    def check(value: Any, info: ValidationInfo) -> Any:
        if not ok(value):
            raise ValueError(message.format(field=info.field_name))
        return value

    return BeforeValidator(check)


def _whole(lo: int, hi: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


#: 1-32 letters, digits, '.', '_' or '-' (a group or a system account), or null to clear
ACCOUNT_NAME_RULE = "1-32 letters, digits, '.', '_' or '-', starting with a letter, digit or '_'"
ACCOUNT_NAME_PATTERN = "^[A-Za-z0-9_][A-Za-z0-9._-]{0,31}$"
QUOTA_LIMIT_MAX = 1_000_000

Flag = Annotated[bool, rule(lambda v: isinstance(v, bool), "{field} must be true or false")]
AccountName = Annotated[
    str | None,
    rule(
        lambda v: v is None or (isinstance(v, str) and re.fullmatch(ACCOUNT_NAME_PATTERN, v)),
        f"{{field}} must be a name: {ACCOUNT_NAME_RULE} (or null)",
    ),
    WithJsonSchema({"type": ["string", "null"], "pattern": ACCOUNT_NAME_PATTERN}),
]


class NewUser(Request):
    """``POST /users/{user}`` (admins); an empty body makes a plain user."""

    admin: Flag = False
    group: AccountName = None


class UserChange(Request):
    """``PATCH /users/{user}`` (admins): only the fields sent change."""

    disabled: Flag = None  # type: ignore[assignment]  (absent: unchanged; null: refused)
    admin: Flag = None  # type: ignore[assignment]
    group: AccountName = None
    system_user: AccountName = None


class NewToken(Request):
    """``POST /tokens``: a note, a lifetime (null: never expires), and (admins) whose."""

    note: Annotated[
        str,
        rule(
            lambda v: isinstance(v, str) and len(v) <= TOKEN_NOTE_MAX and "\x00" not in v,
            f"note must be text of at most {TOKEN_NOTE_MAX}",
        ),
        Field(max_length=TOKEN_NOTE_MAX),
    ] = ""
    expires_in_days: Annotated[
        int | None,
        rule(
            lambda v: v is None or _whole(1, TOKEN_DAYS_MAX)(v),
            f"expires_in_days must be 1-{TOKEN_DAYS_MAX}",
        ),
        WithJsonSchema({"type": ["integer", "null"], "minimum": 1, "maximum": TOKEN_DAYS_MAX}),
    ] = None
    # checked by the handler after who may issue for whom (a non-admin's is a 403 first)
    user: Annotated[Any, WithJsonSchema({"type": "string"})] = None


class QuotaLimit(Request):
    """``PUT /quotas/{kind}/{subject}/{resource}`` (admins)."""

    limit: Annotated[
        int,
        Field(ge=0, le=QUOTA_LIMIT_MAX),
        rule(_whole(0, QUOTA_LIMIT_MAX), f"limit must be a whole number 0-{QUOTA_LIMIT_MAX}"),
    ]
    missing_messages = {"limit": f"limit must be a whole number 0-{QUOTA_LIMIT_MAX}"}


class NodeStateChange(Request):
    """``PATCH /nodes/{node}`` (admins): drain a node, or make it ready again."""

    state: Annotated[
        Literal["draining", "ready"],
        rule(lambda v: v in ("draining", "ready"), "state must be draining or ready"),
    ]
    missing_messages = {"state": "state must be draining or ready"}


#: a priority as a request gives it: a name (the server also takes any case and the
#: numbers 0-6, but documents the names: JSON Schema's integers include ``1.0``, which
#: :meth:`Priority.parse` refuses)
PriorityIn = Annotated[
    Priority,
    BeforeValidator(Priority.parse),
    WithJsonSchema({"type": "string", "enum": [p.name for p in Priority]}),
]


class PriorityChange(Request):
    """``PATCH /chains/{ref}``: the new priority."""

    priority: PriorityIn
    missing_messages = {"priority": "nothing to change: send {'priority': ...}"}


class SpecBody(Request):
    entrypoint: str
    parameters: str | list[Any] | None = None
    workspace: str | None = None
    environments: dict[str, Any] | None = None
    haienv: str | None = None


class SpecResource(Request):
    group: str | None = None
    node_count: int | None = Field(default=None, ge=1)
    gpus_per_node: int | None = Field(default=None, ge=0)


class SpecOptions(Request):
    whole_life_state: int | None = Field(default=None, ge=0, le=2**31 - 1)
    timeout: int | None = Field(default=None, ge=1, le=2**31 - 1)
    tags: list[str] | None = None


class TaskSpec(Request):
    """The task spec, version 2 (docs/api.md); unknown fields are refused. Checked by
    :mod:`scheduler.model.spec` (messages name the field and the YAML line)."""

    version: Literal[2] = 2
    name: str = Field(min_length=1, max_length=128)
    priority: PriorityName | Annotated[int, Field(ge=0, le=6)] | None = None
    spec: SpecBody
    resource: SpecResource | None = None
    options: SpecOptions | None = None


class Overrides(Request):
    """Fields a submitter may set on top of a spec (``hai-cli run x.yaml -n 2``)."""

    name: str | None = None
    priority: PriorityName | Annotated[int, Field(ge=0, le=6)] | None = None
    group: str | None = None
    node_count: int | None = Field(default=None, ge=1)
    gpus_per_node: int | None = Field(default=None, ge=0)
    haienv: str | None = None
    workspace: str | None = None


class Submission(Request):
    """``POST /chains``: a task spec (an object, or YAML text) and its overrides. The
    envelope is parsed here; the spec and the overrides by :mod:`scheduler.model.spec`."""

    task: Annotated[
        Any,
        WithJsonSchema(
            {
                "oneOf": [
                    {"$ref": "#/components/schemas/TaskSpec"},
                    {"type": "string", "description": "YAML text"},
                ]
            }
        ),
    ]
    overrides: Annotated[
        dict[str, Any] | None,
        WithJsonSchema({"allOf": [{"$ref": "#/components/schemas/Overrides"}]}),
    ] = None


Describe.model_rebuild()

#: what the document shows, by mode: answers as they are serialised, bodies as parsed
RESPONSES: tuple[type[Response], ...] = (
    Error,
    RankGpu,
    Rank,
    Job,
    Chain,
    ChainPage,
    Describe,
    RankDetail,
    LogPage,
    NodeGroups,
    Overview,
    Info,
    Whoami,
    DevServer,
    DevServers,
    User,
    Users,
    Token,
    Tokens,
    Quota,
    Quotas,
    Usage,
)
REQUESTS: tuple[type[Request], ...] = (
    PriorityChange,
    TaskSpec,
    Overrides,
    Submission,
    NewUser,
    UserChange,
    NewToken,
    QuotaLimit,
    NodeStateChange,
)
