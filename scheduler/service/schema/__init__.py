"""The API's shapes, once: pydantic models of what the scheduler's HTTP API takes and answers.

This package owns them: a module per resource, and here the lists the document shows.
The handlers parse request bodies through the request models and
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
The task spec is the exception: its rules (line-numbered YAML errors) and each field's
JSON Schema are written once, in :mod:`scheduler.model.spec`'s tables, and
:class:`TaskSpec` (its sections :class:`SpecBody`, :class:`SpecResource`,
:class:`SpecOptions`) and :class:`Overrides` are generated from them
(:mod:`~scheduler.service.schema.submit`); tests/test_spec_schema.py fails when a field's
schema and its check disagree.
"""

from __future__ import annotations

from scheduler.service.schema.accounts import (
    ACCOUNT_NAME_PATTERN,
    ACCOUNT_NAME_RULE,
    QUOTA_LIMIT_MAX,
    AccountName,
    IsoTime,
    NewToken,
    NewUser,
    Quota,
    QuotaLimit,
    Quotas,
    Token,
    Tokens,
    User,
    UserChange,
    Users,
)
from scheduler.service.schema.base import (
    Error,
    Flag,
    PriorityIn,
    PriorityName,
    Request,
    Response,
    Timestamp,
    iso,
    rule,
)
from scheduler.service.schema.chains import (
    Chain,
    ChainPage,
    Describe,
    GpuSample,
    GpuSampleAt,
    Job,
    LogLine,
    LogPage,
    Rank,
    RankDetail,
    RankGpu,
)
from scheduler.service.schema.cluster import (
    GroupUse,
    Info,
    NodeGroup,
    NodeGroups,
    NodeInfo,
    NodeStateChange,
    Overview,
    Whoami,
)
from scheduler.service.schema.devservers import (
    Allocation,
    DevServer,
    DevServers,
    IsoText,
)
from scheduler.service.schema.submit import (
    Overrides,
    PriorityChange,
    SpecBody,
    SpecOptions,
    SpecResource,
    Submission,
    TaskSpec,
)
from scheduler.service.schema.usage import (
    Hours,
    Usage,
    UsageDay,
    UsageRow,
    UsageTotals,
)

__all__ = [
    "ACCOUNT_NAME_PATTERN",
    "ACCOUNT_NAME_RULE",
    "QUOTA_LIMIT_MAX",
    "REQUESTS",
    "RESPONSES",
    "AccountName",
    "Allocation",
    "Chain",
    "ChainPage",
    "Describe",
    "DevServer",
    "DevServers",
    "Error",
    "Flag",
    "GpuSample",
    "GpuSampleAt",
    "GroupUse",
    "Hours",
    "Info",
    "IsoText",
    "IsoTime",
    "Job",
    "LogLine",
    "LogPage",
    "NewToken",
    "NewUser",
    "NodeGroup",
    "NodeGroups",
    "NodeInfo",
    "NodeStateChange",
    "Overrides",
    "Overview",
    "PriorityChange",
    "PriorityIn",
    "PriorityName",
    "Quota",
    "QuotaLimit",
    "Quotas",
    "Rank",
    "RankDetail",
    "RankGpu",
    "Request",
    "Response",
    "SpecBody",
    "SpecOptions",
    "SpecResource",
    "Submission",
    "TaskSpec",
    "Timestamp",
    "Token",
    "Tokens",
    "Usage",
    "UsageDay",
    "UsageRow",
    "UsageTotals",
    "User",
    "UserChange",
    "Users",
    "Whoami",
    "iso",
    "rule",
]

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
    Allocation,
)
