"""The task spec: YAML/JSON parsing, field errors with line numbers, the name rule, and
describe's YAML reading back into the same spec."""

from __future__ import annotations

import pytest

from scheduler.model.enums import Priority
from scheduler.model.orm import Chain
from scheduler.model.spec import (
    FIELDS,
    SpecError,
    TaskSpec,
    apply_overrides,
    check_chain_name,
    load_spec,
    parse_spec,
    spec_from_dict,
)

FULL = """\
version: 2
name: train-resnet
priority: high
spec:
  workspace: /data/work
  entrypoint: train.py
  parameters: --epochs 10 --tag 'a b'
  environments:
    LR: 0.1
    MODE: fast
  haienv: torch
resource:
  group: gpu
  node_count: 2
  gpus_per_node: 4
options:
  whole_life_state: 3
  timeout: 7200
  tags: [resnet, nightly]
"""


def _error(text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_spec(text)
    return info.value


def test_full_spec_parses_into_plain_values() -> None:
    spec = parse_spec(FULL)
    assert spec == TaskSpec(
        name="train-resnet",
        entrypoint="train.py",
        priority=Priority.HIGH,
        parameters=["--epochs", "10", "--tag", "a b"],
        workspace="/data/work",
        environments={"LR": "0.1", "MODE": "fast"},
        haienv="torch",
        group="gpu",
        node_count=2,
        gpus_per_node=4,
        whole_life_state=3,
        timeout=7200,
        tags=["resnet", "nightly"],
    )


def test_minimal_spec_gets_defaults() -> None:
    spec = parse_spec("name: x1\nspec:\n  workspace: /w\n  entrypoint: run.sh\n")
    assert spec.priority is Priority.NORMAL
    assert spec.node_count == 1
    assert spec.group is None and spec.gpus_per_node is None
    assert spec.parameters == [] and spec.environments == {} and spec.tags == []


def test_unknown_field_names_it_suggests_and_quotes_the_line() -> None:
    text = FULL.replace("  entrypoint: train.py", "  entrypont: train.py")
    err = _error(text)
    first = err.errors[0]
    assert first.field == "spec.entrypont"
    assert first.line == 6
    assert str(first).startswith(
        "line 6: spec.entrypont: unknown field (did you mean 'entrypoint'?)"
    )
    assert "6 |   entrypont: train.py" in str(first)
    # the now-missing entrypoint is reported too, at its section's line
    missing = [e for e in err.errors if e.field == "spec.entrypoint"]
    assert missing and missing[0].line == 4 and missing[0].message == "required"


def test_unknown_top_level_field_lists_the_allowed_ones() -> None:
    err = _error("name: a\nspec: {workspace: /w, entrypoint: x}\nzzz: 1\n")
    assert err.field == "zzz" and err.line == 3
    assert "allowed: version, name, priority, spec, resource, options" in str(err)


@pytest.mark.parametrize(
    ("text", "field", "needle"),
    [
        (
            "name: a\nspec: {workspace: /w, entrypoint: x}\nresource: {node_count: 0}\n",
            "resource.node_count",
            "at least 1",
        ),
        (
            "name: a\nspec: {workspace: /w, entrypoint: x}\nresource: {node_count: two}\n",
            "resource.node_count",
            "whole number",
        ),
        (
            "name: a\nspec: {workspace: /w, entrypoint: x}\nresource: {node_count: true}\n",
            "resource.node_count",
            "whole number",
        ),
        (
            "name: a\npriority: URGENT\nspec: {workspace: /w, entrypoint: x}\n",
            "priority",
            "LOW, BELOW_NORMAL",
        ),
        ("name: a\nspec: {workspace: /w, entrypoint: x}\nversion: 1\n", "version", "must be 2"),
        ("name: a\nspec: {entrypoint: 5}\n", "spec.entrypoint", "must be text"),
        (
            "name: a\nspec: {workspace: /w, entrypoint: x, environments: [A]}\n",
            "spec.environments",
            "mapping",
        ),
        (
            "name: a\nspec: {workspace: /w, entrypoint: x, environments: {RANK: 1}}\n",
            "spec.environments",
            "set by the scheduler",
        ),
        (
            "name: a\nspec: {workspace: /w, entrypoint: x, environments: {A: yes}}\n",
            "spec.environments",
            "quote it",
        ),
        (
            'name: a\nspec: {workspace: /w, entrypoint: x, parameters: "\'open"}\n',
            "spec.parameters",
            "cannot be split",
        ),
        (
            "name: a\nspec: {workspace: /w, entrypoint: x}\noptions: {tags: nightly}\n",
            "options.tags",
            "list",
        ),
        (
            "name: a\nspec: {workspace: /w, entrypoint: x}\noptions: {timeout: -5}\n",
            "options.timeout",
            "at least 1",
        ),
        ("name: a\nspec: x\n", "spec", "must be a mapping"),
        ("name: a\n", "spec.entrypoint", "required"),
        ("spec: {workspace: /w, entrypoint: x}\n", "name", "required"),
        ("name:\nspec: {workspace: /w, entrypoint: x}\n", "name", "required"),
    ],
)
def test_bad_values_name_the_field(text: str, field: str, needle: str) -> None:
    err = _error(text)
    assert err.field == field, str(err)
    assert needle in str(err)


def test_name_rule_says_which_part_is_broken() -> None:
    assert check_chain_name("exp_1.lr=0.1+b") == "exp_1.lr=0.1+b"
    with pytest.raises(ValueError, match="130 characters long; the most is 128"):
        check_chain_name("x" * 130)
    with pytest.raises(ValueError, match="must not be empty"):
        check_chain_name("")
    with pytest.raises(ValueError, match="may not contain ' ', '/'"):
        check_chain_name("a b/c")
    with pytest.raises(ValueError, match="start with a letter or digit"):
        check_chain_name("-x")
    with pytest.raises(ValueError, match="all digits"):
        check_chain_name("123")
    err = _error(f"name: {'n' * 129}\nspec: {{entrypoint: x}}\n")
    assert err.field == "name" and err.line == 1 and "129 characters" in str(err)


def test_yaml_syntax_error_quotes_the_line() -> None:
    err = _error("name: a\nspec:\n  entrypoint: [x\n")
    assert err.line is not None and "invalid YAML" in str(err)
    assert err.field == ""


def test_duplicate_field_is_refused() -> None:
    err = _error("name: a\nname: b\nspec: {workspace: /w, entrypoint: x}\n")
    assert err.field == "name" and err.line == 2 and "duplicate" in str(err)


def test_non_mapping_and_empty_documents() -> None:
    assert "must be a mapping" in str(_error("- a\n- b\n"))
    assert "empty" in str(_error(""))
    assert "empty" in str(_error("# only a comment\n"))


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    err = _error("\n".join(lines) + "\n")
    assert "too large" in str(err)


def test_describe_yaml_round_trips() -> None:
    spec = parse_spec(FULL)
    again = parse_spec(spec.to_yaml())
    assert again == spec
    minimal = parse_spec("name: x1\nspec:\n  workspace: /w\n  entrypoint: run.sh\n")
    assert parse_spec(minimal.to_yaml()) == minimal


def test_json_form_goes_through_the_same_checks() -> None:
    spec = parse_spec(FULL)
    assert spec_from_dict(spec.to_dict()) == spec
    assert load_spec(spec.to_dict()) == spec and load_spec(FULL) == spec
    with pytest.raises(SpecError) as info:
        spec_from_dict({"name": "a", "spec": {"entrypont": "x"}})
    assert info.value.field == "spec.entrypont" and info.value.line is None
    assert str(info.value.errors[0]).startswith("spec.entrypont: unknown field")
    with pytest.raises(SpecError, match="must be a mapping"):
        spec_from_dict(["not", "a", "spec"])


def test_overrides_are_checked_and_named() -> None:
    spec = parse_spec(FULL)
    changed = apply_overrides(spec, {"node_count": 1, "priority": "LOW", "name": "other"})
    assert (changed.node_count, changed.priority, changed.name) == (1, Priority.LOW, "other")
    assert apply_overrides(spec, {"group": None}) == spec  # None = not overridden
    with pytest.raises(SpecError) as info:
        apply_overrides(spec, {"node_count": 0})
    assert info.value.field == "overrides.node_count"
    with pytest.raises(SpecError) as info:
        apply_overrides(spec, {"nodes": 2})
    assert info.value.field == "overrides.nodes" and "node_count" in str(info.value)


def test_chain_round_trip_through_columns() -> None:
    spec = parse_spec(FULL)
    chain = Chain(owner_id=1, group_name=spec.group, **spec.chain_fields())
    assert TaskSpec.from_chain(chain) == spec


def test_fields_lists_every_documented_field() -> None:
    assert "spec.entrypoint" in FIELDS and "resource.node_count" in FIELDS
    assert "options.tags" in FIELDS and "name" in FIELDS
