"""Opening the database: engines for SQLite (embedded default) and PostgreSQL, and migrations.

The schema is owned by alembic (``scheduler/model/migrations``); :func:`open_database`
brings any database to the newest revision before it is used.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from hai_client.files import flocked

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 0x4A1_0001  # PostgreSQL advisory lock key held while migrating


def make_engine(url: str, **kwargs) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@contextlib.contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    """For a SQLite file: an exclusive lock beside it while migrating (other processes wait)."""
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:":
        yield
        return
    with flocked(f"{path}.migrate.lock"):
        yield


def upgrade(engine: Engine) -> None:
    """Migrate the database behind ``engine`` to the newest schema revision."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with _file_lock(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # several processes may start at once (a migration job and the scheduler):
            # one migrates, the others wait and then find the schema current
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def open_database(url: str, **kwargs) -> sessionmaker[Session]:
    """Engine + migrations + a session factory, ready to use."""
    engine = make_engine(url, **kwargs)
    upgrade(engine)
    _make_private(engine)
    return sessionmaker(engine, expire_on_commit=False)


def _make_private(engine: Engine) -> None:
    """A SQLite database (and its WAL files) is readable by its owner only: it holds
    every user's chains, environments and token hashes."""
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:":
        return
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(path + suffix, 0o600)
