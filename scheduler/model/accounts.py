"""Users, API tokens and quota rows: creating them and looking them up.

Tokens are stored as SHA-256 hashes only; the plain token is shown once, when issued.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.model.orm import ApiToken, Quota, User, utcnow
from scheduler.model.quota_names import check_quota_resource

USER_NAME_RULE = (
    "1-64 characters: letters, digits, '.', '_', '-' and '@', starting with a letter or digit"
)
# users' pods run as uid/gid UID_BASE + their row id unless an admin sets other ids
UID_BASE = 100000
USER_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
_USER_NAME = re.compile(USER_NAME_PATTERN)


def check_user_name(name: str) -> str:
    if not isinstance(name, str) or not _USER_NAME.fullmatch(name):
        raise ValueError(f"invalid user name {name!r}: {USER_NAME_RULE}")
    return name


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def get_user(session: Session, name: str) -> User | None:
    return session.scalars(select(User).where(User.name == name)).one_or_none()


def create_user(
    session: Session, name: str, *, admin: bool = False, group: str | None = None
) -> User:
    """Create a user; refuse a bad or taken name with a clear message."""
    check_user_name(name)
    if get_user(session, name) is not None:
        raise ValueError(f"user {name!r} already exists")
    user = User(name=name, is_admin=admin, group_name=group)
    session.add(user)
    session.flush()
    user.uid = user.gid = UID_BASE + user.id  # unique, never 0, outside system ranges
    session.flush()
    return user


TOKEN_NOTE_MAX = 255
TOKEN_DAYS_MAX = 3650


def issue_token(
    session: Session, user: User, note: str = "", expires_at: dt.datetime | None = None
) -> str:
    """Create an API token for ``user``; returns the plain token (stored hashed)."""
    token = secrets.token_hex(24)
    row = ApiToken(user_id=user.id, token_hash=hash_token(token), note=note, expires_at=expires_at)
    session.add(row)
    session.flush()
    return token


def token_row(session: Session, token: str) -> ApiToken | None:
    """The row of a plain token that is still valid (not expired), else None."""
    if not token:
        return None
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    if row is None or (row.expires_at is not None and row.expires_at <= utcnow()):
        return None
    return row


def user_for_token(session: Session, token: str) -> User | None:
    row = token_row(session, token)
    return row.user if row else None


def set_quota(
    session: Session, subject_kind: str, subject: str, resource: str, limit: int
) -> Quota:
    """Create or update one quota row (``subject_kind`` is 'user' or 'group')."""
    if subject_kind not in ("user", "group"):
        raise ValueError(f"quota subject kind must be 'user' or 'group', not {subject_kind!r}")
    check_quota_resource(resource)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise ValueError(f"quota limit must be a whole number ≥ 0, not {limit!r}")
    row = session.scalars(
        select(Quota).where(
            Quota.subject_kind == subject_kind, Quota.subject == subject, Quota.resource == resource
        )
    ).one_or_none()
    if row is None:
        row = Quota(subject_kind=subject_kind, subject=subject, resource=resource, limit=limit)
        session.add(row)
    else:
        row.limit = limit
    session.flush()
    return row


def all_quota_rows(session: Session) -> dict[tuple[str, str, str], int]:
    return {
        (q.subject_kind, q.subject, q.resource): q.limit for q in session.scalars(select(Quota))
    }
