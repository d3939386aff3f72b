"""The base of every API handler: authentication, JSON in and out, and JSON errors.

Every error leaves as ``{"error": "<message>", "field": "<field or null>"}`` with a 4xx
status; bad input never becomes a 500. Query parameters are checked against what the
endpoint accepts, so a typo in a parameter name is refused, naming it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import ValidationError
from tornado.web import HTTPError, RequestHandler

from scheduler.model.spec import NO_NUL, SpecError
from scheduler.service import schema
from scheduler.service.auth import Identity
from scheduler.service.handlers.context import ApiContext

MAX_BODY_BYTES = 1 << 20


class ApiError(HTTPError):
    """An error answered as JSON: ``status``, a message and the field it concerns."""

    def __init__(self, status: int, message: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(status, "%s", message)
        self.message = message
        self.field = field
        self.extra = extra


def spec_error(exc: SpecError) -> ApiError:
    """A refused spec as a 422 naming the first bad field (and every problem found)."""
    return ApiError(
        422,
        str(exc),
        exc.field,
        line=exc.line,
        errors=[{"field": e.field, "message": e.message, "line": e.line} for e in exc.errors],
    )


M = TypeVar("M", bound=schema.Request)


def parse_model(model: type[M], data: Any) -> M:
    """``data`` (a decoded JSON body) parsed by ``model``; a 400 naming the first bad field
    (an unknown field before a missing one, as the handlers always answered)."""
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object", "body")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        raise body_error(model, errors[0]) from None


def body_error(model: type[schema.Request], err: Any) -> ApiError:
    """One pydantic error as the API's 4xx (an unknown field: 400; otherwise the model's
    ``invalid_status``): the message and the (dotted) field."""
    field = ".".join(str(p) for p in err["loc"]) or "body"
    kind = err["type"]
    status = model.invalid_status
    if kind == "extra_forbidden":
        status = 400
        message = f"unknown field (allowed: {', '.join(model.model_fields)})"
    elif kind == "missing":
        message = model.missing_messages.get(field, "required")
    elif "error" in err.get("ctx", {}):  # a ValueError of a validator: its own words
        message = str(err["ctx"]["error"])
    elif kind in ("dict_type", "model_type"):
        message = "must be a JSON object"
    else:
        message = err["msg"]
    return ApiError(status, message, field)


def not_found(ref: str) -> ApiError:
    return ApiError(404, f"no chain {ref!r} (or it is not yours)", "ref")


@dataclass(frozen=True)
class QueryParam:
    """One query parameter, once: how its text is parsed (a ``ValueError``'s message is a
    400 naming it) and how the OpenAPI document describes it (``schema``, ``description``;
    :func:`scheduler.service.handlers.openapi.query_params`)."""

    parse: Callable[[str], Any]
    schema: dict[str, Any]
    description: str

    def __call__(self, raw: str) -> Any:
        return self.parse(raw)


def int_param(lo: int, hi: int | None = None, description: str = "") -> QueryParam:
    """A whole number in ``[lo, hi]``."""

    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"must be a whole number, not {raw!r}") from None
        if value < lo:
            raise ValueError(f"must be at least {lo}, not {value}")
        if hi is not None and value > hi:
            raise ValueError(f"must be at most {hi}, not {value}")
        return value

    schema: dict[str, Any] = {"type": "integer", "minimum": lo}
    if hi is not None:
        schema["maximum"] = hi
    return QueryParam(parse, schema, description)


def text_param(max_len: int = 256, description: str = "") -> QueryParam:
    """Text of at most ``max_len`` characters, no NUL."""

    def parse(raw: str) -> str:
        if len(raw) > max_len:
            raise ValueError(f"is {len(raw)} characters long; the most is {max_len}")
        if "\x00" in raw:
            raise ValueError("must not contain NUL characters")
        return raw

    schema = {"type": "string", "maxLength": max_len, "pattern": NO_NUL}
    return QueryParam(parse, schema, description)


class BaseHandler(RequestHandler):
    """JSON API handler; ``prepare`` authenticates unless ``auth_required`` is False."""

    auth_required = True
    ctx: ApiContext
    identity: Identity
    route = ""  # the OpenAPI path this handler answers (the metrics' route label)

    def initialize(self, ctx: ApiContext, route: str = "") -> None:
        self.ctx = ctx
        self.route = route

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")

    async def prepare(self) -> None:
        for name, value in self.path_kwargs.items():
            if "\x00" in (value or ""):  # PostgreSQL refuses NUL in text: a 400, not a 500
                raise ApiError(400, f"{name} must not contain NUL characters", name)
        if not self.auth_required:
            return
        auth = self.ctx.authenticator
        identity = auth.cached(self.request.headers)
        if identity is None:
            try:
                identity = await self.ctx.read(auth.identify, self.request.headers)
            except ValueError as exc:  # e.g. a hub user name our rules refuse
                raise ApiError(403, str(exc)) from None
        if identity is None:
            raise ApiError(
                401,
                "missing or invalid token: send 'Authorization: token <token>' "
                "(hai-cli init <token> --url <url>)",
                "Authorization",
            )
        self.identity = identity

    # ------------------------------------------------------------------ output

    def no_content(self) -> None:
        """Answer ``204 No Content`` (a deletion done)."""
        self.set_status(204)
        self.finish()

    def send(self, obj: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(obj, separators=(",", ":"), default=str))

    def allowed_methods(self) -> list[str]:
        """The methods this endpoint answers (for ``Allow`` on a 405, RFC 9110)."""
        return [
            m
            for m in ("GET", "POST", "PUT", "PATCH", "DELETE")
            if getattr(type(self), m.lower()) is not getattr(RequestHandler, m.lower())
        ]

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if status_code == 405:
            self.set_header("Allow", ", ".join(self.allowed_methods()))
        exc = kwargs.get("exc_info", (None, None, None))[1]
        body = schema.Error(error=self._reason or "error", field=None)
        if isinstance(exc, ApiError):
            body = schema.Error(error=exc.message, field=exc.field, **exc.extra)
        elif isinstance(exc, HTTPError):
            body.error = exc.log_message % exc.args if exc.log_message else self._reason
        elif status_code >= 500:
            body.error = "internal error (see the scheduler's log)"
        self.set_status(status_code)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(body.dump()))

    # ------------------------------------------------------------------ input

    def query(self, accepted: dict[str, QueryParam]) -> dict[str, Any]:
        """Query parameters parsed by ``accepted``; anything else is refused by name."""
        out: dict[str, Any] = {}
        for name, values in self.request.query_arguments.items():
            if name not in accepted:
                allowed = ", ".join(accepted) or "none"
                raise ApiError(400, f"unknown query parameter (allowed: {allowed})", name)
            raw = values[-1].decode("utf-8", "replace")
            try:
                out[name] = accepted[name](raw)
            except ValueError as exc:
                raise ApiError(400, f"{name}: {exc}", name) from None
        return out

    def body_bytes(self) -> bytes:
        body = self.request.body or b""
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, f"request body larger than {MAX_BODY_BYTES} bytes", "body")
        return body

    def body_json(self, *, required: bool = True) -> Any:
        body = self.body_bytes()
        if not body.strip(b" \t\r\n"):  # JSON's own whitespace; any other byte is not JSON
            if required:
                raise ApiError(400, "a JSON body is required", "body")
            return {}
        try:
            return json.loads(body)
        except (UnicodeDecodeError, ValueError) as exc:  # ValueError: 5,000-digit numbers
            raise ApiError(400, f"malformed JSON: {exc}", "body") from None
        except RecursionError:
            raise ApiError(400, "malformed JSON: nested too deeply", "body") from None

    def body_model(self, model: type[M], *, required: bool = True) -> M:
        """The JSON body parsed by ``model`` (:mod:`scheduler.service.schema`); without
        ``required``, an empty body is ``{}``."""
        return parse_model(model, self.body_json(required=required))

    def body_object(self, allowed: tuple[str, ...], *, required: bool = True) -> dict[str, Any]:
        """A JSON object body with only ``allowed`` fields."""
        data = self.body_json(required=required)
        if not isinstance(data, dict):
            raise ApiError(400, "the body must be a JSON object", "body")
        for key in data:
            if key not in allowed:
                raise ApiError(400, f"unknown field (allowed: {', '.join(allowed)})", key)
        return data


class NotFoundHandler(BaseHandler):
    """Anything under the API that no route matches."""

    auth_required = False

    def prepare(self) -> None:  # type: ignore[override]
        raise ApiError(404, f"no such endpoint: {self.request.method} {self.request.path}")
