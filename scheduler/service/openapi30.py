"""JSON Schema (2020-12, as pydantic writes it) → OpenAPI 3.0 schema objects.

The API's document is OpenAPI 3.0.3: under 3.1 an ``integer`` also admits ``2.0``, which
the handlers have always refused (a whole number is sent as one), so a 3.1 document would
promise more than the service takes. The models and the hand-written path schemas are
written as JSON Schema; :func:`to_openapi_30` rewrites what 3.0 spells otherwise: null as
an alternative (``"type": [T, "null"]``, ``anyOf: [..., {"type": "null"}]``) becomes
``nullable``, ``const`` becomes a one-value ``enum``.
"""

from __future__ import annotations

from typing import Any

_NULL = {"type": "null"}


def to_openapi_30(node: Any) -> Any:
    """A copy of ``node`` (a document or a part of one) in OpenAPI 3.0's dialect."""
    if isinstance(node, list):
        return [to_openapi_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: to_openapi_30(value) for key, value in node.items()}
    if isinstance(out.get("type"), list):
        kinds = [k for k in out["type"] if k != "null"]
        if len(kinds) < len(out.pop("type")):
            out["nullable"] = True
        if len(kinds) == 1:
            out["type"] = kinds[0]
        else:
            out["anyOf"] = [{"type": k} for k in kinds]
    for key in ("anyOf", "oneOf"):
        if key in out and _NULL in out[key]:
            out = _without_null(out, key)
    if "const" in out:
        out["enum"] = [out.pop("const")]
    return out


def _without_null(schema: dict[str, Any], key: str) -> dict[str, Any]:
    """``schema`` with the null alternative of ``schema[key]`` replaced by ``nullable``."""
    options = [o for o in schema[key] if o != _NULL]
    rest = {k: v for k, v in schema.items() if k != key}
    if len(options) > 1:
        return {**rest, key: options, "nullable": True}
    (only,) = options
    if "$ref" in only:  # 3.0 ignores a $ref's siblings: wrap it
        return {**rest, "allOf": [only], "nullable": True}
    return {**rest, **only, "nullable": True}
