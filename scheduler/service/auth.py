"""Who is calling the API: the swappable :class:`Authenticator` and the default token one.

An authenticator turns a request into an :class:`Identity` (a user name and an admin
flag) or None. That is all the API relies on, so JupyterHub's ``HubAuth`` can take the
default's place once the scheduler runs as a hub service: the API creates the user row
the first time a name it is vouched for appears (:meth:`Authenticator.account_for`).
A disabled user is refused whatever their credential.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache
from sqlalchemy.orm import Session
from traitlets import Any as AnyTrait
from traitlets import Float, Integer
from traitlets.config import LoggingConfigurable

from scheduler.model import accounts
from scheduler.model.orm import User


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated caller. ``user_id`` is filled in by the API when not known yet."""

    name: str
    admin: bool = False
    user_id: int | None = None
    expires_at: float | None = None  # the credential's end (epoch seconds), if it has one


class _Remembered:
    """A thread-safe :class:`cachetools.TTLCache`: entries expire ``ttl`` seconds after they
    are put; when ``size`` are held, the least recently used goes first."""

    def __init__(self, ttl: float, size: int) -> None:
        self._data: TTLCache[Any, Any] = TTLCache(maxsize=max(1, size), ttl=ttl)
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            return self._data.get(key)

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._data[key] = value

    def discard_where(self, predicate: Callable[[Any, Any], bool]) -> None:
        """Forget every entry whose (key, value) matches ``predicate``."""
        with self._lock:
            for key in [k for k, v in self._data.items() if predicate(k, v)]:
                self._data.pop(key, None)


class Authenticator(LoggingConfigurable):
    """Base class: decide who a request comes from.

    Subclasses implement :meth:`authenticate`. It may block (it runs in a worker thread)
    and gets a fresh database session.
    """

    app = AnyTrait(help="The SchedulerApp (session_factory, default_quota, ...).")

    cache_seconds = Float(
        10.0, help="How long a resolved credential is remembered (0 = ask every time)."
    ).tag(config=True)
    cache_size = Integer(10_000, help="Most credentials remembered at once.").tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cache = _Remembered(self.cache_seconds, self.cache_size)
        self._accounts = _Remembered(3600.0, self.cache_size)
        self._first_requests = threading.Lock()

    def credential(self, headers: Any) -> str | None:
        """The cache key of a request's credential (None: no credential given)."""
        return headers.get("Authorization")

    def authenticate(self, session: Session, headers: Any) -> Identity | None:
        """Return who sent a request with these headers, or None. Override this."""
        raise NotImplementedError

    def cached(self, headers: Any) -> Identity | None:
        """The identity remembered for this request's credential, without any I/O."""
        key = self.credential(headers)
        if key is None or self.cache_seconds <= 0:
            return None
        hit = self._cache.get(key)
        if hit is not None and hit.expires_at is not None and hit.expires_at <= time.time():
            return None  # expired while remembered: ask again (and be refused)
        return hit

    def identify(self, session: Session, headers: Any) -> Identity | None:
        """:meth:`authenticate`, cached by credential, with the user row ensured."""
        key = self.credential(headers)
        if key is None:
            return None
        hit = self.cached(headers)
        if hit is not None:
            return hit
        identity = self.authenticate(session, headers)
        if identity is None:
            return None
        if identity.user_id is None:
            user_id, disabled = self.account_for(session, identity)
            if disabled:
                return None
            identity = Identity(identity.name, identity.admin, user_id, identity.expires_at)
        if self.cache_seconds > 0:
            self._cache.put(key, identity)
        return identity

    def account_for(self, session: Session, identity: Identity) -> tuple[int, bool]:
        """The user row's id and disabled flag; creates the row on a name's first request."""
        cached = self._accounts.get(identity.name)
        if cached is not None:
            return cached
        user = accounts.get_user(session, identity.name)
        if user is None:
            user = self._first_request(session, identity)
        account = (user.id, bool(user.disabled))
        self._accounts.put(identity.name, account)
        return account

    def _first_request(self, session: Session, identity: Identity) -> User:
        """The user row made for a name's first request. Several first requests come at
        once (a lab opening its panels, the hub's spawner beside its culler), each in a
        reader thread of the one scheduler process: one makes the row, under this lock
        until it is committed, and the others find it."""
        with self._first_requests:
            user = accounts.get_user(session, identity.name)
            if user is None:
                user = accounts.create_user(session, identity.name, admin=identity.admin)
                session.commit()
                self.log.info("created user %r on first request", identity.name)
            return user

    def forget_user(self, name: str) -> None:
        """Drop what is remembered about ``name`` (its credentials too): after an admin
        disables a user or changes their role, their next request is checked afresh."""
        self._accounts.discard_where(lambda key, _: key == name)
        self._cache.discard_where(lambda _, identity: identity.name == name)


class TokenAuthenticator(Authenticator):
    """``Authorization: token <t>`` or ``Authorization: Bearer <t>``, checked in the database."""

    def authenticate(self, session: Session, headers: Any) -> Identity | None:
        token = parse_authorization(headers.get("Authorization"))
        if not token:
            return None
        row = accounts.token_row(session, token)
        if row is None or row.user.disabled:
            return None
        ends = row.expires_at.timestamp() if row.expires_at else None
        return Identity(row.user.name, bool(row.user.is_admin), row.user.id, ends)


def parse_authorization(value: str | None) -> str | None:
    """The token of an ``Authorization: token X`` / ``Bearer X`` header, else None."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() not in ("token", "bearer") or not token.strip():
        return None
    return token.strip()
