"""Accounts: users, tokens and quotas, and the bodies that make and change them."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    WithJsonSchema,
)

from scheduler.model.accounts import TOKEN_DAYS_MAX, TOKEN_NOTE_MAX
from scheduler.service.schema.base import Flag, IsoText, IsoTime, Request, Response, _whole, rule


class User(Response):
    name: str
    admin: bool
    disabled: bool
    group: str | None
    system_user: str | None
    created_at: IsoTime


class Users(Response):
    users: list[User]


class Token(Response):
    """An API token; ``token`` (the secret) only in the answer that issued it."""

    id: int
    user: str
    note: str
    created_at: IsoTime
    expires_at: IsoText
    expired: bool
    token: str = ""
    sometimes_absent = ("token",)


class Tokens(Response):
    tokens: list[Token]


class Quota(Response):
    """One quota row: at most ``limit`` nodes of ``resource`` for a user or a group."""

    kind: Literal["user", "group"]
    subject: str
    resource: str
    limit: int


class Quotas(Response):
    quotas: list[Quota]
    defaults: dict[str, Any] = Field(description="resource -> the configured default limit")


#: 1-32 letters, digits, '.', '_' or '-' (a group or a system account), or null to clear
ACCOUNT_NAME_RULE = "1-32 letters, digits, '.', '_' or '-', starting with a letter, digit or '_'"
ACCOUNT_NAME_PATTERN = "^[A-Za-z0-9_][A-Za-z0-9._-]{0,31}$"
QUOTA_LIMIT_MAX = 1_000_000


AccountName = Annotated[
    str | None,
    rule(
        lambda v: v is None or (isinstance(v, str) and re.fullmatch(ACCOUNT_NAME_PATTERN, v)),
        f"{{field}} must be a name: {ACCOUNT_NAME_RULE} (or null)",
    ),
    WithJsonSchema({"type": ["string", "null"], "pattern": ACCOUNT_NAME_PATTERN}),
]


class NewUser(Request):
    """``POST /users/{user}`` (admins); an empty body makes a plain user."""

    admin: Flag = False
    group: AccountName = None


class UserChange(Request):
    """``PATCH /users/{user}`` (admins): only the fields sent change."""

    disabled: Flag = None  # type: ignore[assignment]  (absent: unchanged; null: refused)
    admin: Flag = None  # type: ignore[assignment]
    group: AccountName = None
    system_user: AccountName = None


class NewToken(Request):
    """``POST /tokens``: a note, a lifetime (null: never expires), and (admins) whose."""

    note: Annotated[
        str,
        rule(
            lambda v: isinstance(v, str) and len(v) <= TOKEN_NOTE_MAX and "\x00" not in v,
            f"note must be text of at most {TOKEN_NOTE_MAX}",
        ),
        Field(max_length=TOKEN_NOTE_MAX),
    ] = ""
    expires_in_days: Annotated[
        int | None,
        rule(
            lambda v: v is None or _whole(1, TOKEN_DAYS_MAX)(v),
            f"expires_in_days must be 1-{TOKEN_DAYS_MAX}",
        ),
        WithJsonSchema({"type": ["integer", "null"], "minimum": 1, "maximum": TOKEN_DAYS_MAX}),
    ] = None
    # checked by the handler after who may issue for whom (a non-admin's is a 403 first)
    user: Annotated[Any, WithJsonSchema({"type": "string"})] = None


class QuotaLimit(Request):
    """``PUT /quotas/{kind}/{subject}/{resource}`` (admins)."""

    limit: Annotated[
        int,
        Field(ge=0, le=QUOTA_LIMIT_MAX),
        rule(_whole(0, QUOTA_LIMIT_MAX), f"limit must be a whole number 0-{QUOTA_LIMIT_MAX}"),
    ]
    missing_messages = {"limit": f"limit must be a whole number 0-{QUOTA_LIMIT_MAX}"}
