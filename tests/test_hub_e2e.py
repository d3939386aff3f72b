"""The whole embedded stack: JupyterHub + proxy + scheduler service + lease culler.

Two users log in and get mig-gpu servers on distinct MIG slices, a third takes a spot node,
a hub token drives hai-cli against the scheduler service, a lease is renewed, a short
lease expires (server stopped, files kept), a server whose process died shows as stopped
at once, and a chain that needs the spot node reclaims it.
"""

from __future__ import annotations

import html
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.browser_helpers import run_browser_script
from tests.hub_helpers import browser_login, kill_everything, running_hub, server_environ

pytestmark = pytest.mark.slow

LEASE = 25  # seconds: short, so expiry happens inside the test
REPO = Path(__file__).resolve().parent.parent


def hai_cli(home: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).with_name("hai-cli")), *args],
        env={**os.environ, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def browser_check(hub, user: str, password: str) -> dict:
    """The hub home page's lease card in chromium (tests/browser/hub_home.mjs)."""
    seen, stderr = run_browser_script(
        "hub_home", {"HUB_URL": hub.url, "HUB_USER": user, "HUB_PASSWORD": password}, timeout=120
    )
    assert seen["ok"], (seen, stderr)
    return seen


def spawn_with_own_token(hub, user: str, profile: str) -> str:
    """``user`` starts their server through the hub's REST API with their own token."""
    token = hub.user_token(user)
    r = httpx.post(
        f"{hub.api}/users/{user}/server",
        json={"profile": profile},
        headers={"Authorization": f"token {token}"},
        timeout=60,
    )
    assert r.status_code in (201, 202), r.text
    hub.wait_server(user)
    return token


class LeaseKeeper:
    """Renews ``user``'s lease every few seconds through the scheduler's REST endpoint (as
    a user at work would) until :meth:`stop`, so however slow a loaded machine makes the
    steps in between, a lease runs out only when the test means it to."""

    def __init__(self, hub, user: str, every: float = 3.0) -> None:
        self.every = every
        self._url = f"{hub.scheduler_url}api/v1/devservers/{user}/renew"
        self._auth = {"Authorization": f"token {hub.user_token(user)}"}
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._renew, daemon=True)
        self._worker.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.every):
            httpx.post(self._url, headers=self._auth, timeout=30)

    def stop(self) -> float:
        """Stop renewing; returns when (time.monotonic()) the last renewal was over."""
        self._stop.set()
        self._worker.join(35)
        return time.monotonic()


def test_hub_dev_containers_leases_and_spot_reclaim(tmp_path):
    with running_hub(
        tmp_path,
        HAI_ADMIN_USER="alice",
        HAI_LEASE_SECONDS=str(LEASE),
        HAI_SPOT_GRACE_SECONDS="3",
        HAI_CULLER_INTERVAL="1",
        SSL_CERT_FILE="/etc/ssl/certs/ca-certificates.crt",  # a company CA reaches servers
    ) as hub:
        # alice logs in through the form and spawns from the spawn form, as a person would
        alice = browser_login(hub, "alice")
        form = alice.get("/hub/spawn")
        assert 'value="mig-gpu"' in form.text and 'value="spot"' in form.text
        action = re.search(r'id="spawn_form"\s+action="([^"]+)"', form.text)
        assert action, "the spawn form posts to its URL (which carries the XSRF token)"
        alice.post(
            html.unescape(action.group(1)), data={"profile": "mig-gpu"}, follow_redirects=False
        )
        hub.wait_server("alice")
        alice_keeps = LeaseKeeper(hub, "alice")
        try:
            _two_servers_a_spot_node_and_an_expiry(hub, tmp_path, alice)
        finally:
            alice_keeps.stop()


