"""The base of the API's models: answers (:class:`Response`) and request bodies
(:class:`Request`), how moments are written, errors, and a request field's own rule."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
)

from scheduler.model.enums import Priority

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


#: a moment as the dev-server answers write it (Python's ``isoformat``), or null
IsoText = Annotated[str | None, WithJsonSchema({"type": ["string", "null"], "format": "date-time"})]

#: a moment as the account answers write it (Python's ``isoformat``)
IsoTime = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


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
    """A request body's shape: unknown fields are refused (400); ``missing_messages`` says
    what the answer for a missing field says (default "required"); a missing or bad field
    is answered with ``invalid_status``."""

    model_config = ConfigDict(extra="forbid")
    missing_messages: ClassVar[dict[str, str]] = {}
    invalid_status: ClassVar[int] = 400


class Error(Response):
    """Every 4xx/5xx answer; ``field`` names the offending field (a dotted path)."""

    error: str
    field: str | None = None
    line: int | None = None  # a task spec's YAML line
    errors: list[dict[str, Any]] = []  # every problem of a spec
    sometimes_absent = ("line", "errors")


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


Flag = Annotated[bool, rule(lambda v: isinstance(v, bool), "{field} must be true or false")]


#: a priority as a request gives it: a name (the server also takes any case and the
#: numbers 0-6, but documents the names: JSON Schema's integers include ``1.0``, which
#: :meth:`Priority.parse` refuses)
PriorityIn = Annotated[
    Priority,
    BeforeValidator(Priority.parse),
    WithJsonSchema({"type": "string", "enum": [p.name for p in Priority]}),
]
