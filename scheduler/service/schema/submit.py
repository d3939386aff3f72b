"""Submitting and reprioritising: ``POST /chains`` and ``PATCH /chains/{ref}``.

The task spec's models (``TaskSpec`` with its sections ``SpecBody``, ``SpecResource`` and
``SpecOptions``, and ``Overrides``) are generated from the tables of
:mod:`scheduler.model.spec`, which owns the spec's rules: each field's schema is its
:class:`~scheduler.model.spec.Check`'s. They describe the spec for the document (and shape
``GET /chains/{ref}/describe``'s ``spec``); the spec itself is parsed by the checker, which
names the field and the YAML line.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import WithJsonSchema, create_model

from scheduler.model import spec as rules
from scheduler.service.schema.base import PriorityIn, Request

#: section of the spec -> (model name, what the section says)
SECTION_MODELS = {
    "spec": ("SpecBody", "What to run: the entrypoint, its arguments, where and with what."),
    "resource": ("SpecResource", "Where and on how much: the group, nodes, GPUs per node."),
    "options": ("SpecOptions", "How the chain lives: its whole-life state, timeout, tags."),
}


class PriorityChange(Request):
    """``PATCH /chains/{ref}``: the new priority."""

    priority: PriorityIn
    missing_messages = {"priority": "nothing to change: send {'priority': ...}"}


def _documented(rule: rules.Check) -> Any:
    """Any value (the checker parses it), documented as ``rule`` accepts it."""
    return Annotated[Any, WithJsonSchema(rule.schema)]


def _default(attr: str, rule: rules.Check) -> Any:
    """The JSON value that means what leaving the field out means (null if the check
    refuses that value, as it does a workspace's '')."""
    value = rules.left_out(attr)
    try:
        rule(value)
    except ValueError:
        return None
    return value


def _spec_fields(table: dict[str, Any]) -> dict[str, Any]:
    return {
        key: (_documented(rule), ... if required else _default(attr, rule))
        for key, (attr, rule, required) in table.items()
    }


def _model(name: str, doc: str, fields: dict[str, Any]) -> type[Request]:
    return create_model(name, __base__=Request, __doc__=doc, __module__=__name__, **fields)


def _sections() -> dict[str, type[Request]]:
    return {
        section: _model(*SECTION_MODELS[section], _spec_fields(table))
        for section, table in rules.SECTIONS.items()
    }


def _task_spec(sections: dict[str, type[Request]]) -> type[Request]:
    """The spec's top-level fields, then its sections: a section is required if one of its
    fields is (as the checker has it), else it may be left out or null."""
    fields = _spec_fields(rules.TOP_FIELDS)
    for section, model in sections.items():
        required = any(req for _, _, req in rules.SECTIONS[section].values())
        fields[section] = (model, ...) if required else (model | None, None)
    doc = (
        f"The task spec, version {rules.SPEC_VERSION} (docs/api.md); unknown fields are "
        "refused. Generated from the rules of scheduler.model.spec (messages name the "
        "field and the YAML line)."
    )
    return _model("TaskSpec", doc, fields)


def _overrides() -> type[Request]:
    fields = {
        key: (_documented(rules.optional(rule)), None)
        for key, (_, rule, _) in rules.OVERRIDES.items()
    }
    doc = (
        "Fields a submitter may set on top of a spec (``hai-cli run x.yaml -n 2``); a "
        "null field is not set."
    )
    return _model("Overrides", doc, fields)


SECTIONS = _sections()
SpecBody, SpecResource, SpecOptions = (SECTIONS[section] for section in SECTION_MODELS)
TaskSpec = _task_spec(SECTIONS)
Overrides = _overrides()


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
