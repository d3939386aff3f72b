"""API tokens of the scheduler's own accounts: ``GET``/``POST /tokens``, ``DELETE /tokens/{id}``.

Users list, create and revoke their own tokens; admins anyone's (``?user=`` to list one
user's, ``user`` in the body to issue one for someone). A token is shown once, when it is
created; only its SHA-256 is kept. A revoked token is refused from the next request on:
the authenticator forgets what it remembered about the token's owner. Tokens may expire
(``expires_in_days``); an expired one is refused like an unknown one.

When the scheduler runs behind JupyterHub (``HubAuthenticator``) the tokens people use are
the hub's (its token page); these endpoints then manage only tokens issued here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.model import accounts
from scheduler.model.orm import NAME_MAX, ApiToken, User, utcnow
from scheduler.service import schema
from scheduler.service.handlers.base import ApiError, BaseHandler, text_param
from scheduler.service.handlers.users import forbidden_doc

#: ``GET /tokens``'s query parameter (admins: whose tokens)
LIST_PARAMS = {"user": text_param(NAME_MAX, "Whose tokens")}


def token_json(row: ApiToken, now: dt.datetime, **secret: str) -> dict[str, Any]:
    """A token as the API shows it (:class:`scheduler.service.schema.Token`); ``token=``
    adds the secret, in the answer that issued it."""
    return schema.Token(
        id=row.id,
        user=row.user.name,
        note=row.note,
        created_at=row.created_at.isoformat(),
        expires_at=row.expires_at.isoformat() if row.expires_at else None,
        expired=bool(row.expires_at and row.expires_at <= now),
        **secret,
    ).dump()


class TokensHandler(BaseHandler):
    """``GET /tokens`` (yours; admins: ``?user=`` or everyone's) and ``POST /tokens``."""

    async def get(self) -> None:
        args = self.query(LIST_PARAMS)
        who = args.get("user")
        if who is not None and who != self.identity.name and not self.identity.admin:
            raise ApiError(403, "only admins list other users' tokens", "user")
        if who is None and not self.identity.admin:
            who = self.identity.name

        def load(s: Session) -> list[dict[str, Any]]:
            q = select(ApiToken).join(User).order_by(ApiToken.id)
            if who is not None:
                q = q.where(User.name == who)
            now = utcnow()
            return [token_json(row, now) for row in s.scalars(q)]

        self.send({"tokens": await self.ctx.read(load)})

    async def post(self) -> None:
        self.query({})
        body = self.body_model(schema.NewToken, required=False)
        note, days = body.note, body.expires_in_days
        owner = body.user if "user" in body.model_fields_set else self.identity.name
        if owner != self.identity.name and not self.identity.admin:
            raise ApiError(403, "only admins issue tokens for other users", "user")
        if not isinstance(owner, str):
            raise ApiError(400, "user must be a user name", "user")

        def issue(s: Session) -> dict[str, Any]:
            user = accounts.get_user(s, owner)
            if user is None:
                raise LookupError(owner)
            ends = utcnow() + dt.timedelta(days=days) if days else None
            token = accounts.issue_token(s, user, note, ends)
            row = accounts.token_row(s, token)
            return token_json(row, utcnow(), token=token)

        try:
            self.send(await self.ctx.write(issue), 201)
        except LookupError:
            raise ApiError(404, f"no user {owner!r}", "user") from None


class TokenHandler(BaseHandler):
    """``DELETE /tokens/{id}``: revoke (yours; admins: anyone's)."""

    async def delete(self, token_id: str) -> None:
        self.query({})
        me, admin = self.identity.name, self.identity.admin

        def revoke(s: Session) -> str | None:
            row = s.get(ApiToken, int(token_id))
            if row is None or (row.user.name != me and not admin):
                return None
            owner = row.user.name
            s.delete(row)
            return owner

        owner = await self.ctx.write(revoke)
        if owner is None:
            raise ApiError(404, f"no token {token_id} (or it is not yours)", "id")
        self.ctx.authenticator.forget_user(owner)
        self.no_content()


def _doc() -> None:
    """Describe these endpoints in the API's OpenAPI document."""
    from scheduler.service.handlers import openapi as oa

    ref = oa._ref(schema.Token)
    oa.add_paths(
        {
            "/tokens": {
                "get": {
                    **oa._op(
                        "API tokens (yours; admins: ?user= or all)",
                        oa._json(oa._ref(schema.Tokens)),
                        params=oa.query_params(LIST_PARAMS),
                    ),
                },
                "post": {
                    "summary": "Issue a token (shown once); admins may name another user",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": oa._ref(schema.NewToken),
                            }
                        }
                    },
                    "responses": {
                        "201": oa._json(ref, "Issued; `token` is shown only now"),
                        **oa._ERRORS,
                        **forbidden_doc(),
                    },
                },
            },
            "/tokens/{id}": {
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
                ],
                "delete": {
                    "summary": "Revoke a token (yours; admins: anyone's), effective at once",
                    "responses": {"204": {"description": "Revoked"}, **oa._ERRORS},
                },
            },
        },
    )


_doc()
