"""The task spec (``version: 2``): parsing YAML or JSON into a validated :class:`TaskSpec`.

This module owns the one set of rules a submitted task must satisfy (field names, types,
limits, the chain name rule) and the way a spec is written back as YAML (``describe``), so
that ``hai-cli describe x > x.yaml && hai-cli run x.yaml`` resubmits the same task.

The rules are tables (:data:`TOP_FIELDS`, :data:`SECTIONS`, :data:`OVERRIDES`: field ->
attribute, :class:`Check`, required). A :class:`Check` pairs a field's check function with
the JSON Schema of the values it accepts; the OpenAPI document's ``TaskSpec`` and
``Overrides`` are generated from these tables (:mod:`scheduler.service.schema.submit`), so
the spec is written down once.

YAML is parsed with :func:`yaml.compose` so every field keeps its line number: an error
says ``line 7: spec.entrypont: unknown field (did you mean 'entrypoint'?)`` and quotes
the line. JSON (a dict) goes through the same checks, without line numbers.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

from scheduler.model.enums import Priority
from scheduler.model.orm import NAME_MAX

if TYPE_CHECKING:
    from scheduler.model.orm import Chain

SPEC_VERSION = 2
NAME_RULE = (
    f"1-{NAME_MAX} characters: letters, digits, '.', '_', '-', '+' and '=', "
    "starting with a letter or digit, not all digits"
)
MAX_NODES = 4096
MAX_GPUS = 1024  # per node
INT32_MAX = 2**31 - 1  # integer columns are 32-bit on PostgreSQL
PATH_MAX = 4096  # entrypoint, workspace
MAX_PARAMETERS = 1024
PARAMETER_MAX = 4096
MAX_ENV = 256
ENV_VALUE_MAX = 32768
MAX_SPEC_NODES = 20_000  # YAML nodes visited; guards against alias bombs
MAX_TAGS = 32
TAG_MAX = 64
_NAME_CHARS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Variables the scheduler sets for every rank; a spec may not override them.
RESERVED_ENV = frozenset({"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"})
RESERVED_ENV_PREFIX = "HAI_"


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field; ``line`` is 1-based (None for JSON input)."""

    field: str
    message: str
    line: int | None = None
    source: str | None = None  # the quoted YAML line

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        head = f"{where}{self.field}: {self.message}" if self.field else f"{where}{self.message}"
        if self.source is not None:
            head += f"\n    {self.line} | {self.source}"
        return head


