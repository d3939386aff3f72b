"""One schema for the API: the models of scheduler/service/schema/ are the only place a
chain's (or a rank's, a page's, ...) shape is written.

``openapi.json`` (checked in) is the document the service serves, the client's types
(``hai_client/api_types.py``) are generated from it, the lab's TypeScript types are
generated from it in the build, and no hand-written copy of the chain's shape remains in
the server, the client or the lab. After changing a model: ``make api-types``.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import re
from pathlib import Path

import pytest

import scheduler.service.web  # noqa: F401  (every handler module adds its paths)
from hai_client import api_types
from scheduler.model.orm import Chain
from scheduler.service import queries, schema
from scheduler.service.handlers.openapi import openapi_document

REPO = Path(__file__).resolve().parents[1]
#: fields only the API's chain has (the database has ``stop_requested_at``; a rank's
#: environment also carries the suspend count): declaring one is copying the chain's shape
CHAIN_ONLY = ("stop_requested", "finished_at")


def _generator():
    path = REPO / "scripts" / "gen_api_types.py"
    module_spec = importlib.util.spec_from_file_location("gen_api_types", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def test_the_checked_in_document_is_the_one_the_models_give() -> None:
    served = json.dumps(openapi_document(), indent=2) + "\n"
    assert (REPO / "openapi.json").read_text() == served, "stale openapi.json: make api-types"


def test_the_client_types_are_generated_from_the_document() -> None:
    gen = _generator()
    document = json.loads((REPO / "openapi.json").read_text())
    text = (REPO / "hai_client" / "api_types.py").read_text()
    assert text == gen.generate(document), "stale hai_client/api_types.py: make api-types"


def test_every_client_type_has_the_models_fields() -> None:
    for schema_name, class_name in _generator().CLASSES.items():
        model = getattr(schema, schema_name)
        fields = list(getattr(api_types, class_name).__slots__)
        assert fields == [*model.model_fields, "raw"], class_name


def test_the_lab_types_are_generated_from_the_document_in_the_build() -> None:
    scripts = json.loads((REPO / "package.json").read_text())["scripts"]
    assert "openapi-typescript openapi.json -o src/api.gen.d.ts" in scripts["build:types"]
    assert scripts["build:lib"].startswith("npm run build:types && ")
    assert "import type { components } from './api.gen';" in (REPO / "src/api.ts").read_text()


def test_no_hand_written_copy_of_the_chain_shape_remains() -> None:
    declared = re.compile(rf"^\s*[\"']?({'|'.join(CHAIN_ONLY)})[\"']?\??\s*:", re.M)
    places = [p for p in (REPO / "src").glob("*.ts") if not p.name.startswith("api.gen")]
    places += [p for p in (REPO / "hai_client").glob("*.py") if p.name != "api_types.py"]
    places += list((REPO / "scheduler" / "service" / "handlers").glob("*.py"))
    copies = [str(p.relative_to(REPO)) for p in places if declared.search(p.read_text())]
    assert not copies, f"the chain's shape is written by hand in {copies}"
    hand_parsers = [
        str(p.relative_to(REPO))
        for p in (REPO / "hai_client").glob("*.py")
        if p.name != "api_types.py" and "def from_json" in p.read_text()
    ]
    assert not hand_parsers, f"JSON parsed by hand instead of api_types in {hand_parsers}"


def test_a_chains_answer_sets_every_field_of_the_model() -> None:
    now = dt.datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=dt.UTC)
    orm = Chain(
        id=1,
        name="x",
        state="running",
        priority=2,
        node_count=2,
        gpus_per_node=None,
        group_name="gpu",
        suspend_count=0,
        whole_life_state=0,
        reason=None,
        stop_code=None,
        held=False,
        options={"tags": ["a"]},
        created_at=now,
        updated_at=now,
    )
    orm.jobs = []
    out = queries.chain_model(orm, "alice", jobs=True)
    assert out.model_fields_set == set(schema.Chain.model_fields)
    assert out.dump()["created_at"] == "2026-12-01T10:00:00.123Z"
    assert "jobs" not in queries.chain_model(orm, "alice").dump()


def test_a_ranks_malformed_gpu_samples_show_as_no_data() -> None:
    """The samples come from a file the rank's account writes: one that does not fit the
    model shows as no data, the answer does not fail."""
    from scheduler.service import rank_gpu

    bad = {"available": True, "reason": "", "time": "t", "gpus": {"0": {"utilization": "x"}}}
    assert rank_gpu.as_model(bad).dump() == rank_gpu.MALFORMED
    good = {"available": True, "reason": "", "time": "t", "gpus": {"0": {"utilization": 0.5}}}
    assert rank_gpu.as_model(good).dump() == good


def test_a_usage_row_has_every_dimension_a_report_groups_on() -> None:
    from scheduler.accounting import params

    dims = [f for f in schema.UsageRow.model_fields if not f.endswith("_hours")]
    assert dims == list(params.BY_DIMENSIONS) == list(schema.UsageRow.sometimes_absent)


def test_every_constraint_reaches_the_document_as_json_schema() -> None:
    """A pydantic constraint it could not translate would leak as its own name (``ge``)."""
    text = (REPO / "openapi.json").read_text()
    leaked = [k for k in ("ge", "le", "gt", "lt") if f'"{k}":' in text]
    assert not leaked, leaked


def test_the_client_types_are_read_only_values() -> None:
    """What a frozen dataclass gave (the generated classes are plain slotted classes, so
    hai-cli does not build dataclasses at start): read-only fields, equality and repr by
    value without ``raw``, a fresh list per instance."""
    one = api_types.Rank.from_json({"rank": 0, "state": "running", "extra": 1})
    two = api_types.Rank(rank=0, state="running")
    assert one == two and hash(one) == hash(two) and one.raw != two.raw
    assert one != api_types.Rank(rank=1, state="running")
    assert repr(two).startswith("Rank(rank=0, state='running', node=None")
    with pytest.raises(AttributeError):
        one.state = "failed"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        one.anything = 1  # type: ignore[attr-defined]
    a, b = api_types.Job(seq=0), api_types.Job(seq=1)
    assert a.ranks == [] and a.ranks is not b.ranks
