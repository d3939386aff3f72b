"""Write ``hai_client/api_types.py``: the client's typed results, from ``openapi.json``.

The scheduler's models (scheduler/service/schema/) are the one description of the API;
``openapi.json`` is dumped from them (``make api-types``), and this script turns the
schemas :data:`CLASSES` names into read-only slotted classes (fields in ``__slots__``, an
``__init__``, a ``from_json``; value behaviour from ``hai_client.api_mixins.Record``), so
that ``hai-cli`` reads answers typed without importing pydantic or building dataclasses.
A field with a default in the document is optional for the client (the default stands in
when it is missing or null); one without is required. Every class keeps the JSON it came
from in ``raw``.

    python scripts/gen_api_types.py [--check] [openapi.json] [hai_client/api_types.py]

tests/test_api_schema.py runs it with ``--check`` and fails when the file drifts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "openapi.json"
TARGET = ROOT / "hai_client" / "api_types.py"

#: schema name -> class name in hai_client (the order they are written in)
CLASSES = {
    "Rank": "Rank",
    "Job": "Job",
    "Chain": "Chain",
    "ChainPage": "ChainPage",
    "LogLine": "LogLine",
    "LogPage": "LogPage",
    "Whoami": "Whoami",
    "NodeInfo": "NodeInfo",
    "NodeGroup": "NodeGroup",
}
#: behaviour written by hand (hai_client/api_mixins.py), mixed into a generated class
MIXINS = {"Chain": "ChainMixin"}

HEADER = '''"""The scheduler API's answers as the Python client reads them (generated: do not edit).

Written by scripts/gen_api_types.py from openapi.json, which is dumped from the models in
scheduler/service/schema/ (``make api-types``); tests/test_api_schema.py fails when this
file and the document disagree. Standard library only: hai-cli never imports pydantic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from hai_client.api_mixins import {mixins}

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

_set = object.__setattr__  # the fields are read-only once set (Record.__setattr__)


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _get(d: Mapping[str, Any], key: str, default: Any) -> Any:
    value = d.get(key)
    return default if value is None else value


def _maybe(read: Any, value: Any) -> Any:
    return None if value is None else read(value)
