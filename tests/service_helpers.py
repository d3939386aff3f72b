"""Shared helpers for tests that talk to the scheduler service over HTTP.

Two ways to get a running API:

* :func:`api_server` serves the API of a stand-in app in a background thread of the test
  process (no scheduling loop, a fake backend whose logs the test writes). Tests then
  put rows in the database directly, playing the loop.
* :func:`scheduler_process` starts the real ``hai-scheduler`` (loop + local backend) as a
  subprocess on a free loopback port with a fresh data dir, after creating users and
  tokens in its database.

:func:`hai_cli` runs the ``hai-cli`` console script in a subprocess with ``HOME`` set to a
test directory (so ``~/.hai/conf.yaml`` is the test's own).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from scheduler.backends.base import Backend, LogChunk, LogLine, RankKey
from scheduler.model import accounts
from scheduler.model.db import open_database
from scheduler.model.orm import Node, NodeGroup

REPO = Path(__file__).resolve().parent.parent


def _script(name: str) -> str:
    """Path of a console script of this venv (falls back to PATH)."""
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else (shutil.which(name) or name)


# --------------------------------------------------------------------------- users, nodes


def add_user(factory: Any, name: str, *, admin: bool = False, group: str | None = None) -> str:
    """Create a user and return a fresh API token for them."""
    with factory.begin() as s:
        user = accounts.get_user(s, name) or accounts.create_user(s, name, admin=admin, group=group)
        return accounts.issue_token(s, user, note="test")


def add_nodes(factory: Any, group: str, count: int, gpus: int = 8, prefix: str = "") -> None:
    """Create a node group (if needed) with ``count`` nodes."""
    from sqlalchemy import select

    with factory.begin() as s:
        grp = s.scalars(select(NodeGroup).where(NodeGroup.name == group)).one_or_none()
        if grp is None:
            grp = NodeGroup(name=group)
            s.add(grp)
        for i in range(count):
            s.add(Node(name=f"{prefix or group}-n{i}", group=grp, gpus=gpus))


# --------------------------------------------------------------------------- in-process API


class FakeBackend(Backend):
    """A backend whose rank logs the test appends to (``add_log``); nothing runs."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.logs: dict[RankKey, list[LogLine]] = {}

    def add_log(self, key: RankKey, *texts: str) -> None:
        for text in texts:
            self.logs.setdefault(key, []).append(
                LogLine(time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), text=text)
            )

    def read_log(self, key: RankKey, offset: int = 0, max_bytes: int = 1 << 20) -> LogChunk:
        # The "offset" of the fake is a line index.
        lines = self.logs.get(key, [])
        out, used = [], 0
        for line in lines[offset:]:
            if out and used + len(line.text) + 1 > max_bytes:
                break
            out.append(line)
            used += len(line.text) + 1
        nxt = offset + len(out)
        return LogChunk(lines=out, next_offset=nxt, eof=nxt >= len(lines))


class FakeLoop:
    """Counts the API's wakes and keeps its change notes (the API tests run no loop)."""

    def __init__(self) -> None:
        self.wakes = 0
        self.noted_chains: list[int] = []
        self.catalog_notes = 0

    def wake(self) -> None:
        self.wakes += 1

    def note_changed(self, chains: Iterable[int] = (), catalog: bool = False) -> None:
        self.noted_chains.extend(chains)
        self.catalog_notes += catalog


@dataclass
class ApiServer:
    url: str  # e.g. http://127.0.0.1:PORT/base/
    factory: Any
    app: Any
    web: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return f"{self.url}api/v1"

    @property
    def ctx(self) -> Any:
        return self.web.settings["hai_ctx"]

    def user(self, name: str, *, admin: bool = False, group: str | None = None) -> str:
        return add_user(self.factory, name, admin=admin, group=group)


@contextlib.contextmanager
def api_server(
    db_url: str,
    *,
    base_url: str = "/",
    default_quota: dict[str, int] | None = None,
    authenticator_class: Any = None,
) -> Iterator[ApiServer]:
    """Serve the API on 127.0.0.1 (a free port) in a background thread."""
    from scheduler.service.auth import TokenAuthenticator
    from scheduler.service.web import listen, make_web_app

    factory = open_database(db_url)
    app = SimpleNamespace(
        session_factory=factory,
        backend=FakeBackend(),
        loop=FakeLoop(),
        base_url=base_url,
        default_quota=dict(default_quota or {}),
        log=logging.getLogger("hai-test-api"),
    )
    app.authenticator = (authenticator_class or TokenAuthenticator)(app=app)
    web = make_web_app(app)
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def serve() -> None:
        server = listen(web, 0, "127.0.0.1")
        state["port"] = next(iter(server._sockets.values())).getsockname()[1]
        state["loop"] = asyncio.get_running_loop()
        state["stop"] = asyncio.Event()
        ready.set()
        await state["stop"].wait()
        server.stop()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the API server did not start")
    url = f"http://127.0.0.1:{state['port']}{base_url}"
    try:
        yield ApiServer(url=url, factory=factory, app=app, web=web)
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(10)
        web.settings["hai_ctx"].close()
        factory.kw["bind"].dispose()


