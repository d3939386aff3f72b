"""The task spec is written once: the document's ``TaskSpec`` and ``Overrides`` (generated
from the tables of scheduler.model.spec) accept exactly what the checker accepts.

Every field is tried with values at and beyond the limits its documented schema states
(and with arbitrary JSON values): the document says yes exactly when the checker does,
except where this file says why not (:data:`UNSAID`, :data:`LENIENT`). The document is read
as the service serves it: OpenAPI 3.0's integers are whole numbers (``2.0`` is not one), and
a pattern's ``$`` ends the text (ECMA-262), not a line.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, ValidationError, validators

from scheduler.model import spec as rules
from scheduler.service import schema

BASE: dict[str, Any] = {"name": "x", "spec": {"entrypoint": "e"}}
#: refusals the schema cannot state (it accepts these values, the checker does not): the
#: checker's message for them, by field
UNSAID = {
    "spec.parameters": r"^(cannot be split into arguments|has \d+ items|item \d+ is)",
    "spec.environments": r"(is not a valid variable name|is set by the scheduler)",
}
#: values the checker takes beyond what the document promises (it documents one spelling)
LENIENT: dict[str, Callable[[Any], bool]] = {
    "version": lambda v: isinstance(v, float) and v == rules.SPEC_VERSION,
    "priority": lambda v: isinstance(v, str),  # any case, '-' for '_', spaces around
    "overrides.priority": lambda v: isinstance(v, str),
}


# --------------------------------------------------------------------------- the document


def _whole(_checker: Any, value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _pattern(validator: Any, pattern: str, value: Any, _schema: Any) -> Iterator[ValidationError]:
    ecma = pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern
    if isinstance(value, str) and not re.search(ecma, value):
        yield ValidationError(f"{value!r} does not match {pattern!r}")


Document = validators.extend(
    Draft202012Validator,
    validators={"pattern": _pattern},
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _whole),
)
SPEC_DOC = Document(schema.TaskSpec.model_json_schema())
OVERRIDES_DOC = Document(schema.Overrides.model_json_schema())


# --------------------------------------------------------------------------- the checker


def _with(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    *sections, key = path.split(".")
    where = data
    for section in sections:
        where = where.setdefault(section, {})
    where[key] = value
    return data


def _refusal(path: str, value: Any) -> str | None:
    """None if the server takes ``value`` for the field ``path``, else the first message."""
    try:
        if path.startswith("overrides."):
            spec = rules.spec_from_dict(BASE)
            rules.apply_overrides(spec, {path.removeprefix("overrides."): value})
        else:
            rules.spec_from_dict(_with(path, value))
    except rules.SpecError as exc:
        return exc.errors[0].message
    return None


def _documented(path: str, value: Any) -> bool:
    if path.startswith("overrides."):
        return OVERRIDES_DOC.is_valid({path.removeprefix("overrides."): value})
    return SPEC_DOC.is_valid(_with(path, value))


def _agree(path: str, value: Any) -> None:
    refusal, documented = _refusal(path, value), _documented(path, value)
    if documented and refusal is not None:
        unsaid = UNSAID.get(path)
        assert unsaid and re.search(unsaid, refusal), (path, value, refusal)
    if refusal is None and not documented:
        assert path in LENIENT and LENIENT[path](value), (path, value, "documented as refused")


# --------------------------------------------------------------------------- the samples

PATHS = [
    *rules.TOP_FIELDS,
    *rules.SECTIONS,
    *rules.FIELDS[len(rules.TOP_FIELDS) :],
    *(f"overrides.{key}" for key in rules.OVERRIDES),
]
PLAIN = [None, True, False, 0, 1, 2, 2.0, -1, 0.5, "", " ", "x", "/x", [], ["x"], {}, {"a": 1}]


def _field_schema(path: str) -> dict[str, Any]:
    if path.startswith("overrides."):
        return schema.Overrides.model_json_schema()["properties"][path.split(".")[1]]
    document = schema.TaskSpec.model_json_schema()
    if "." not in path:
        return document["properties"][path]
    section, key = path.split(".")
    model = schema.submit.SECTION_MODELS[section][0]
    return document["$defs"][model]["properties"][key]


def _edges(node: dict[str, Any]) -> list[Any]:
    """Values at and just beyond each limit ``node`` (a schema) states."""
    out: list[Any] = []
    for option in node.get("anyOf", []):
        out += _edges(option)
    kinds = node.get("type", [])
    for kind in [kinds] if isinstance(kinds, str) else kinds:
        out += EDGES.get(kind, lambda _: [])(node)
    return out + list(node.get("enum", [])) + [str(v).lower() for v in node.get("enum", [])]


def _integer_edges(node: dict[str, Any]) -> list[Any]:
    lo, hi = node.get("minimum", 0), node.get("maximum", 2**31)
    return [lo - 1, lo, hi, hi + 1, float(lo), lo + 0.5, 2**63]


def _string_edges(node: dict[str, Any]) -> list[Any]:
    most, least = node.get("maxLength", 64), node.get("minLength", 0)
    texts = ["a" * most, "a" * (most + 1), "/" + "a" * (most - 1), "/" + "a" * most]
    texts += ["a" * max(least - 1, 0), "a\x00", "/a\x00", "a\n", "\n", "\t ", "0", "00", "0a"]
    return [*texts, "a b 'c d'", "'", "-a", ".a", "a.b+c=d-e_f", "\u00e9", "\u3000", "a\u3000"]


def _array_edges(node: dict[str, Any]) -> list[Any]:
    items = _edges(node.get("items", {})) or ["x"]
    most = node.get("maxItems", 8)
    return [[item] for item in items] + [["x"] * most, ["x"] * (most + 1), [1] * most]


def _object_edges(node: dict[str, Any]) -> list[Any]:
    values = _edges(node.get("additionalProperties", {})) or ["x"]
    most = node.get("maxProperties", 8)
    names = ["A", "a_1", "_", "1A", "A-B", "RANK", "HAI_X", "hai_x", ""]
    out: list[Any] = [{"A": value} for value in values] + [{name: "x"} for name in names]
    return out + [{f"V{i}": "x" for i in range(n)} for n in (most, most + 1)]


EDGES: dict[str, Callable[[dict[str, Any]], list[Any]]] = {
    "integer": _integer_edges,
    "number": lambda _: [0, -1.5, 1e300, 10**30],
    "string": _string_edges,
    "array": _array_edges,
    "object": _object_edges,
    "null": lambda _: [None],
}
SCALARS = st.none() | st.booleans() | st.integers(-3, 5000) | st.floats(-1e9, 1e9)
JSON = st.recursive(
    SCALARS | st.text(max_size=9),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


@pytest.mark.parametrize("path", PATHS)
def test_the_document_accepts_what_the_checker_accepts_at_the_limits(path: str) -> None:
    node = _field_schema(path) if path not in rules.SECTIONS else {}
    for value in [*PLAIN, *_edges(node)]:
        _agree(path, value)


@pytest.mark.parametrize("path", PATHS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=JSON)
def test_the_document_accepts_what_the_checker_accepts(path: str, value: Any) -> None:
    _agree(path, value)


def test_every_field_is_documented_and_required_where_the_checker_requires_it() -> None:
    document = schema.TaskSpec.model_json_schema()
    assert list(document["properties"]) == [*rules.TOP_FIELDS, *rules.SECTIONS]
    required = [k for k, (_, _, req) in rules.TOP_FIELDS.items() if req]
    for section, table in rules.SECTIONS.items():
        model = document["$defs"][schema.submit.SECTION_MODELS[section][0]]
        assert list(model["properties"]) == list(table), section
        assert model.get("required", []) == [k for k, (_, _, req) in table.items() if req]
        required += [section] if model.get("required") else []
    assert document["required"] == required
    assert list(schema.Overrides.model_fields) == list(rules.OVERRIDES)
    assert not _documented("bogus", 1) and _refusal("bogus", 1)
    assert not _documented("spec.bogus", 1) and _refusal("spec.bogus", 1)
    assert not _documented("overrides.bogus", 1) and _refusal("overrides.bogus", 1)


@pytest.mark.parametrize("path", [p for p in PATHS if not p.startswith("overrides.")])
def test_a_documented_default_means_what_leaving_the_field_out_means(path: str) -> None:
    node = _field_schema(path)
    if "default" not in node:
        return
    assert _documented(path, node["default"])
    left_out = rules.spec_from_dict(BASE)
    assert rules.spec_from_dict(_with(path, node["default"])) == left_out