'''

SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}


def _ref_name(prop: dict[str, Any]) -> str | None:
    ref = prop.get("$ref") or ""
    return ref.rsplit("/", 1)[-1] if ref else None


def _unwrap(prop: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """(the schema without its null alternative, whether null is allowed); the document is
    OpenAPI 3.0 (``nullable``, a lone ``allOf`` around a ``$ref``)."""
    if prop.get("nullable") or len(prop.get("allOf", ())) == 1:
        inner = {k: v for k, v in prop.items() if k not in ("nullable", "allOf")}
        inner.update(prop.get("allOf", [{}])[0])
        return _unwrap(inner)[0], bool(prop.get("nullable"))
    if "anyOf" in prop:
        options = [p for p in prop["anyOf"] if p.get("type") != "null"]
        if len(options) == 1 and len(options) < len(prop["anyOf"]):
            return {**prop, **options[0], "anyOf": None}, True
        return {"type": "object"}, True  # several shapes: the client keeps the JSON
    kind = prop.get("type")
    if isinstance(kind, list):
        rest = [k for k in kind if k != "null"]
        return {**prop, "type": rest[0] if len(rest) == 1 else "object"}, "null" in kind
    return prop, False


def _type_and_convert(prop: dict[str, Any]) -> tuple[str, str]:
    """The annotation and the expression that reads one property (``{}``: its JSON)."""
    inner, nullable = _unwrap(prop)
    ref = _ref_name(inner)
    kind = inner.get("type")
    if ref in CLASSES:
        ann, conv = CLASSES[ref], CLASSES[ref] + ".from_json({})"
    elif ref is not None and ref.endswith("State"):  # an enum of states: a string
        ann, conv = "str", "{}"
    elif ref is not None or kind == "object" or kind is None:  # kept as JSON
        ann, conv = "dict[str, Any]", "dict({})"
    elif kind == "string" and inner.get("format") == "date-time":
        return "dt.datetime | None", "_time({})"
    elif kind == "array":
        item_type, item_conv = _type_and_convert(inner.get("items", {}))
        conv = "list({})" if item_conv == "{}" else f"[{item_conv.format('x')} for x in {{}}]"
        ann = f"list[{item_type}]"
    else:
        ann, conv = SCALARS[kind], "{}"
    if nullable and conv != "{}":
        assert conv.endswith("({})"), f"no nullable {conv} in the client yet"
        return f"{ann} | None", f"_maybe({conv[: -len('({})')]}, {{}})"
    if nullable:
        return f"{ann} | None", conv
    return ann, conv


def _fields(schema: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """``__init__``'s parameters, its body, and ``from_json``'s keyword arguments."""
    props = schema["properties"]
    required = schema.get("required", [])
    optional = {k: "default" in p or k not in required for k, p in props.items()}
    last_required = max((i for i, k in enumerate(props) if not optional[k]), default=-1)
    params, sets, args = [], [], []
    for i, (key, prop) in enumerate(props.items()):
        ann, conv = _type_and_convert(prop)
        default = prop.get("default", [] if ann.startswith("list[") else None)
        value = f'_get(d, "{key}", {default!r})' if optional[key] else f'd["{key}"]'
        args.append(f"{key}={conv.format(value)},")
        if i <= last_required:
            params.append(f"{key}: {ann},")
            sets.append(f'_set(self, "{key}", {key})')
        elif isinstance(default, list | dict):  # a fresh one each time, as default_factory
            params.append(f"{key}: {ann} | None = None,")
            fresh = f"{type(default).__name__}()"
            sets.append(f'_set(self, "{key}", {fresh} if {key} is None else {key})')
        else:
            params.append(f"{key}: {ann} = {default!r},")
            sets.append(f'_set(self, "{key}", {key})')
    return params, sets, args


def _class(schema_name: str, schema: dict[str, Any]) -> str:
    name = CLASSES[schema_name]
    params, sets, args = _fields(schema)
    bases = ", ".join([*([MIXINS[schema_name]] if schema_name in MIXINS else []), "Record"])
    doc = (schema.get("description") or f"``{schema_name}`` in the API.").splitlines()[0]
    # the API's field order, raw last (Record compares and shows all but the last)
    slots = ", ".join(f'"{k}"' for k in [*schema["properties"], "raw"])
    return f'''

class {name}({bases}):
    """{doc}"""

    __slots__ = ({slots},)

    def __init__(
        self,
        {chr(10).join("        " + p for p in params).lstrip()}
        raw: dict[str, Any] | None = None,
    ) -> None:
        {chr(10).join("        " + line for line in sets).lstrip()}
        _set(self, "raw", {{}} if raw is None else raw)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> {name}:
        return cls(
            {chr(10).join("            " + a for a in args).lstrip()}
            raw=dict(d),
        )
'''


def generate(document: dict[str, Any]) -> str:
    """The text of ``hai_client/api_types.py`` for ``document``, formatted by ruff."""
    schemas = document["components"]["schemas"]
    mixins = ", ".join(sorted([*MIXINS.values(), "Record"]))
    code = HEADER.replace("{mixins}", mixins)
    code += "".join(_class(name, schemas[name]) for name in CLASSES)
    names = ", ".join(f'"{n}"' for n in sorted(CLASSES.values()))
    code += f"\n__all__ = [{names}]\n"
    return _ruff_format(code)


def _ruff_format(code: str) -> str:
    run = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(TARGET), "-"],
        input=code,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return run.stdout


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"]
    document = Path(paths[0]) if paths else DOCUMENT
    target = Path(paths[1]) if len(paths) > 1 else TARGET
    code = generate(json.loads(document.read_text()))
    if check:
        if not target.exists() or target.read_text() != code:
            print(f"{target} is not what {document} gives: run `make api-types`")
            return 1
        return 0
    target.write_text(code)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
