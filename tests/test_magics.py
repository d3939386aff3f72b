"""``%hai`` magics and the ``%hai watch`` widget in a real IPython kernel.

The real ``hai-scheduler`` runs chains with the local backend; an ipykernel (started with
jupyter_client, HOME set to alice's test folder holding ``~/.hai/conf.yaml``) loads the
magics, submits a script and a cell, reads status, list and logs, stops a chain, and shows
the monitor widget, whose comm messages (the widget models the frontend would render)
are checked: state and log updates, and its Stop button clicked through the comm.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel

from tests.service_helpers import ServiceProcess, cli_env, hai_cli, init_cli, scheduler_process

pytestmark = pytest.mark.slow

CONFIG = """\
c.SchedulerApp.tick_seconds = 0.2
c.SchedulerApp.stop_grace_seconds = 3.0
c.LocalBackend.nodes = [
    {"name": "node-a", "group": "default", "gpus": 1},
    {"name": "node-b", "group": "default", "gpus": 1},
]
"""

COUNT = """\
import os, sys, time
n, pause = int(sys.argv[1]), float(sys.argv[2])
for i in range(1, n + 1):
    print(f"rank {os.environ.get('RANK')} line {i}", flush=True)
    time.sleep(pause)
print("done", flush=True)
"""


@dataclass
class Reply:
    stdout: str = ""
    stderr: str = ""
    results: list[dict[str, Any]] = field(default_factory=list)  # execute_result data
    error: dict[str, Any] | None = None
    comms: list[dict[str, Any]] = field(default_factory=list)  # comm_open / comm_msg

    @property
    def text(self) -> str:
        return "".join(r.get("text/plain", "") for r in self.results)

    @property
    def html(self) -> str:
        return "".join(r.get("text/html", "") for r in self.results)


class Kernel:
    """A kernel client that runs code and gathers what it printed and displayed."""

    def __init__(self, km: KernelManager, kc: BlockingKernelClient) -> None:
        self.km, self.kc = km, kc
        self.comms: list[dict[str, Any]] = []  # every comm message seen, in order

    def run(self, code: str, timeout: float = 90) -> Reply:
        msg_id = self.kc.execute(code)
        reply = Reply()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out running {code!r}: {reply}")
            try:
                msg = self.kc.get_iopub_msg(timeout=left)
            except queue.Empty:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind in ("comm_open", "comm_msg"):
                entry = {"type": kind, **content}
                self.comms.append(entry)
                reply.comms.append(entry)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if kind == "stream":
                if content["name"] == "stdout":
                    reply.stdout += content["text"]
                else:
                    reply.stderr += content["text"]
            elif kind in ("execute_result", "display_data"):
                reply.results.append(content["data"])
            elif kind == "error":
                reply.error = content
            elif kind == "status" and content["execution_state"] == "idle":
                break
        while True:  # the execute_reply says whether the cell failed (what "run all" reads)
            shell = self.kc.get_shell_msg(timeout=30)
            if shell["parent_header"].get("msg_id") == msg_id:
                if shell["content"]["status"] == "error":
                    reply.error = shell["content"]
                return reply

    def ok(self, code: str, timeout: float = 90) -> Reply:
        reply = self.run(code, timeout)
        assert reply.error is None, (code, reply.error, reply.stdout, reply.stderr)
        return reply

    def drain(self, seconds: float) -> None:
        """Collect comm messages sent from the kernel's background threads."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = self.kc.get_iopub_msg(timeout=min(left, 0.2))
            except queue.Empty:
                continue
            if msg["msg_type"] in ("comm_open", "comm_msg"):
                self.comms.append({"type": msg["msg_type"], **msg["content"]})

    def send_comm(self, comm_id: str, data: dict[str, Any]) -> None:
        msg = self.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
        self.kc.shell_channel.send(msg)


def _start_kernel(home: Path) -> tuple[KernelManager, BlockingKernelClient]:
    env = {k: v for k, v in cli_env(home).items() if not k.startswith("JUPYTER")}
    env["HF_ENV_NAME"] = ""  # no haienv: chains run with the scheduler's python
    return start_new_kernel(kernel_name="python3", startup_timeout=60, env=env, cwd=str(home))


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    with scheduler_process(tmp_path_factory.mktemp("magics-sched"), config=CONFIG) as svc:
        yield svc


