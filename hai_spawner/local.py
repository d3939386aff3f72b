"""HaiLocalSpawner: the embedded default dev container, a local process on this machine.

It is JupyterHub's LocalProcessSpawner plus the HAI profiles. Before the server starts it
asks the scheduler for two things: the system account the user's code runs as (the same
one their ranks run as, ``hai-<name>`` made on first use as root; see
``scheduler.backends.local.accounts``), and a MIG slice (``mig-gpu``, with a lease) or a
whole idle training node (``spot``). The server runs as that account in its home, sees
exactly those GPUs through ``CUDA_VISIBLE_DEVICES``, and gives them back when it stops.
It refuses with the scheduler's message when there is no account or nothing is free.

Where the scheduler runs everyone's code as its own account (``SystemAccounts.mode =
"service"``: single-tenant), servers run as the hub's account too, in
``home_dir_template``.
"""

from __future__ import annotations

import html
import os
import sys
from pathlib import Path
from typing import Any

from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
from tornado import web
from traitlets import Unicode, default

from hai_spawner.allocation import InventoryMixin
from hai_spawner.inventory import InventoryError

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: the rc file of dev-container terminals (login profile, ~/.bashrc, platform commands first)
TERMINAL_RC = Path(__file__).resolve().parent / "shell" / "bashrc"


class HaiLocalSpawner(InventoryMixin, LocalProcessSpawner):
    """Local dev container as the user's own account, bound to a MIG slice or a spot node
    from the shared inventory."""

    account: dict[str, Any] | None = None  # from the scheduler: name, uid, gid, home, isolated

    @default("poll_interval")
    def _default_poll_interval(self) -> int:
        return 2  # a process that died shows as stopped within seconds

    home_dir_template = Unicode(
        os.path.join(os.environ.get("HAI_DATA_DIR", "var/hai"), "home", "{username}"),
        help="Homes in single-tenant (service) mode; otherwise the account's own home.",
    ).tag(config=True)

    # -- the spawn form -------------------------------------------------------------------
    @default("options_form")
    def _default_options_form(self) -> str:
        rows = []
        for p in self.profiles:
            checked = " checked" if p.get("default") else ""
            slug = html.escape(p["slug"])
            rows.append(
                f'<label class="hai-profile"><input type="radio" name="profile" value="{slug}"'
                f"{checked}> <strong>{html.escape(p.get('display_name', slug))}</strong>"
                f"<br><small>{html.escape(p.get('description', ''))}</small></label><br>"
            )
        return "\n".join(rows)

    def options_from_form(self, formdata: dict[str, list[str]]) -> dict[str, Any]:
        return {"profile": formdata.get("profile", [self.default_profile()])[0]}

    # -- who the server runs as ---------------------------------------------------------------
    async def start(self) -> Any:
        try:
            self.account = await self.inventory.account(self.user.name)
        except InventoryError as exc:
            raise web.HTTPError(409, f"Cannot start a server for {self.user.name}: {exc}") from None
        return await super().start()

    @property
    def isolated(self) -> bool:
        return bool(self.account and self.account.get("isolated"))

    @property
    def home(self) -> str:
        if self.isolated:
            return self.account["home"]
        return self.home_dir_template.format(username=self.user.name)

    def make_preexec_fn(self, name: str) -> Any:
        if self.isolated:
            return set_user_setuid(self.account["name"])  # uid, gid, groups, then chdir home
        home = self.home

        def enter_home() -> None:  # single-tenant: the hub's own account
            os.makedirs(home, 0o700, exist_ok=True)
            os.chdir(home)

        return enter_home

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        env["HOME"] = self.home
        if self.isolated:
            env["USER"] = env["LOGNAME"] = self.account["name"]
            env["SHELL"] = self.account.get("shell") or "/bin/bash"
        else:
            env["USER"] = self.user.name
            env["SHELL"] = "/bin/bash"
        return env

    def get_args(self) -> list[str]:
        args = super().get_args()
        # terminals: not a login shell (its /etc/profile would reset PATH), see TERMINAL_RC
        args.append(
            f"--ServerApp.terminado_settings=shell_command=/bin/bash --rcfile {TERMINAL_RC} -i"
        )
        if not self.isolated and os.geteuid() == 0:
            args.append("--allow-root")  # single-tenant as root: the hub's own account
        return args

    def move_certs(self, paths: dict[str, str]) -> dict[str, str]:
        return paths  # internal_ssl is not supported by the embedded default

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        if self.account is not None:
            state["hai_account"] = self.account
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.account = state.get("hai_account") or self.account

    # -- life cycle ---------------------------------------------------------------------------

    async def poll(self) -> int | None:
        held = self.allocation is not None
        status = await super().poll()  # clears the state (and our allocation) when dead
        if status is not None and held:
            # the process died underneath: the hub will not call stop(), so give back here
            await self.release()
        return status

    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        # the platform's commands (hai-cli, haienv, uv, jupyter) first, for terminals and
        # kernels alike: the folder of the interpreter the hub runs with
        platform_bin = str(Path(sys.executable).parent)
        env["PATH"] = os.pathsep.join([platform_bin, env.get("PATH") or DEFAULT_PATH])
        env["HAI_PLATFORM_BIN"] = platform_bin  # the terminals' rc file puts it first again
        # each user's own package cache: a shared writable one could be tampered with
        env.setdefault("HAIENV_UV_CACHE_DIR", os.path.join(self.home, ".cache", "uv"))
        env.update(self.allocation_env())
        if self.allocation is not None:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(self.allocation.gpu_ids)
        return env
