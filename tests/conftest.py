"""Shared fixtures: a fresh database on SQLite and on PostgreSQL for data-layer tests, and
a folder other system accounts can cross (``base``) for tests that run ranks as them."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

PG_ADMIN_URL = os.environ.get(
    "HAI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _pg_available() -> bool:
    try:
        eng = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with eng.connect():
            pass
        eng.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_server() -> str:
    # a required tool (README): missing, the tests fail rather than skip, so CI cannot go
    # green on SQLite alone
    if not _pg_available():
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} (make test needs it; "
            "$HAI_TEST_PG_URL to point elsewhere)"
        )
    return PG_ADMIN_URL


def _fresh_pg_db(admin_url: str) -> tuple[str, str]:
    name = f"hai_test_{uuid.uuid4().hex[:12]}"
    eng = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    return name, admin_url.rsplit("/", 1)[0] + "/" + name


def _drop_pg_db(admin_url: str, name: str) -> None:
    eng = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    eng.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> Iterator[str]:
    """A URL of an empty database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hai.sqlite'}"
        return
    admin = request.getfixturevalue("pg_server")
    name, url = _fresh_pg_db(admin)
    try:
        yield url
    finally:
        _drop_pg_db(admin, name)


@pytest.fixture
def base() -> Iterator[Path]:
    """A folder other accounts can cross (pytest's own tmp is 0700), removed afterwards
    with the accounts made in it."""
    assert os.geteuid() == 0, "isolation tests create system accounts: run as root (CI does)"
    path = Path(f"/tmp/hai-iso-{secrets.token_hex(3)}")
    path.mkdir(mode=0o711)
    path.chmod(0o711)
    (path / "home").mkdir(mode=0o755)
    try:
        yield path
    finally:
        prefix = f"hai-t{path.name[-6:]}-"
        for entry in pwd.getpwall():
            if entry.pw_name.startswith(prefix):
                subprocess.run(["pkill", "-KILL", "-u", entry.pw_name], check=False)
                remove_account(entry.pw_name)
        shutil.rmtree(path, ignore_errors=True)


def remove_account(name: str) -> None:
    """userdel, again while another process (a parallel test) holds the password file."""
    for _ in range(100):
        done = subprocess.run(["userdel", "--remove", name], capture_output=True, text=True)
        if "try again later" not in done.stderr:
            return
        time.sleep(0.1)
