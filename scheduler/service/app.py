"""The scheduler service process: configuration (traitlets), start-up, and the ``up`` command.

``hai-scheduler`` runs the loop (reconcile → decide → act) and the HTTP API in one
tornado process. ``hai-scheduler up`` does the same on embedded defaults and makes sure
the person running it has a user and a token to ``hai-cli init`` with.
"""

from __future__ import annotations

import asyncio
import functools
import getpass
import logging
import math
import os
import signal
import threading
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from traitlets import Bool, Dict, Float, Integer, TraitError, Unicode, default, validate
from traitlets import Type as TypeTrait
from traitlets.config import Application, catch_config_error

from hai_client.config import DEFAULT_PORT
from scheduler.accounting.fold import UsageAccountant
from scheduler.backends.base import Backend
from scheduler.backends.local.backend import LocalBackend
from scheduler.model import accounts
from scheduler.model.db import open_database
from scheduler.service import queries
from scheduler.service.devservers import DevServerManager
from scheduler.service.fairshare import UsageCache
from scheduler.service.loop import SchedulerLoop
from scheduler.service.metrics import SchedulerMetrics


class SchedulerApp(Application):
    """The HAI scheduler service."""

    name = "hai-scheduler"
    description = "Time-shared training scheduler: API + scheduling loop."
    config_file_name = Unicode("hai_scheduler_config.py", help="Config file to load.").tag(
        config=True
    )

    data_dir = Unicode(help="Where the database, logs and rank control files live.").tag(
        config=True
    )

    @default("data_dir")
    def _default_data_dir(self) -> str:
        return os.environ.get("HAI_DATA_DIR", str(Path.cwd() / "var" / "hai"))

    db_url = Unicode(help="SQLAlchemy URL; default: a SQLite file in data_dir.").tag(config=True)

    @default("db_url")
    def _default_db_url(self) -> str:
        return (
            os.environ.get("HAI_DB_URL") or f"sqlite:///{Path(self.data_dir) / 'scheduler.sqlite'}"
        )

    ip = Unicode("127.0.0.1", help="Address the API listens on.").tag(config=True)
    port = Integer(DEFAULT_PORT, help="Port the API listens on (0 = pick a free one).").tag(
        config=True
    )
    base_url = Unicode(
        help="URL prefix of every endpoint (default: $JUPYTERHUB_SERVICE_PREFIX or /)."
    ).tag(config=True)

    @default("base_url")
    def _default_base_url(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")

    port_file = Unicode("", help="If set, write the bound port here once listening.").tag(
        config=True
    )

    backend_class = TypeTrait(LocalBackend, klass=Backend, help="Where ranks run.").tag(config=True)
    authenticator_class = TypeTrait(
        "scheduler.service.auth.TokenAuthenticator",
        klass="scheduler.service.auth.Authenticator",
        help="How API requests are authenticated.",
    ).tag(config=True)

    tick_seconds = Float(0.5, help="Longest pause between two scheduling cycles.").tag(config=True)
    catalog_refresh_seconds = Float(
        10.0,
        help="The loop re-reads nodes, quotas and users when the API notes a change, and at "
        "least this often (for writers outside this process).",
    ).tag(config=True)
    reasons_refresh_seconds = Float(
        30.0,
        help="A cycle walks the queue only as far as anything can start or preempt; the "
        "reasons of the chains behind that point are refreshed by a complete walk once the "
        "queue settles, and at least this often while it keeps changing.",
    ).tag(config=True)
    queue_resync_seconds = Float(
        300.0,
        help="The loop re-reads chains the API names as changed; every this many seconds it "
        "also re-reads the whole queue, for writers outside this process.",
    ).tag(config=True)
    gc_freeze_queue = Integer(
        10_000,
        help="With at least this many chains queued, each full read of the queue is followed "
        "by one garbage collection and a freeze of what survives (gc.freeze), so CPython's "
        "full collections do not walk the queue again (80-130 ms pauses at 100,000 chains); "
        "0: never.",
    ).tag(config=True)
    node_sync_seconds = Float(
        60.0, help="How often the node table is refreshed from the backend (new, gone nodes)."
    ).tag(config=True)
    suspend_grace_seconds = Float(
        60.0, help="How long a suspended chain may checkpoint before its ranks are stopped."
    ).tag(config=True)
    stop_grace_seconds = Float(
        10.0, help="How long a stopped rank gets after SIGTERM before SIGKILL."
    ).tag(config=True)
    min_run_seconds = Float(
        0.0, help="A chain that has run less than this is never preempted."
    ).tag(config=True)
    aging_seconds = Float(
        0.0, help="Waiting this long raises a pending chain's priority by one level (0 = off)."
    ).tag(config=True)
    aging_max_priority = Unicode("HIGH", help="Aging never lifts a chain above this.").tag(
        config=True
    )
    default_quota = Dict(
        help="Limits where no quota row exists, e.g. {'NORMAL': 4, 'node': 16}; missing: unlimited."
    ).tag(config=True)
    fair_share_half_life_seconds = Float(
        0.0,
        help="Fair share: recent GPU usage orders chains of the same priority, a GPU-second "
        "counting half as much every this many seconds (0 = off).",
    ).tag(config=True)
    fair_share_user_weight = Float(
        1.0, help="Fair share: weight of a user's own usage / share in the score."
    ).tag(config=True)
    fair_share_group_weight = Float(
        1.0, help="Fair share: weight of the user's group's usage / share in the score."
    ).tag(config=True)
    fair_share_user_shares = Dict(
        value_trait=Float(), help="Fair share: shares of users, e.g. {'alice': 2}; missing: 1."
    ).tag(config=True)
    fair_share_group_shares = Dict(
        value_trait=Float(), help="Fair share: shares of groups, e.g. {'lab': 3}; missing: 1."
    ).tag(config=True)

    @validate("fair_share_half_life_seconds", "fair_share_user_weight", "fair_share_group_weight")
    def _check_fair_share_number(self, proposal: Any) -> float:
        value = proposal["value"]
        if not math.isfinite(value) or value < 0:
            raise TraitError(f"{proposal['trait'].name} must be finite and >= 0, not {value!r}")
        return value

    @validate("fair_share_user_shares", "fair_share_group_shares")
    def _check_fair_share_shares(self, proposal: Any) -> dict[str, float]:
        for name, share in proposal["value"].items():
            if not math.isfinite(share) or share <= 0:
                raise TraitError(f"{proposal['trait'].name}[{name!r}] must be > 0, not {share!r}")
        return proposal["value"]

    first_user = Unicode(help="`up` creates this admin user (default: your login name).").tag(
        config=True
    )

    @default("first_user")
    def _default_first_user(self) -> str:
        return os.environ.get("HAI_USER") or getpass.getuser()

    embedded = Bool(False, help="Set by `up`: print how to connect once started.")

    subcommands = {
        "up": (
            "scheduler.service.app.UpApp",
            "Start on embedded defaults and print how to connect hai-cli.",
        ),
    }

    aliases = {
        "ip": "SchedulerApp.ip",
        "port": "SchedulerApp.port",
        "data-dir": "SchedulerApp.data_dir",
        "db-url": "SchedulerApp.db_url",
        "base-url": "SchedulerApp.base_url",
        "config": "SchedulerApp.config_file_name",
        "port-file": "SchedulerApp.port_file",
        "log-level": "Application.log_level",
    }

    session_factory: sessionmaker[Session]
    backend: Backend
    devservers: DevServerManager
    metrics: SchedulerMetrics
    inventory_lock: threading.Lock
    usage_cache: UsageCache
    loop: SchedulerLoop
    accountant: UsageAccountant
    authenticator: Any

    @catch_config_error
    def initialize(self, argv: list[str] | None = None) -> None:
        super().initialize(argv)
        if self.subapp is not None:
            return
        os.umask(0o077)  # the service's files are its own (see init_data_dir)
        one_line_log_records()
        if self.config_file_name and Path(self.config_file_name).exists():
            self.load_config_file(self.config_file_name)
        self.init_core()
        self.authenticator = self.authenticator_class(parent=self, app=self)

    def init_core(self) -> None:
        """Database, backend and loop: everything but the HTTP side."""
        self.init_data_dir()
        self.session_factory = open_database(self.db_url)
        self.backend = self.backend_class(parent=self, data_dir=self.data_dir)
        self.backend.rank_states = functools.partial(queries.rank_states, self.session_factory)
        self.devservers = DevServerManager(parent=self)
        self.metrics = SchedulerMetrics(
            parent=self, session_factory=self.session_factory, backend=self.backend
        )
        self.inventory_lock = threading.Lock()
        self.usage_cache = UsageCache()  # fair share's folded usage, kept between cycles
        self.loop = SchedulerLoop(parent=self, app=self)
        self.accountant = UsageAccountant(parent=self)
        self.loop.sync_nodes()
        self.log.info("%s", self.backend.describe())

    def init_data_dir(self) -> None:
        """The data folder can be crossed (0711) but not listed, so ranks reach their own
        task folders and nothing else (the service process's umask is 077: what it creates
        there, the database, tokens and rank specs, is its own)."""
        data = Path(self.data_dir)
        data.mkdir(parents=True, exist_ok=True)
        data.chmod(0o711)

    def ensure_first_user(self) -> str | None:
        """Create the first admin and return a new token for them, if no user exists yet."""
        with self.session_factory.begin() as s:
            if accounts.get_user(s, self.first_user) is not None:
                return None
            user = accounts.create_user(s, self.first_user, admin=True)
            return accounts.issue_token(s, user, note="created by hai-scheduler up")

    def start(self) -> None:
        if self.subapp is not None:
            self.subapp.start()
            return
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        from scheduler.service.web import listen, make_web_app

        web = make_web_app(self)
        server = listen(web, self.port, self.ip, xheaders=True)
        port = next(iter(server._sockets.values())).getsockname()[1]
        url = f"http://{self.ip}:{port}{self.base_url}"
        self.log.info("hai-scheduler listening on %s (database %s)", url, self.db_url)
        if self.port_file:
            Path(self.port_file).write_text(str(port))
        if self.embedded:
            token = self.ensure_first_user()
            print(f"\nHAI scheduler is up at {url}")
            if token:
                print(f"Connect with:\n  hai-cli init {token} --url {url}\n", flush=True)
            else:
                print(
                    f"User {self.first_user!r} exists already; reuse your ~/.hai/conf.yaml.\n",
                    flush=True,
                )
        stop = asyncio.Event()
        running = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            running.add_signal_handler(sig, stop.set)
        task = asyncio.create_task(self.loop.run())
        usage = asyncio.create_task(self.accountant.run(self.session_factory, self.loop.clock))
        await stop.wait()
        self.log.info("hai-scheduler stopping (ranks keep running and are adopted on restart)")
        task.cancel()
        usage.cancel()
        server.stop()


def one_line_log_records() -> None:
    """Every log record of this process is one line: a CR or LF that came from a request
    (a ``%0A`` in a URL, a field name, a user name) is written as ``\\n``, so nobody can
    forge a line in the service's log. Tracebacks (``exc_info``) keep their lines."""
    make = logging.getLogRecordFactory()
    if getattr(make, "one_line", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        message = record.getMessage()
        if "\n" in message or "\r" in message:
            record.msg = message.replace("\r", "\\r").replace("\n", "\\n")
            record.args = None
        return record

    factory.one_line = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class UpApp(SchedulerApp):
    """``hai-scheduler up``: the embedded default (local processes, SQLite)."""

    name = "hai-scheduler-up"
    subcommands = {}

    @catch_config_error
    def initialize(self, argv: list[str] | None = None) -> None:
        self.embedded = True
        super().initialize(argv)


def main(argv: list[str] | None = None) -> None:
    SchedulerApp.launch_instance(argv)


if __name__ == "__main__":
    main()