class SpecError(ValueError):
    """A spec that cannot be accepted; ``errors`` lists every problem found."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))

    @property
    def field(self) -> str:
        return self.errors[0].field

    @property
    def line(self) -> int | None:
        return self.errors[0].line


# --------------------------------------------------------------------------- the spec


@dataclass(slots=True)
class TaskSpec:
    """A validated task: what to run, where, how many nodes, and with which options."""

    name: str
    entrypoint: str
    priority: Priority = Priority.NORMAL
    parameters: list[str] = field(default_factory=list)
    workspace: str = ""
    environments: dict[str, str] = field(default_factory=dict)
    haienv: str | None = None
    group: str | None = None  # None: the service picks the default group
    node_count: int = 1
    gpus_per_node: int | None = None  # None: every GPU of the node
    whole_life_state: int = 0
    timeout: int | None = None  # seconds a job may run
    tags: list[str] = field(default_factory=list)
    version: int = SPEC_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The spec as the nested mapping it is written in (optional empties left out)."""
        spec: dict[str, Any] = {"entrypoint": self.entrypoint}
        if self.parameters:
            spec["parameters"] = list(self.parameters)
        if self.workspace:
            spec["workspace"] = self.workspace
        if self.environments:
            spec["environments"] = dict(self.environments)
        if self.haienv:
            spec["haienv"] = self.haienv
        resource: dict[str, Any] = {}
        if self.group is not None:
            resource["group"] = self.group
        resource["node_count"] = self.node_count
        if self.gpus_per_node is not None:
            resource["gpus_per_node"] = self.gpus_per_node
        options: dict[str, Any] = {"whole_life_state": self.whole_life_state}
        if self.timeout is not None:
            options["timeout"] = self.timeout
        if self.tags:
            options["tags"] = list(self.tags)
        return {
            "version": self.version,
            "name": self.name,
            "priority": self.priority.name,
            "spec": spec,
            "resource": resource,
            "options": options,
        }

    def to_yaml(self) -> str:
        """YAML that :func:`parse_spec` reads back into an equal spec."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def chain_options(self) -> dict[str, Any]:
        """What goes into ``Chain.options`` (the fields without a column of their own)."""
        opts: dict[str, Any] = {"version": self.version}
        if self.timeout is not None:
            opts["timeout"] = self.timeout
        if self.tags:
            opts["tags"] = list(self.tags)
        return opts

    def chain_fields(self) -> dict[str, Any]:
        """Keyword arguments for a new :class:`~scheduler.model.orm.Chain` (minus owner/group).

        The caller resolves ``group_name`` (``self.group`` may be None) and sets the owner.
        """
        return {
            "name": self.name,
            "node_count": self.node_count,
            "gpus_per_node": self.gpus_per_node,
            "priority": int(self.priority),
            "entrypoint": self.entrypoint,
            "parameters": list(self.parameters),
            "workspace": self.workspace,
            "environment": dict(self.environments),
            "haienv": self.haienv,
            "options": self.chain_options(),
            "whole_life_state": self.whole_life_state,
        }

    @classmethod
    def from_chain(cls, chain: Chain) -> TaskSpec:
        """The spec a chain was submitted with (its priority as it is now)."""
        opts = dict(chain.options or {})
        return cls(
            name=chain.name,
            entrypoint=chain.entrypoint,
            priority=Priority(chain.priority),
            parameters=[str(p) for p in chain.parameters or []],
            workspace=chain.workspace or "",
            environments={str(k): str(v) for k, v in (chain.environment or {}).items()},
            haienv=chain.haienv,
            group=chain.group_name,
            node_count=chain.node_count,
            gpus_per_node=chain.gpus_per_node,
            whole_life_state=chain.whole_life_state,
            timeout=opts.get("timeout"),
            tags=list(opts.get("tags") or []),
            version=int(opts.get("version", SPEC_VERSION)),
        )


# --------------------------------------------------------------------------- name rule


def check_chain_name(name: Any) -> str:
    """Return ``name`` if it is a valid chain name; ValueError saying which rule it breaks."""
    if not isinstance(name, str):
        raise ValueError(f"must be a string, not {_type_name(name)}")
    if not name:
        raise ValueError(f"must not be empty ({NAME_RULE})")
    if len(name) > NAME_MAX:
        raise ValueError(f"is {len(name)} characters long; the most is {NAME_MAX}")
    if not _NAME_CHARS.fullmatch(name):
        bad = sorted({c for c in name if not re.match(r"[A-Za-z0-9._+=-]", c)})
        if bad:
            shown = ", ".join(repr(c) for c in bad)
            raise ValueError(f"may not contain {shown} ({NAME_RULE})")
        raise ValueError(f"must start with a letter or digit ({NAME_RULE})")
    if name.isdigit():
        raise ValueError("must not be all digits (it would read as a chain id)")
    return name


# --------------------------------------------------------------------------- parsing

_Lines = dict[str, int]


def parse_spec(text: str) -> TaskSpec:
    """Parse YAML text into a :class:`TaskSpec`; SpecError names the field and the line."""
    if not isinstance(text, str):
        raise SpecError([FieldError("", "the spec must be YAML text or a mapping")])
    source = text.splitlines()
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "cannot be parsed"
        raise SpecError(
            [FieldError("", f"invalid YAML: {problem}", line, _quote(source, line))]
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError([FieldError("", f"invalid YAML: {exc}")]) from None
    except RecursionError:
        raise SpecError([FieldError("", "invalid YAML: nested too deeply")]) from None
    if root is None:
        raise SpecError([FieldError("", "the spec is empty")])
    lines: _Lines = {}
    data = _Composer(lines, source).value(root, "")
    return _validate(data, lines, source)


def spec_from_dict(data: Any) -> TaskSpec:
    """Validate a JSON-like mapping (the API's JSON form) into a :class:`TaskSpec`."""
    return _validate(data, {}, [])


def load_spec(value: str | Mapping[str, Any]) -> TaskSpec:
    """YAML text or a mapping, whichever was given."""
    if isinstance(value, str):
        return parse_spec(value)
    return spec_from_dict(value)


class _Composer:
    """Turns composed YAML nodes into plain values, recording each field path's line."""

    def __init__(self, lines: _Lines, source: list[str]) -> None:
        self.lines = lines
        self.source = source
        self.constructor = SafeConstructor()
        self.visited = 0

    def value(self, node: yaml.Node, path: str) -> Any:
        self.visited += 1
        if self.visited > MAX_SPEC_NODES:
            raise SpecError([FieldError(path, "the spec is too large")])
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self._scalar(key_node, path)
                sub = _join(path, str(key))
                line = key_node.start_mark.line + 1
                if key in out:
                    raise SpecError(
                        [FieldError(sub, "duplicate field", line, _quote(self.source, line))]
                    )
                self.lines[sub] = line
                out[key] = self.value(value_node, sub)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.value(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _scalar(self, node: yaml.Node, path: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            line = node.start_mark.line + 1
            raise SpecError(
                [FieldError(path, "a field name must be text", line, _quote(self.source, line))]
            )
        try:
            return self.constructor.construct_object(node, deep=True)
        except Exception as exc:
            # a tag the value does not fit (!!int abc raises ValueError, !!timestamp abc
            # AttributeError), a number of thousands of digits: a 422, never a 500
            problem = exc.problem if isinstance(exc, ConstructorError) else str(exc)
            line = node.start_mark.line + 1
            raise SpecError(
                [FieldError(path, f"cannot read value: {problem}", line, _quote(self.source, line))]
            ) from None


def _quote(source: list[str], line: int | None) -> str | None:
    if line is None or not 1 <= line <= len(source):
        return None
    return source[line - 1].rstrip()


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "text"}.get(
        type(value), "a list" if isinstance(value, list) else "a mapping"
    )


# --------------------------------------------------------------------------- field checks

#: JSON Schema's pattern for "no NUL character"
NO_NUL = "^[^\\x00]*$"
_NOT_BLANK = "^\\s*[^\\s\\x00][^\\x00]*$"  # a character that is not space (str.strip)
_NAME_PATTERN = (  # _NAME_CHARS, not all digits
    "^(?:[A-Za-z][A-Za-z0-9._+=-]*|[0-9]+[A-Za-z._+=-][A-Za-z0-9._+=-]*)$"
)


@dataclass(frozen=True, slots=True)
class Check:
    """A field's rule, once: ``check`` takes a value and returns it normalised (a
    ValueError's message is what the user reads), and ``schema`` is the JSON Schema of the
    values it accepts (the OpenAPI document's, :mod:`scheduler.service.schema.submit`),
    whose ``description`` says what JSON Schema cannot (a shell split, a variable's name).
    tests/test_spec_schema.py fails when the two disagree."""

    check: Callable[[Any], Any]
    schema: dict[str, Any]

    def __call__(self, value: Any) -> Any:
        return self.check(value)


def _text_schema(max_len: int, pattern: str = NO_NUL, **more: Any) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_len, "pattern": pattern, **more}


def _string(value: Any, max_len: int = PATH_MAX) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be text, not {_type_name(value)}")
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if len(value) > max_len:
        raise ValueError(f"is {len(value)} characters long; the most is {max_len}")
    return value


def _workspace(value: Any) -> str:
    value = _string(value)
    if not value.startswith("/"):
        raise ValueError(
            f"must be an absolute path (the folder the rank starts in), not {value!r}; "
            "hai-cli sends the folder you submit from"
        )
    return value


def _nonempty_string(value: Any) -> str:
    value = _string(value)
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _short_name(value: Any) -> str:
    value = _nonempty_string(value)
    if len(value) > NAME_MAX:
        raise ValueError(f"is {len(value)} characters long; the most is {NAME_MAX}")
    return value


def _int(lo: int, hi: int) -> Check:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be a whole number, not {_type_name(value)}")
        if value < lo:
            raise ValueError(f"must be at least {lo}, not {value}")
        if value > hi:
            raise ValueError(f"must be at most {hi}, not {value}")
        return value

    return Check(check, {"type": "integer", "minimum": lo, "maximum": hi})


def optional(rule: Check) -> Check:
    """``rule``, or null (which it passes on as None)."""

    def wrapped(value: Any) -> Any:
        return None if value is None else rule(value)

    return Check(wrapped, {"anyOf": [rule.schema, {"type": "null"}]})


def _parameters(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = shlex.split(_string(value, PARAMETER_MAX * 16))
        except ValueError as exc:
            raise ValueError(f"cannot be split into arguments: {exc}") from None
    if not isinstance(value, list):
        raise ValueError(f"must be text or a list, not {_type_name(value)}")
    if len(value) > MAX_PARAMETERS:
        raise ValueError(f"has {len(value)} items; the most is {MAX_PARAMETERS}")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise ValueError(f"item {i} must be text or a number, not {_type_name(item)}")
        try:
            out.append(_string(str(item), PARAMETER_MAX))
        except ValueError as exc:
            raise ValueError(f"item {i} {exc}") from None
    return out


def _environments(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"must be a mapping of NAME: value, not {_type_name(value)}")
    if len(value) > MAX_ENV:
        raise ValueError(f"has {len(value)} variables; the most is {MAX_ENV}")
    out = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _ENV_NAME.fullmatch(key):
            raise ValueError(f"{key!r} is not a valid variable name")
        if key in RESERVED_ENV or key.startswith(RESERVED_ENV_PREFIX):
            raise ValueError(f"{key} is set by the scheduler and cannot be overridden")
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise ValueError(f"{key} must be text or a number (quote it), not {_type_name(item)}")
        try:
            out[key] = _string(str(item), ENV_VALUE_MAX)
        except ValueError as exc:
            raise ValueError(f"{key} {exc}") from None
    return out


def _tags(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"must be a list of text, not {_type_name(value)}")
    if len(value) > MAX_TAGS:
        raise ValueError(f"has {len(value)} tags; the most is {MAX_TAGS}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item or len(item) > TAG_MAX or "\x00" in item:
            raise ValueError(f"item {i} must be text of 1-{TAG_MAX} characters")
        out.append(item)
    return out


def _version(value: Any) -> int:
    if value != SPEC_VERSION or isinstance(value, bool):
        raise ValueError(f"must be {SPEC_VERSION}, not {value!r}")
    return SPEC_VERSION


_VERSION = Check(_version, {"type": "integer", "const": SPEC_VERSION})
_NAME = Check(
    check_chain_name,
    _text_schema(NAME_MAX, _NAME_PATTERN, minLength=1, description=NAME_RULE),
)
_PRIORITY = Check(
    Priority.parse,
    {
        "anyOf": [
            {"type": "string", "enum": [p.name for p in Priority]},
            {"type": "integer", "minimum": int(min(Priority)), "maximum": int(max(Priority))},
        ],
        "description": "a name (the server also takes any case, '-' for '_') or its number",
    },
)
_ENTRYPOINT = Check(_nonempty_string, _text_schema(PATH_MAX, _NOT_BLANK))
_WORKSPACE = Check(_workspace, _text_schema(PATH_MAX, "^/[^\\x00]*$"))
_SHORT_NAME = Check(_short_name, _text_schema(NAME_MAX, _NOT_BLANK))
_PARAMETERS = Check(
    _parameters,
    {
        "anyOf": [
            _text_schema(PARAMETER_MAX * 16, description="split like a shell command line"),
            {
                "type": "array",
                "maxItems": MAX_PARAMETERS,
                "items": {"anyOf": [_text_schema(PARAMETER_MAX), {"type": "number"}]},
            },
            {"type": "null"},
        ],
        "description": f"at most {MAX_PARAMETERS} arguments of {PARAMETER_MAX} characters",
    },
)
_ENVIRONMENTS = Check(
    _environments,
    {
        "type": ["object", "null"],
        "maxProperties": MAX_ENV,
        "additionalProperties": {"anyOf": [_text_schema(ENV_VALUE_MAX), {"type": "number"}]},
        "description": f"names match {_ENV_NAME.pattern}; not {', '.join(sorted(RESERVED_ENV))}"
        f" nor {RESERVED_ENV_PREFIX}*",
    },
)
_TAGS = Check(
    _tags,
    {
        "type": ["array", "null"],
        "maxItems": MAX_TAGS,
        "items": _text_schema(TAG_MAX, minLength=1),
    },
)


#: field -> (TaskSpec attribute, check, required): the top level, then each section's
_Field = tuple[str, Check, bool]
TOP_FIELDS: dict[str, _Field] = {
    "version": ("version", _VERSION, False),
    "name": ("name", _NAME, True),
    "priority": ("priority", _PRIORITY, False),
}
SECTIONS: dict[str, dict[str, _Field]] = {
    "spec": {
        "entrypoint": ("entrypoint", _ENTRYPOINT, True),
        "parameters": ("parameters", _PARAMETERS, False),
        "workspace": ("workspace", optional(_WORKSPACE), False),
        "environments": ("environments", _ENVIRONMENTS, False),
        "haienv": ("haienv", optional(_SHORT_NAME), False),
    },
    "resource": {
        "group": ("group", optional(_SHORT_NAME), False),
        "node_count": ("node_count", _int(1, MAX_NODES), False),
        "gpus_per_node": ("gpus_per_node", optional(_int(0, MAX_GPUS)), False),
    },
    "options": {
        "whole_life_state": ("whole_life_state", _int(0, INT32_MAX), False),
        "timeout": ("timeout", optional(_int(1, INT32_MAX)), False),
        "tags": ("tags", _TAGS, False),
    },
}
#: Every field a spec may have, by dotted path (for documentation and the OpenAPI schema).
FIELDS: tuple[str, ...] = (
    *TOP_FIELDS,
    *(f"{sec}.{name}" for sec, fields in SECTIONS.items() for name in fields),
)


def left_out(attr: str) -> Any:
    """What a :class:`TaskSpec` attribute is when its field is left out, as JSON."""
    spec_field = TaskSpec.__dataclass_fields__[attr]
    default = spec_field.default
    if default is dataclasses.MISSING:
        default = spec_field.default_factory()  # type: ignore[misc]
    return default.name if isinstance(default, Priority) else default


class _Validator:
    def __init__(self, lines: _Lines, source: list[str]) -> None:
        self.lines = lines
        self.source = source
        self.errors: list[FieldError] = []
        self.values: dict[str, Any] = {}

    def error(self, path: str, message: str, *, missing: bool = False) -> None:
        """Record a problem; a missing field points at its section's line (none at the top)."""
        line = self._line(path.rpartition(".")[0] if missing else path)
        self.errors.append(FieldError(path, message, line, _quote(self.source, line)))

    def _line(self, path: str) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path.rpartition(".")[0]
        return None

    def fields(self, data: dict[Any, Any], prefix: str, table: dict[str, _Field]) -> None:
        for key, (attr, check, required) in table.items():
            path = _join(prefix, key)
            if key not in data:
                if required:
                    self.error(path, "required", missing=True)
                continue
            if data[key] is None and required:
                self.error(path, "required (it is empty)")
                continue
            try:
                self.values[attr] = check(data[key])
            except ValueError as exc:
                self.error(path, str(exc))

    def unknown(self, data: dict[Any, Any], prefix: str, known: list[str]) -> None:
        for key in data:
            if key in known:
                continue
            path = _join(prefix, str(key))
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(known)}"
            self.error(path, f"unknown field ({hint})")


def _validate(data: Any, lines: _Lines, source: list[str]) -> TaskSpec:
    v = _Validator(lines, source)
    if not isinstance(data, dict):
        v.error("", f"the spec must be a mapping of fields, not {_type_name(data)}")
        raise SpecError(v.errors)
    v.unknown(data, "", [*TOP_FIELDS, *SECTIONS])
    v.fields(data, "", TOP_FIELDS)
    for section, table in SECTIONS.items():
        body = data.get(section)
        if body is None:
            if section == "spec":
                v.error("spec.entrypoint", "required", missing=True)
            continue
        if not isinstance(body, dict):
            v.error(section, f"must be a mapping, not {_type_name(body)}")
            continue
        v.unknown(body, section, list(table))
        v.fields(body, section, table)
    if v.errors:
        raise SpecError(v.errors)
    values = v.values
    values["workspace"] = values.get("workspace") or ""
    return TaskSpec(**values)


# --------------------------------------------------------------------------- overrides

#: Fields a submitter may override on top of a spec file (``hai-cli run x.yaml -n 2``).
#: A null override is no override (:func:`apply_overrides`).
OVERRIDES: dict[str, _Field] = {
    "name": ("name", _NAME, False),
    "priority": ("priority", _PRIORITY, False),
    "group": ("group", _SHORT_NAME, False),
    "node_count": ("node_count", _int(1, MAX_NODES), False),
    "gpus_per_node": ("gpus_per_node", _int(0, MAX_GPUS), False),
    "haienv": ("haienv", _SHORT_NAME, False),
    "workspace": ("workspace", _WORKSPACE, False),
}


def submitted_spec(task: str | Mapping[str, Any], overrides: Mapping[str, Any] | None) -> TaskSpec:
    """What a submission runs: the spec, its overrides, and the fields a chain cannot run
    without (a workspace: the spec's or the submitter's folder, which hai-cli sends)."""
    spec = apply_overrides(load_spec(task), overrides)
    if not spec.workspace:
        raise SpecError(
            [
                FieldError(
                    "spec.workspace",
                    "required: the absolute folder the ranks start in (hai-cli sends the "
                    "folder you submit from)",
                )
            ]
        )
    return spec


def apply_overrides(spec: TaskSpec, overrides: Mapping[str, Any] | None) -> TaskSpec:
    """A copy of ``spec`` with ``overrides`` applied; errors name ``overrides.<field>``."""
    if not overrides:
        return spec
    if not isinstance(overrides, Mapping):
        raise SpecError([FieldError("overrides", "must be a mapping")])
    v = _Validator({}, [])
    v.unknown(dict(overrides), "overrides", list(OVERRIDES))
    v.fields({k: val for k, val in overrides.items() if val is not None}, "overrides", OVERRIDES)
    if v.errors:
        raise SpecError(v.errors)
    return dataclasses.replace(spec, **v.values)