def _two_servers_a_spot_node_and_an_expiry(hub, tmp_path: Path, alice) -> None:
    """The rest of the scenario, while alice keeps her lease alive; bob keeps his until
    the test lets it run out."""

    # bob spawns through the REST API with his own token
    bob_token = spawn_with_own_token(hub, "bob", "mig-gpu")
    bob_keeps = LeaseKeeper(hub, "bob")

    a_env, b_env = server_environ(hub.data, "alice"), server_environ(hub.data, "bob")
    # the platform's commands come first on PATH (terminals, kernels); TLS settings pass
    assert a_env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    assert a_env["SSL_CERT_FILE"] == "/etc/ssl/certs/ca-certificates.crt"
    assert "CONFIGPROXY_AUTH_TOKEN" not in a_env and "HAI_SCHEDULER_TOKEN" not in a_env
    assert a_env["HAI_PROFILE"] == b_env["HAI_PROFILE"] == "mig-gpu"
    assert a_env["CUDA_VISIBLE_DEVICES"] != b_env["CUDA_VISIBLE_DEVICES"]
    assert len(a_env["CUDA_VISIBLE_DEVICES"].split(",")) == 1, "exactly one slice"
    (hub.data / "home" / "bob" / "notes.txt").write_text("keep me")

    # the home page shows the lease; renewing through the hub endpoint extends it
    home = alice.get("/hub/home")
    assert 'id="hai-devserver"' in home.text
    xsrf_cookie = alice.cookies.get("_xsrf")
    before = alice.get("/hub/api/hai/devserver/alice").json()
    assert before["profile"] == "mig-gpu" and before["lease_seconds_left"] <= LEASE
    time.sleep(3)
    renewed = alice.post(
        "/hub/api/hai/devserver/alice/renew", headers={"X-XSRFToken": xsrf_cookie or ""}
    )
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["lease_expires_at"] > before["lease_expires_at"]
    # bob cannot look at alice's allocation
    nosy = httpx.get(
        f"{hub.api}/hai/devserver/alice", headers={"Authorization": f"token {bob_token}"}
    )
    assert nosy.status_code == 404

    # ... and in a real browser: the home page card shows the slice and renews the lease
    seen = browser_check(hub, "alice", hub.password("alice"))
    assert seen["profile"] == "mig-gpu"
    assert seen["gpus"] == a_env["CUDA_VISIBLE_DEVICES"]
    assert seen["lease_after"] != seen["lease_before"] and seen["error_hidden"]

    # a hub token works with hai-cli against the scheduler service
    home_dir = tmp_path / "dave-home"
    dave_token = hub.user_token("dave")
    out = hai_cli(home_dir, "init", dave_token, "--url", hub.scheduler_url)
    assert out.returncode == 0, out.stderr
    who = hai_cli(home_dir, "whoami")
    assert who.returncode == 0 and "dave" in who.stdout, who.stdout + who.stderr

    # carol takes the only training node as a spot server
    spawn_with_own_token(hub, "carol", "spot")
    c_env = server_environ(hub.data, "carol")
    assert c_env["HAI_PROFILE"] == "spot"
    assert len(c_env["CUDA_VISIBLE_DEVICES"].split(",")) == 8, "the whole node"

    # hub admins are the scheduler's admins: alice (admin) sees every allocation,
    # dave (a user) only his own (none)
    alice_token = hub.user_token("alice")
    listing = httpx.get(
        hub.scheduler_url + "api/v1/devservers",
        headers={"Authorization": f"token {alice_token}"},
    ).json()
    assert {d["user"] for d in listing["devservers"]} == {"alice", "bob", "carol"}
    mine = httpx.get(
        hub.scheduler_url + "api/v1/devservers",
        headers={"Authorization": f"token {dave_token}"},
    ).json()
    assert mine["devservers"] == []

    # alice renews through the scheduler's REST endpoint with her hub token
    again = httpx.post(
        hub.scheduler_url + "api/v1/devservers/alice/renew",
        headers={"Authorization": f"token {alice_token}"},
        timeout=30,
    )
    assert again.status_code == 200, again.text
    assert again.json()["lease_expires_at"] > renewed.json()["lease_expires_at"]

    # bob stops renewing: his lease runs out, the culler stops his server, files stay
    bob_stopped = bob_keeps.stop()
    hub.wait_server("bob", ready=False, timeout=LEASE + 60)
    assert time.monotonic() - bob_stopped >= LEASE - bob_keeps.every - 1
    assert (hub.data / "home" / "bob" / "notes.txt").read_text() == "keep me"
    with hub.admin() as c:
        assert c.get(f"{hub.api}/users/alice").json()["servers"][""]["ready"], (
            "alice kept renewing, so she is still running"
        )

    # dave submits a chain that needs the training node: carol's spot server is reclaimed
    script = tmp_path / "train.py"
    script.write_text("print('training on', __import__('os').environ['HAI_NODE'])\n")
    sub = hai_cli(
        home_dir,
        "python",
        str(script),
        "--",
        "-n",
        "1",
        "--group",
        "default",
        "--name",
        "needs-node",
    )
    assert sub.returncode == 0, sub.stdout + sub.stderr
    hub.wait_server("carol", ready=False, timeout=40)
    deadline = time.monotonic() + 90
    status = None
    while time.monotonic() < deadline:
        status = hai_cli(home_dir, "status", "needs-node", "--json")
        if '"finished"' in status.stdout:
            break
        time.sleep(1)
    assert status is not None and '"finished"' in status.stdout, status.stdout
    assert '"succeeded"' in status.stdout
    logs = hai_cli(home_dir, "logs", "needs-node")
    assert "training on local-0" in logs.stdout

    # a server process that dies underneath shows as stopped in the hub at once
    pid = int(server_environ(hub.data, "alice")["_pid"])
    os.kill(pid, signal.SIGKILL)
    t_kill = time.monotonic()
    hub.wait_server("alice", ready=False, timeout=15)
    assert time.monotonic() - t_kill < 10
    # ... and its slice went back to the inventory
    left = httpx.get(
        hub.scheduler_url + "api/v1/devservers",
        headers={"Authorization": f"token {hub.user_token('alice')}"},
    ).json()
    assert [d["user"] for d in left["devservers"]] == []


