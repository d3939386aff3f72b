"""The JupyterLab server extension (``/hai/...``) against the real scheduler service.

A real ``jupyter server`` runs with HOME set to a test folder whose ``~/.hai/conf.yaml``
(``hai-cli init``) holds alice's token, as on a laptop; the extension is enabled only by
the package installation. Covered: the extension is listed enabled; Jupyter's own auth on
every endpoint; submit (script and notebook), list, one chain, logs as pages and as a
followed event stream, stop, resubmit; the scheduler's validation messages with their
field; the live ``/hai/events`` stream; the dev-server lease and renew; authz: alice's
server cannot see, follow, stop or resubmit bob's chain; no credentials → 503.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hai_client.rank_env import free_port
from tests.service_helpers import (
    ServiceProcess,
    cli_env,
    hai_cli,
    init_cli,
    scheduler_process,
)

pytestmark = pytest.mark.slow

CONFIG = """\
c.SchedulerApp.tick_seconds = 0.2
c.SchedulerApp.stop_grace_seconds = 3.0
c.LocalBackend.nodes = [
    {"name": "node-a", "group": "default", "gpus": 1},
    {"name": "node-b", "group": "default", "gpus": 1},
    {"name": "j0", "group": "jupyter", "gpus": ["MIG-1", "MIG-2"]},
]
c.DevServerManager.lease_seconds = 600
"""

COUNT = """\
import sys, time
n, pause = int(sys.argv[1]), float(sys.argv[2])
for i in range(1, n + 1):
    print(f"line {i}", flush=True)
    time.sleep(pause)
print("done", flush=True)
"""


# --------------------------------------------------------------------------- helpers


def _venv_script(name: str) -> str:
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else name


@dataclass
class JupyterProcess:
    url: str  # http://127.0.0.1:PORT/
    token: str
    proc: subprocess.Popen
    log_path: Path

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def request(self, method: str, path: str, *, token: bool = True, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"token {self.token}"} if token else {}
        return httpx.request(method, self.url + path, headers=headers, timeout=30, **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return self.request("POST", path, json=body if body is not None else {}, **kw)


@contextlib.contextmanager
def jupyter_process(
    home: Path,
    *,
    app: str = "server",
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    start_timeout: float = 60.0,
) -> Iterator[JupyterProcess]:
    """``jupyter server`` (or ``lab``) on a free loopback port, HOME=home, root_dir=home."""
    port = free_port()
    token = secrets.token_hex(16)
    log_path = home / f"jupyter-{app}-{port}.log"
    full_env = {
        k: v for k, v in cli_env(home).items() if not k.startswith(("JUPYTERHUB_", "JUPYTER_"))
    }
    full_env.update(PYTHONUNBUFFERED="1", **(env or {}))
    cmd = [
        _venv_script(f"jupyter-{app}"),
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={home}",
        "--allow-root",
        *args,
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=str(home)
        )
    jp = JupyterProcess(f"http://127.0.0.1:{port}/", token, proc, log_path)
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter {app} exited ({proc.returncode}):\n{jp.log_tail()}")
            try:
                if jp.get("api/status").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"jupyter {app} did not start:\n{jp.log_tail()}")
            time.sleep(0.2)
        yield jp
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def sse_events(
    jp: JupyterProcess,
    path: str,
    until: Callable[[str, Any], bool],
    *,
    timeout: float = 60.0,
    on_open: Callable[[], None] | None = None,
) -> list[tuple[str, Any]]:
    """Read server-sent events from ``path`` until ``until(event, data)``; all events read."""
    events: list[tuple[str, Any]] = []
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"token {jp.token}", "Accept": "text/event-stream"}
    with httpx.stream(
        "GET", jp.url + path, headers=headers, timeout=httpx.Timeout(timeout, connect=10)
    ) as resp:
        assert resp.status_code == 200, resp.read()
        assert resp.headers["content-type"].startswith("text/event-stream")
        event, data = "message", []
        for line in resp.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "" and data:
                payload = json.loads("\n".join(data))
                events.append((event, payload))
                if event == "hello" and on_open is not None:
                    on_open()
                if until(event, payload):
                    return events
                event, data = "message", []
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; events so far: {events}")
    raise AssertionError(f"the stream ended; events: {events}")


def wait_chain(
    jp: JupyterProcess, ref: Any, check: Callable[[dict], bool], what: str, timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = jp.get(f"hai/chains/{ref}")
        assert r.status_code == 200, r.text
        chain = r.json()
        if check(chain):
            return chain
        if time.monotonic() > deadline:
            raise AssertionError(f"chain {ref} never {what}: {chain}\n{jp.log_tail()}")
        time.sleep(0.2)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    with scheduler_process(tmp_path_factory.mktemp("lab-sched"), config=CONFIG) as svc:
        yield svc


@pytest.fixture(scope="module")
def alice_home(service: ServiceProcess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("alice")
    init_cli(home, service.url, service.tokens["alice"])
    (home / "count.py").write_text(COUNT)
    (home / "work").mkdir()
    (home / "work" / "count.py").write_text(COUNT)
    return home


@pytest.fixture(scope="module")
def bob_home(service: ServiceProcess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("bob")
    init_cli(home, service.url, service.tokens["bob"])
    (home / "count.py").write_text(COUNT)
    return home


@pytest.fixture(scope="module")
def lab(alice_home: Path) -> Iterator[JupyterProcess]:
    """Alice's server; it plays a hub server of user alice for the lease endpoints."""
    with jupyter_process(alice_home, args=("--HaiLabConfig.hub_user=alice",)) as jp:
        yield jp


