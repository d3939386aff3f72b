"""Start the real HAI hub (JupyterHub + configurable-http-proxy + scheduler + culler) for tests.

The hub runs from the repository's own ``jupyterhub_config.py`` with ``HAI_*`` variables
pointing it at free ports and a fresh data folder; a test-only admin service token is
added through a small config file that loads the real one first.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hai_client.rank_env import free_port

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Hub:
    url: str  # http://127.0.0.1:PORT
    data: Path
    admin_token: str
    admin_name: str
    admin_password: str
    proc: subprocess.Popen
    log_path: Path
    passwords: dict[str, str] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return self.url + "/hub/api"

    @property
    def scheduler_url(self) -> str:
        return self.url + "/services/hai-scheduler/"

    def admin(self) -> httpx.Client:
        return httpx.Client(headers={"Authorization": f"token {self.admin_token}"}, timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def add_user(self, name: str, *, admin: bool = False) -> str:
        """An approved account with a fresh password (through the hub's admin API)."""
        password = "pw-" + secrets.token_hex(8)
        with self.admin() as c:
            r = c.post(f"{self.api}/hai/users/{name}", json={"password": password, "admin": admin})
            assert r.status_code == 201, r.text
        self.passwords[name] = password
        return password

    def password(self, name: str) -> str:
        """``name``'s password, adding the account on first use."""
        if name == self.admin_name:
            return self.admin_password
        return self.passwords.get(name) or self.add_user(name)

    def user_token(self, name: str) -> str:
        with self.admin() as c:
            c.post(f"{self.api}/users/{name}")  # create if missing (409 if it exists)
            r = c.post(f"{self.api}/users/{name}/tokens", json={"note": "test"})
            r.raise_for_status()
            return r.json()["token"]

    def wait_server(self, name: str, ready: bool = True, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self.admin() as c:
            while time.monotonic() < deadline:
                model = c.get(f"{self.api}/users/{name}").json()
                server = (model.get("servers") or {}).get("")
                if ready and server and server.get("ready"):
                    return server
                if not ready and not server:
                    return {}
                time.sleep(0.3)
        raise AssertionError(
            f"server of {name} not {'ready' if ready else 'stopped'} in {timeout} s\n"
            + self.log()[-3000:]
        )


@contextlib.contextmanager
def running_hub(tmp: Path, extra_config: str = "", **env: str) -> Iterator[Hub]:
    data = tmp / "hub-data"
    data.mkdir(parents=True, exist_ok=True)  # exists: the same platform starting again
    port = free_port()
    admin_token = secrets.token_hex(16)
    admin_password = "hai-admin-" + secrets.token_hex(16)
    cfg = tmp / "test_jupyterhub_config.py"
    cfg.write_text(
        f"load_subconfig({str(REPO / 'jupyterhub_config.py')!r})\n"
        "c.JupyterHub.services.append({'name': 'test-admin', 'api_token': %r})\n"
        "c.JupyterHub.load_roles.append({'name': 'test-admin', 'scopes': ['admin-ui', "
        "'admin:users', 'admin:servers', 'tokens', 'read:users'], 'services': ['test-admin']})\n"
        % admin_token
        + extra_config
    )
    full_env = {
        **os.environ,
        "HAI_DATA_DIR": str(data),
        "HAI_HUB_PORT": str(port),
        "HAI_HUB_API_PORT": str(free_port()),
        "HAI_PROXY_API_PORT": str(free_port()),
        "HAI_SCHEDULER_PORT": str(free_port()),
        "HAI_HUB_ADMIN_PASSWORD": admin_password,
        "HAI_ADMIN_USER": "hubadmin",
        "HAI_RUN_AS": "service",  # single-tenant unless a test is about isolation
        **env,
    }
    log_path = tmp / "hub.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("jupyterhub")), "-f", str(cfg)],
            cwd=tmp,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    hub = Hub(
        f"http://127.0.0.1:{port}",
        data,
        admin_token,
        full_env["HAI_ADMIN_USER"],
        admin_password,
        proc,
        log_path,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                ok_hub = httpx.get(hub.api + "/", timeout=2).status_code == 200
                ok_sched = httpx.get(hub.scheduler_url + "api/v1/", timeout=2).status_code == 200
                if ok_hub and ok_sched:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise AssertionError("hub exited:\n" + hub.log()[-3000:])
            time.sleep(0.3)
        else:
            raise AssertionError("hub did not come up:\n" + hub.log()[-3000:])
        yield hub
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        _kill_leftovers(data)


def kill_everything(data: Path) -> None:
    """kill -9 every process of the platform under ``data`` (hub, proxy, services, servers,
    supervisors), as a power cut would."""
    _kill_leftovers(data)


def _kill_leftovers(data: Path) -> None:
    """Single-user servers, rank supervisors and the hub's services started under ``data``
    (new sessions)."""
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            # HOME or paths in the environment; the hub's services name it in their argv
            seen = (pid_dir / "environ").read_bytes() + (pid_dir / "cmdline").read_bytes()
        except OSError:
            continue
        if str(data).encode() in seen and int(pid_dir.name) != os.getpid():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(pid_dir.name), signal.SIGKILL)


def server_environ(data: Path, user: str, home: Path | None = None) -> dict[str, str]:
    """The environment of ``user``'s running single-user server process (``home``: where
    its HOME is; default the single-tenant homes under ``data``)."""
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            cmd = (pid_dir / "cmdline").read_bytes()
            if b"jupyterhub-singleuser" not in cmd:
                continue
            raw = (pid_dir / "environ").read_bytes()
        except OSError:
            continue
        env = dict(
            item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item
        )
        if env.get("JUPYTERHUB_USER") == user and env.get("HOME") == str(
            home or data / "home" / user
        ):
            env["_pid"] = pid_dir.name
            return env
    raise AssertionError(f"no running server process for {user}")


def browser_login(hub: Hub, name: str, password: str | None = None) -> httpx.Client:
    """Log in through the hub's login form, as a person would; returns the cookie session."""
    client = httpx.Client(base_url=hub.url, follow_redirects=True, timeout=60)
    page = client.get("/hub/login")
    xsrf = re.search(r'name="_xsrf"\s*value="([^"]+)"', page.text)
    form = {"username": name, "password": password or hub.password(name)}
    if xsrf:
        form["_xsrf"] = xsrf.group(1)
    resp = client.post("/hub/login", data=form)
    assert resp.status_code == 200, resp.text[:500]
    assert "jupyterhub-session-id" in client.cookies or client.cookies, "no session cookie"
    return client