# --------------------------------------------------------------------------- real service


@dataclass
class ServiceProcess:
    url: str
    data_dir: Path
    tokens: dict[str, str]
    proc: subprocess.Popen
    log_path: Path
    factory: Any

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


@contextlib.contextmanager
def scheduler_process(
    tmp: Path,
    *,
    users: Sequence[tuple[str, bool]] = (("admin", True), ("alice", False), ("bob", False)),
    args: Sequence[str] = (),
    config: str = "",
    env: dict[str, str] | None = None,
    start_timeout: float = 60.0,
    run_as: str = "service",
    db_url: str | None = None,
) -> Iterator[ServiceProcess]:
    """Start ``hai-scheduler`` on a free loopback port with a fresh data dir.

    ``users`` are (name, admin) pairs created with a token each before the start;
    ``config`` is the text of a ``hai_scheduler_config.py`` (e.g.
    ``c.LocalBackend.nodes = [...]``); ``args`` are extra command-line arguments;
    ``run_as`` is ``SystemAccounts.mode`` (single-tenant ``service`` unless a test is about
    isolation).
    """
    data_dir = tmp / "hai-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    db_url = db_url or f"sqlite:///{data_dir / 'scheduler.sqlite'}"
    factory = open_database(db_url)
    tokens = {name: add_user(factory, name, admin=admin) for name, admin in users}
    if config:
        (tmp / "hai_scheduler_config.py").write_text(config)
    port_file = tmp / "hai-port"
    port_file.unlink(missing_ok=True)  # a restart on the same folder waits for its own port
    log_path = tmp / "hai-scheduler.log"
    cmd = [
        _script("hai-scheduler"),
        "--port=0",
        f"--port-file={port_file}",
        f"--data-dir={data_dir}",
        f"--db-url={db_url}",
        f"--SystemAccounts.mode={run_as}",
        *args,
    ]
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=str(tmp),
            start_new_session=True,
        )
    svc = ServiceProcess("", data_dir, tokens, proc, log_path, factory)
    try:
        deadline = time.monotonic() + start_timeout
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None:
                raise RuntimeError(f"hai-scheduler exited ({proc.returncode}):\n{svc.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"hai-scheduler did not start:\n{svc.log_tail()}")
            time.sleep(0.05)
        svc.url = f"http://127.0.0.1:{int(port_file.read_text())}/"
        yield svc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        factory.kw["bind"].dispose()


def wait_for(pred: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll ``pred()`` until it returns something true (returned), or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


# --------------------------------------------------------------------------- hai-cli


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HAI_", "HF_ENV"))}
    env.update(HOME=str(home), COLUMNS="200", NO_COLOR="1", TERM="dumb", **extra)
    return env


def hai_cli(
    home: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    cwd: Path | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``hai-cli ARGS`` with ``HOME=home``; returns the completed process (text)."""
    return subprocess.run(
        [_script("hai-cli"), *args],
        env={**cli_env(home), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(cwd or home),
        input=input,
    )


def hai_cli_here(
    home: Path,
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``hai-cli ARGS`` run in this process (click's runner), with the environment and the
    folder :func:`hai_cli` gives its subprocess, and the same kind of result. An unexpected
    exception's traceback ends up on stderr, as the process would print it.

    For a command whose output or exit status does not depend on being a process of its own
    (most of them): no interpreter start per call. A command that runs a child process
    writing to the terminal (``hai-cli python t.py``, ``++``) needs :func:`hai_cli`.
    """
    import traceback

    from click.testing import CliRunner

    from hai_client.cli import cli

    overlay: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith(("HAI_", "HF_ENV"))
    }
    overlay.update({"HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"})
    overlay.update(env or {})
    with contextlib.chdir(cwd or home):
        res = CliRunner().invoke(cli, list(args), input=input, env=overlay, prog_name="hai-cli")
    stderr = res.stderr
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        stderr += "".join(traceback.format_exception(res.exception))
    return subprocess.CompletedProcess(["hai-cli", *args], res.exit_code, res.stdout, stderr)


def init_cli(home: Path, url: str, token: str, *, in_process: bool = False) -> None:
    """``hai-cli init TOKEN --url URL`` for ``home`` (``in_process``: with
    :func:`hai_cli_here`); raises if it fails."""
    home.mkdir(parents=True, exist_ok=True)
    res = (hai_cli_here if in_process else hai_cli)(home, "init", token, "--url", url)
    if res.returncode != 0:
        raise RuntimeError(f"hai-cli init failed: {res.stdout}{res.stderr}")
