"""Test helpers: a scheduler core (DB + local backend + loop) driven cycle by cycle."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from traitlets.config import Config

from scheduler.model import accounts
from scheduler.model.enums import Priority
from scheduler.model.orm import Chain
from scheduler.service.app import SchedulerApp

ASSETS = Path(__file__).with_name("assets")
TOY = str(ASSETS / "toy_train.py")


def make_app(
    db_url: str, data_dir: Path, nodes: list[dict[str, Any]], **knobs: Any
) -> SchedulerApp:
    cfg = Config()
    cfg.SchedulerApp.db_url = db_url
    cfg.SchedulerApp.data_dir = str(data_dir)
    cfg.LocalBackend.nodes = nodes
    cfg.LocalBackend.python = sys.executable
    # single-tenant: these tests are about scheduling; tests/test_isolation.py runs ranks
    # as real accounts
    cfg.SystemAccounts.mode = "service"
    for k, v in knobs.items():
        setattr(cfg.SchedulerApp, k, v)
    app = SchedulerApp(config=cfg)
    app.init_core()
    return app


def ensure_user(app: SchedulerApp, name: str, group: str | None = None) -> None:
    with app.session_factory.begin() as s:
        if accounts.get_user(s, name) is None:
            accounts.create_user(s, name, group=group)


def submit(
    app: SchedulerApp,
    user: str,
    *,
    name: str,
    entrypoint: str,
    parameters: list[str] | None = None,
    workspace: Path,
    priority: Priority = Priority.NORMAL,
    node_count: int = 1,
    group: str = "gpu",
    env: dict[str, str] | None = None,
    options: dict[str, Any] | None = None,
) -> int:
    ensure_user(app, user)
    workspace.mkdir(parents=True, exist_ok=True)
    with app.session_factory.begin() as s:
        chain = Chain(
            name=name,
            owner=accounts.get_user(s, user),
            group_name=group,
            node_count=node_count,
            priority=int(priority),
            entrypoint=entrypoint,
            parameters=parameters or [],
            workspace=str(workspace),
            environment=env or {},
            options=options or {},
        )
        s.add(chain)
        s.flush()
        chain_id = chain.id
    app.loop.note_changed(chains=[chain_id])  # as the API does after its commit
    return chain_id


def chain(app: SchedulerApp, chain_id: int) -> Chain:
    """A detached snapshot of a chain with its jobs and ranks loaded."""
    with app.session_factory() as s:
        c = s.scalars(select(Chain).where(Chain.id == chain_id)).one()
        for job in c.jobs:
            list(job.ranks)
        return c


def run_until(
    app: SchedulerApp, pred: Callable[[], bool], timeout: float = 30.0, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app.loop.cycle()
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or pred}")


def log_text(app: SchedulerApp, chain_id: int, job_seq: int, rank: int) -> list[str]:
    from scheduler.backends.base import RankKey

    return [ln.text for ln in app.backend.read_log(RankKey(chain_id, job_seq, rank)).lines]