# --------------------------------------------------------------------------- tests


def test_installing_the_package_enables_both_extensions(alice_home: Path) -> None:
    env = {k: v for k, v in cli_env(alice_home).items() if not k.startswith("JUPYTER")}
    server = subprocess.run(
        [_venv_script("jupyter"), "server", "extension", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    text = server.stdout + server.stderr
    assert "hai_labextension" in text and "hai_labextension  OK" in _plain(text), text
    lab = subprocess.run(
        [_venv_script("jupyter"), "labextension", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "hai-hub v0.1.0 enabled OK (python, hai-hub)" in _plain(lab.stdout + lab.stderr)


def _plain(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_every_endpoint_needs_the_jupyter_login(lab: JupyterProcess) -> None:
    for method, path in [
        ("GET", "hai/status"),
        ("GET", "hai/chains"),
        ("POST", "hai/chains"),
        ("GET", "hai/chains/1"),
        ("POST", "hai/chains/1/stop"),
        ("POST", "hai/chains/1/resubmit"),
        ("GET", "hai/chains/1/logs?follow=1"),
        ("GET", "hai/events"),
        ("GET", "hai/lease"),
        ("POST", "hai/lease/renew"),
        ("GET", "hai/nodes"),
        ("GET", "hai/quota"),
    ]:
        r = lab.request(method, path, token=False)
        assert r.status_code == 403, (method, path, r.status_code)
        bad = httpx.request(
            method, lab.url + path, headers={"Authorization": "token nope"}, timeout=10
        )
        assert bad.status_code == 403, (method, path, bad.status_code)


def test_status_says_who_and_where(lab: JupyterProcess, service: ServiceProcess) -> None:
    st = lab.get("hai/status").json()
    assert st["configured"] and st["error"] is None
    assert st["user"]["name"] == "alice" and st["url"] == service.url
    assert st["source"].endswith(".hai/conf.yaml")
    assert st["hub_user"] == "alice"
    quota = lab.get("hai/quota").json()
    assert quota["name"] == "alice" and "quotas" in quota
    groups = {g["name"]: g for g in lab.get("hai/nodes").json()["groups"]}
    assert groups["default"]["nodes"] == 2


def test_submit_follow_stop_resubmit(lab: JupyterProcess, alice_home: Path) -> None:
    r = lab.post(
        "hai/chains",
        {"path": "work/count.py", "args": "300 0.1", "name": "lab-count", "nodes": "1"},
    )
    assert r.status_code == 201, r.text
    chain = r.json()
    assert chain["name"] == "lab-count" and chain["owner"] == "alice"
    listing = lab.get("hai/chains").json()
    assert chain["id"] in [c["id"] for c in listing["chains"]]
    wait_chain(lab, chain["id"], lambda c: c["state"] == "running", "running")

    # follow the log: lines arrive as events, each with the cursor to resume from
    seen: list[str] = []

    def three_lines(event: str, data: Any) -> bool:
        if event == "lines":
            seen.extend(x["text"] for x in data["lines"])
        return sum(t.startswith("line ") for t in seen) >= 3

    events = sse_events(lab, f"hai/chains/{chain['id']}/logs?follow=1", three_lines)
    assert events[0][0] == "hello" and events[0][1]["chain_id"] == chain["id"]
    assert seen[:3] == ["line 1", "line 2", "line 3"]
    cursor = [d for e, d in events if e == "lines"][-1]["cursor"]
    for _ in range(50):  # the next page starts where the stream left off
        page = lab.get(f"hai/chains/{chain['id']}/logs", params={"cursor": cursor}).json()
        if page["lines"]:
            break
        time.sleep(0.1)
    assert page["lines"] and page["lines"][0]["text"].startswith("line ")
    assert int(page["lines"][0]["text"].split()[1]) > int(seen[-1].split()[1])
    assert page["state"] == "running" and not page["done"]

    # stop it through the extension; a follower then gets the end and "done"
    r = lab.post(f"hai/chains/{chain['id']}/stop")
    assert r.status_code == 200 and r.json()["stop_requested"] is True
    done = sse_events(
        lab, f"hai/chains/{chain['id']}/logs?follow=1&cursor={cursor}", lambda e, d: e == "done"
    )
    assert done[-1][1] == {"state": "finished", "stop_code": "stopped_by_user"}
    final = wait_chain(lab, chain["id"], lambda c: c["state"] == "finished", "finished")
    assert final["stop_code"] == "stopped_by_user"
    assert final["ranks"][0]["node"] in ("node-a", "node-b")
    assert lab.post(f"hai/chains/{chain['id']}/stop").status_code == 409

    # resubmit: the same spec as a new chain
    r = lab.post(f"hai/chains/{chain['id']}/resubmit")
    assert r.status_code == 201, r.text
    again = r.json()
    assert again["id"] != chain["id"] and again["name"] == "lab-count"
    assert lab.post(f"hai/chains/{again['id']}/stop").status_code == 200


def test_submit_a_notebook(lab: JupyterProcess, alice_home: Path) -> None:
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# training"]},
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": ["%matplotlib inline\n", "x = 6 * 7\n"],
            },
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": "!echo shell ran\nprint('answer', x)",
            },
        ],
    }
    (alice_home / "work" / "My Notebook.ipynb").write_text(json.dumps(nb))
    r = lab.post("hai/chains", {"path": "work/My Notebook.ipynb"})
    assert r.status_code == 201, r.text
    chain = r.json()
    assert chain["name"] == "My-Notebook"
    final = wait_chain(lab, chain["id"], lambda c: c["state"] == "finished", "finished")
    assert final["stop_code"] == "succeeded", final
    lines = lab.get(f"hai/chains/{chain['id']}/logs").json()["lines"]
    assert [x["text"] for x in lines] == ["shell ran", "answer 42"]  # !cmd ran, in order
    scripts = list((alice_home / "work" / ".hai").glob("My-Notebook-*.py"))
    assert len(scripts) == 1
    assert "get_ipython().run_line_magic('matplotlib', 'inline')" in scripts[0].read_text()


@pytest.mark.parametrize(
    ("form", "status", "field", "words"),
    [
        ({}, 422, "path", "choose a notebook or a script"),
        ({"path": "missing.py"}, 422, "path", "no such file"),
        ({"path": "../outside.py"}, 422, "path", "outside"),
        ({"path": "hai-cli.log"}, 422, "path", "submit a notebook"),
        ({"path": "count.py", "nodes": "9"}, 422, "node_count", "node"),
        ({"path": "count.py", "nodes": "two"}, 422, "node_count", ""),
        ({"path": "count.py", "priority": "URGENT"}, 422, "priority", "URGENT"),
        ({"path": "count.py", "group": "nope"}, 422, "group", "nope"),
        ({"path": "count.py", "name": "bad name!"}, 422, "name", ""),
        ({"path": "count.py", "args": "'unclosed"}, 422, "args", "quotation"),
    ],
)
def test_validation_messages_name_the_field(
    lab: JupyterProcess, alice_home: Path, form: dict, status: int, field: str, words: str
) -> None:
    (alice_home / "hai-cli.log").write_text("not a script")
    r = lab.post("hai/chains", form)
    assert r.status_code == status, r.text
    body = r.json()
    assert field in (body.get("field") or ""), body
    assert words.lower() in body["error"].lower(), body


def test_bad_requests(lab: JupyterProcess) -> None:
    r = lab.request("POST", "hai/chains", content=b"{not json")
    assert r.status_code == 400 and r.json()["field"] == "body"
    r = lab.get("hai/chains/1/logs", params={"rank": "x"})
    assert r.status_code == 400 and r.json()["field"] == "rank"
    r = lab.get("hai/chains/999999")
    assert r.status_code == 404 and "999999" in r.json()["error"]


def test_events_push_chain_changes(lab: JupyterProcess) -> None:
    submitted: dict[str, Any] = {}

    def submit() -> None:
        r = lab.post("hai/chains", {"path": "count.py", "args": "3 0.05", "name": "evt"})
        assert r.status_code == 201, r.text
        submitted.update(r.json())

    first: dict[str, Any] = {}

    def finished_seen(event: str, data: Any) -> bool:
        if event == "chains":
            if not first:
                first.update(data)
                submit()  # after the first snapshot: the change must be pushed
                return False
            for c in data["chains"]:
                if c["id"] == submitted.get("id") and c["state"] == "finished":
                    return True
        return False

    events = sse_events(lab, "hai/events", finished_seen)
    assert events[0] == ("hello", {"poll_seconds": 2.0})
    assert first["user"] == "alice"
    assert submitted["id"] not in [c["id"] for c in first["chains"]]
    states = [
        c["state"]
        for e, d in events
        if e == "chains"
        for c in d["chains"]
        if c["id"] == submitted["id"]
    ]
    assert states[-1] == "finished" and len(states) >= 2, states
    last = [d for e, d in events if e == "chains"][-1]
    mine = next(c for c in last["chains"] if c["id"] == submitted["id"])
    assert mine["ranks"][0]["state"] == "succeeded" and mine["nodes"]
    assert [e for e, _ in events].count("lease") == 1  # alice has no dev server yet


def test_alice_cannot_act_on_bobs_chain(
    lab: JupyterProcess, bob_home: Path, service: ServiceProcess
) -> None:
    res = hai_cli(bob_home, "python", "count.py", "300", "0.1", "--", "--name", "bobs", "--json")
    assert res.returncode == 0, res.stderr
    bobs = json.loads(res.stdout)["id"]
    for method, path in [
        ("GET", f"hai/chains/{bobs}"),
        ("GET", f"hai/chains/{bobs}/logs"),
        ("GET", f"hai/chains/{bobs}/logs?follow=1"),
        ("POST", f"hai/chains/{bobs}/stop"),
        ("POST", f"hai/chains/{bobs}/resubmit"),
        ("GET", "hai/chains/bobs"),
        ("POST", "hai/chains/bobs/stop"),
    ]:
        r = lab.request(method, path)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
    assert bobs not in [c["id"] for c in lab.get("hai/chains").json()["chains"]]
    status = json.loads(hai_cli(bob_home, "status", str(bobs), "--json").stdout)
    assert status["stop_requested"] is False and status["state"] != "finished"
    assert hai_cli(bob_home, "stop", str(bobs)).returncode == 0


def test_lease_and_renew(lab: JupyterProcess, service: ServiceProcess) -> None:
    assert lab.get("hai/lease").json() == {"lease": None, "hub": True}
    admin = {"Authorization": f"token {service.tokens['admin']}"}
    r = httpx.post(
        f"{service.url}api/v1/devservers",
        json={"user": "alice", "profile": "mig-gpu"},
        headers=admin,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    lease = lab.get("hai/lease").json()["lease"]
    assert lease["user"] == "alice" and lease["profile"] == "mig-gpu" and lease["node"] == "j0"
    assert 0 < lease["lease_seconds_left"] <= 600
    time.sleep(1.1)
    renewed = lab.post("hai/lease/renew").json()["lease"]
    assert renewed["lease_expires_at"] > lease["lease_expires_at"]
    # bob's dev server is not alice's business
    r = httpx.post(
        f"{service.url}api/v1/devservers",
        json={"user": "bob", "profile": "spot"},
        headers=admin,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    assert lab.get("hai/lease").json()["lease"]["user"] == "alice"


def test_without_credentials_the_extension_says_how_to_configure(tmp_path: Path) -> None:
    home = tmp_path / "nobody"
    home.mkdir()
    with jupyter_process(home) as jp:
        st = jp.get("hai/status").json()
        assert st["configured"] is False and "hai-cli init" in st["error"]
        r = jp.get("hai/chains")
        assert r.status_code == 503 and "not configured" in r.json()["error"]
        assert jp.get("hai/lease").json() == {"lease": None, "hub": False}
        assert jp.get("hai/events").status_code == 503


def test_hub_environment_is_used_under_jupyterhub(tmp_path: Path, service: ServiceProcess) -> None:
    """Under the hub: HAI_SCHEDULER_URL + the server's JUPYTERHUB_API_TOKEN, no conf.yaml."""
    home = tmp_path / "hubuser"
    home.mkdir()
    env = {"HAI_SCHEDULER_URL": service.url, "JUPYTERHUB_API_TOKEN": service.tokens["bob"]}
    with jupyter_process(home, env=env) as jp:
        st = jp.get("hai/status").json()
        assert st["configured"] and st["source"] == "hub" and st["user"]["name"] == "bob"
    assert os.environ.get("JUPYTERHUB_API_TOKEN") != service.tokens["bob"]
