"""A name's first requests arriving together (a lab opening its panels at once, the hub's
spawner beside its culler) each get the one user row made for that name, never a 500."""

from __future__ import annotations

import threading

import pytest

from scheduler.model.db import open_database
from scheduler.service.auth import Authenticator, Identity


class NamedByHeader(Authenticator):
    """Whoever the ``X-Name`` header says (as a hub says who owns a token): no row yet."""

    def authenticate(self, session, headers) -> Identity | None:
        return Identity(headers["X-Name"], False, None, None)


@pytest.fixture
def factory(db_url: str):
    """Sessions on a fresh database, SQLite and PostgreSQL (tests/conftest.py)."""
    made = open_database(db_url)
    yield made
    made.kw["bind"].dispose()


def first_requests_at_once(auth: Authenticator, factory, name: str, count: int) -> list:
    """``count`` first requests of ``name``, released together; the ids they got, or the
    exceptions they raised."""
    barrier = threading.Barrier(count)
    got: list = []

    def first_request() -> None:
        barrier.wait()
        try:
            with factory() as s:
                got.append(auth.identify(s, {"X-Name": name, "Authorization": name}).user_id)
        except BaseException as exc:
            got.append(exc)

    threads = [threading.Thread(target=first_request) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return got


def test_first_requests_of_one_name_at_once_all_get_its_row(factory) -> None:
    auth = NamedByHeader(cache_seconds=0)
    for round_ in range(10):
        got = first_requests_at_once(auth, factory, f"user{round_}", 6)
        assert len(got) == 6 and len(set(got)) == 1 and isinstance(got[0], int), got