@pytest.fixture(scope="module")
def home(service: ServiceProcess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("alice")
    init_cli(home, service.url, service.tokens["alice"])
    (home / "count.py").write_text(COUNT)
    return home


@pytest.fixture(scope="module")
def kernel(home: Path) -> Iterator[Kernel]:
    km, kc = _start_kernel(home)
    try:
        k = Kernel(km, kc)
        k.ok("%load_ext hai_client.magics")
        yield k
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


# --------------------------------------------------------------------------- tests


def test_submit_a_script_then_read_it(kernel: Kernel, home: Path) -> None:
    r = kernel.ok("%hai submit count.py 4 0.05 -- -n 2 --name magic-line --priority HIGH")
    assert "Submitted chain" in r.stdout and "'magic-line' (2 node(s), HIGH" in r.stdout
    assert not r.results  # nothing echoed as Out[]

    r = kernel.ok("%hai logs magic-line -f")
    lines = r.stdout.splitlines()
    texts = [x for x in lines if " line " in x]
    assert len(texts) == 4, lines
    for i, text in enumerate(texts, 1):
        assert text.endswith(f"rank 0 line {i}") and text[:4].isdigit(), text  # time first
    assert lines[-1].endswith("finished (succeeded)")
    r = kernel.ok("%hai logs magic-line --rank 1")
    assert "rank 1 line 4" in r.stdout

    r = kernel.ok("%hai status magic-line")
    assert len(r.results) == 1, "shown once (rich must not display its text table too)"
    assert "magic-line" in r.text and "finished" in r.text
    assert "<b>magic-line</b>" in r.html and "finished (succeeded)" in r.html
    assert r.html.count("<tr>") == 3  # header + 2 ranks
    r = kernel.ok("view = %hai status magic-line\nprint(view.state, view.chain.node_count)")
    assert r.stdout.strip() == "finished 2"

    r = kernel.ok("%hai list")
    assert len(r.results) == 1, r.results
    assert "magic-line" in r.text and "page 1 of 1" in r.text
    assert "magic-line" in r.html
    assert "magic-line" in kernel.ok("%hai list --state finished").text
    assert "magic-line" not in kernel.ok("%hai list --state running").text

    # the scheduler saw what hai-cli would have submitted
    status = json.loads(hai_cli(home, "status", "magic-line", "--json").stdout)
    assert status["owner"] == "alice" and status["node_count"] == 2
    assert status["priority"] == "HIGH"


def test_submit_a_cell(kernel: Kernel, home: Path) -> None:
    cell = "%%hai submit --name cellular\nimport os\nprint('cell says', 6 * 7, os.getcwd())\n"
    r = kernel.ok(cell)
    assert "Submitted chain" in r.stdout and "'cellular'" in r.stdout
    r = kernel.ok("%hai logs cellular -f")
    assert f"cell says 42 {home}" in r.stdout
    r = kernel.ok("%%hai submit --name followed -f\nprint('followed', 1)\n")
    assert "'followed'" in r.stdout and "followed 1" in r.stdout
    assert "finished (succeeded)" in r.stdout
    assert "finished (succeeded)" in r.stdout
    scripts = list((home / ".hai").glob("cellular-*.py"))
    assert len(scripts) == 1 and "6 * 7" in scripts[0].read_text()
    again = kernel.ok(cell)  # same cell, same script file: nothing overwritten
    assert "Submitted chain" in again.stdout
    assert len(list((home / ".hai").glob("cellular-*.py"))) == 1


def test_errors_are_one_line(kernel: Kernel) -> None:
    cases = {
        "%hai status no-such-chain": "no-such-chain",
        "%hai submit missing.py": "no such file: missing.py",
        "%hai submit count.py 1 0 -- -n 9": "node",
        "%hai submit count.py -- --priority URGENT": "URGENT",
        "%hai submit count.py ++": "++",
        "%hai bogus": "No such command",
        "%hai logs": "Missing argument",
        "%%hai status x\nprint(1)": "only submits",
        "%%hai submit --name empty\n\n": "empty",
    }
    for code, words in cases.items():
        r = kernel.run(code)
        assert r.error is not None, code
        assert r.error["ename"] == "UsageError", (code, r.error)
        assert words in r.error["evalue"], (code, r.error["evalue"])
    r = kernel.ok("%hai")
    assert "submit" in r.stdout and "watch" in r.stdout  # usage
    r = kernel.ok("%hai submit --help")
    assert "--priority" in r.stdout


def _models(comms: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """comm id → the widget model's latest state, replaying opens and updates."""
    models: dict[str, dict[str, Any]] = {}
    for m in comms:
        data = m.get("data") or {}
        if m["type"] == "comm_open" and m.get("target_name") == "jupyter.widget":
            models[m["comm_id"]] = dict(data.get("state") or {})
        elif m["type"] == "comm_msg" and data.get("method") == "update":
            models.setdefault(m["comm_id"], {}).update(data.get("state") or {})
    return models


def _by_class(models: dict[str, dict[str, Any]], cls: str) -> dict[str, Any]:
    found = [s for s in models.values() if cls in (s.get("_dom_classes") or [])]
    assert len(found) == 1, (cls, found)
    return found[0]


def _wait_models(kernel: Kernel, check: Any, what: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        models = _models(kernel.comms)
        try:
            if check(models):
                return models
        except AssertionError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the widget never showed {what}: {models}")
        kernel.drain(0.5)


def test_watch_widget_updates_and_stops_the_chain(kernel: Kernel, home: Path) -> None:
    kernel.ok("%hai submit count.py 300 0.1 -- --name watched")
    kernel.comms.clear()
    r = kernel.ok("monitor = %hai watch watched --lines 5\nmonitor")
    assert any("application/vnd.jupyter.widget-view+json" in d for d in r.results)
    models = _models(kernel.comms)
    vbox = [s for s in models.values() if "hai-monitor" in (s.get("_dom_classes") or [])]
    assert vbox and vbox[0]["_model_name"] == "VBoxModel" and len(vbox[0]["children"]) == 4
    assert _by_class(models, "hai-monitor-state")["_model_name"] == "HTMLModel"

    # while the kernel is idle, the monitor's thread pushes state and log updates
    def running_with_lines(m: dict) -> bool:
        state = _by_class(m, "hai-monitor-state")["value"]
        log = _by_class(m, "hai-monitor-log")["value"]
        return "running" in state and "rank 0 line 3" in log

    models = _wait_models(kernel, running_with_lines, "the chain running with log lines")
    assert "node-" in _by_class(models, "hai-monitor-ranks")["value"]
    r = kernel.ok("print(1 + 1)")  # the kernel is not blocked by the monitor
    assert r.stdout.strip() == "2"

    # click Stop the way the frontend does: a "click" event on the button's comm
    button = next(
        cid
        for cid, s in models.items()
        if s.get("_model_name") == "ButtonModel" and s.get("description") == "Stop"
    )
    kernel.send_comm(button, {"method": "custom", "content": {"event": "click"}})

    def stopped(m: dict) -> bool:
        state = _by_class(m, "hai-monitor-state")["value"]
        status = _by_class(m, "hai-monitor-status")["value"]
        return "finished (stopped_by_user)" in state and "end of log" in status

    models = _wait_models(kernel, stopped, "the chain stopped")
    assert models[button]["disabled"] is True
    log = _by_class(models, "hai-monitor-log")["value"]
    assert log.count("rank 0 line") <= 5  # only the tail
    assert kernel.ok("print(monitor.finished, monitor.chain.stop_code)").stdout.strip() == (
        "True stopped_by_user"
    )
    status = json.loads(hai_cli(home, "status", "watched", "--json").stdout)
    assert status["state"] == "finished" and status["stop_code"] == "stopped_by_user"
    kernel.ok("monitor.close()")


def test_stop_magic(kernel: Kernel, home: Path) -> None:
    kernel.ok("%hai submit count.py 300 0.1 -- --name to-stop")
    r = kernel.ok("%hai stop to-stop")
    assert "stop requested" in r.stdout
    r = kernel.ok("%hai logs to-stop -f", timeout=60)
    assert "finished (stopped_by_user)" in r.stdout


def test_autoloaded_from_ipython_config(home: Path, tmp_path: Path) -> None:
    """What a haienv kernel (or any) gets with the documented IPython config line."""
    other = tmp_path / "alice2"
    other.mkdir()
    (other / ".hai").mkdir()
    (other / ".hai" / "conf.yaml").write_text((home / ".hai" / "conf.yaml").read_text())
    profile = other / ".ipython" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_kernel_config.py").write_text(
        "c.InteractiveShellApp.extensions = ['hai_client.magics']\n"
    )
    (other / "count.py").write_text(COUNT)
    km, kc = _start_kernel(other)
    try:
        # its own chain: under pytest-xdist another worker may run the test that made others
        kernel = Kernel(km, kc)
        made = kernel.ok("%hai submit count.py 1 0 -- --name autoloaded")
        assert "Submitted chain" in made.stdout
        r = kernel.ok("%hai list --name autoloaded")
        assert "autoloaded" in r.text
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