def spawn(hub, user: str, timeout: float = 60) -> None:
    """Start ``user``'s mig-gpu server through the REST API, retrying while it is refused."""
    deadline = time.monotonic() + timeout
    with hub.admin() as c:
        c.post(f"{hub.api}/users/{user}")
        while True:
            r = c.post(f"{hub.api}/users/{user}/server", json={"profile": "mig-gpu"})
            if r.status_code in (201, 202):
                hub.wait_server(user)
                return
            assert time.monotonic() < deadline, (r.status_code, r.text, hub.log()[-2000:])
            time.sleep(1)


def test_an_abrupt_stop_leaves_no_stale_allocation(tmp_path):
    """kill -9 of the whole platform with servers running, then start it again: the slices
    of servers that no longer exist come back, and the next user gets one."""
    env = {
        "HAI_SIM_MIG_SLICES": "2",
        "HAI_CULLER_INTERVAL": "1",
        "HAI_ORPHAN_GRACE_SECONDS": "3",
    }
    with running_hub(tmp_path, **env) as hub:
        spawn(hub, "alice")
        spawn(hub, "bob")
        with hub.admin() as c:
            r = c.post(f"{hub.api}/users/carol")
            r = c.post(f"{hub.api}/users/carol/server", json={"profile": "mig-gpu"})
        assert r.status_code not in (201, 202) or "no free MIG slice" in hub.log(), r.text
        kill_everything(hub.data)
        hub.proc.wait(10)
    with running_hub(tmp_path, **env) as hub:
        t0 = time.monotonic()
        spawn(hub, "carol", timeout=40)
        assert time.monotonic() - t0 < 40
        token = hub.user_token("carol")
        held = httpx.get(
            hub.scheduler_url + "api/v1/devservers",
            headers={"Authorization": f"token {hub.admin_token}"},
        )
        users = {
            d["user"]
            for d in httpx.get(
                hub.scheduler_url + "api/v1/devservers",
                headers={"Authorization": f"token {token}"},
            ).json()["devservers"]
        }
        assert users == {"carol"}, (users, held.text)
