"""Helpers for haienv and haienv_kernels tests: hermetic wheels, fake envs, a real jupyter-server.

* :func:`write_wheel` writes a minimal pure-Python wheel (no index, no network needed).
* :func:`fake_env` writes an env the way haienv leaves one (metadata file + venv-shaped
  folder) without building it: for listing tests and benchmarks that need hundreds of envs.
* :func:`add_host_site` lets an env import what the running interpreter's site-packages has
  (ipykernel, pip, ...) through a ``.pth`` line: a hermetic stand-in for a platform base with
  Jupyter installed.
* :class:`JupyterServer` runs ``python -m jupyter_server`` on a free port with a token and
  talks REST and kernel websockets to it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import sysconfig
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx

from hai_client.rank_env import free_port

PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
PY_FULL = ".".join(map(str, sys.version_info[:3]))
SITE_REL = f"lib/python{PY}/site-packages"
HOST_SITE = sysconfig.get_paths()["purelib"]
#: the interpreter behind this (virtual) environment: what a venv's bin/python links to
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)


# -- wheels ------------------------------------------------------------------------------------
def write_wheel(folder: Path, name: str, version: str, deps=(), body: str | None = None) -> Path:
    """A minimal pure-Python wheel with one package ``name``."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": body or f"__version__ = {version!r}\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        + "".join(f"Requires-Dist: {d}\n" for d in deps),
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name_in_zip, text in files.items():
            data = text.encode()
            z.writestr(name_in_zip, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{name_in_zip},sha256={digest.decode()},{len(data)}")
        record.append(f"{dist}/RECORD,,")
        z.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return path


# -- envs -------------------------------------------------------------------------------------
def fake_env(
    root: Path,
    name: str,
    *,
    user: str = "alice",
    shared: bool = False,
    extends: Path | None = None,
    ipykernel: bool = False,
    status: str = "ready",
    reason: str = "",
    python_version: str = PY_FULL,
) -> Path:
    """Write env ``name`` as haienv leaves a built one (without building it); returns its
    folder. ``extends``: the base env's folder. ``ipykernel``: an ipykernel dist-info in it."""
    folder = root / ("base" if shared else f"users/{user}")
    env = folder / name
    site = env / SITE_REL
    site.mkdir(parents=True, exist_ok=True)
    (env / "bin").mkdir(exist_ok=True)
    python = env / "bin" / "python"
    if not python.exists():
        python.symlink_to(BASE_PYTHON)
    (env / "pyvenv.cfg").write_text(
        f"home = {Path(BASE_PYTHON).parent}\ninclude-system-site-packages = false\n"
        f"version = {PY_FULL}\n"
    )
    if ipykernel:
        (site / "ipykernel-6.0.0.dist-info").mkdir(exist_ok=True)
    if extends is not None:
        (site / "zzz_haienv_base.pth").write_text(
            f"import site; site.addsitedir({str(extends / SITE_REL)!r})\n"
        )
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    meta = {
        "haienv_metadata": 1,
        "name": name,
        "owner": "admin" if shared else user,
        "is_base": shared,
        "python_version": python_version,
        "platform": "linux-x86_64",
        "interpreter": sys.executable,
        "site_packages": SITE_REL,
        "extends": extends.name if extends else None,
        "extends_path": str(extends) if extends else None,
        "labels": {},
        "annotations": {},
        "note": "",
        "created": now,
        "updated": now,
        "status": status,
        "reason": reason,
        "requested": [],
    }
    tmp = folder / f".{name}.json.tmp"
    tmp.write_text(json.dumps(meta))
    os.replace(tmp, folder / f"{name}.json")
    return env


def add_host_site(site_packages: str | Path) -> Path:
    """Make the running interpreter's site-packages importable in the env owning
    ``site_packages`` (after its own packages) with a plain ``.pth`` line."""
    pth = Path(site_packages) / "zz_host_site.pth"
    pth.write_text(HOST_SITE + "\n")
    return pth


def add_host_distributions(site_packages: str | Path, root: str, folder: Path) -> Path:
    """Make ``root`` (e.g. ``ipykernel``) and what it needs, and nothing else of the host,
    importable in the env owning ``site_packages``: a folder of links to exactly those
    distributions (the platform's own helper), on a ``.pth`` line. (The platform's
    packages - hai_client, haienv, httpx - stay out, as in an env a user built.)"""
    from haienv_kernels.kernel_site import closure, link_distributions

    link_distributions(folder, closure([root]))
    pth = Path(site_packages) / "zz_host_dists.pth"
    pth.write_text(f"{folder}\n")
    return pth


# -- a real jupyter-server --------------------------------------------------------------------
class JupyterServer:
    """``python -m jupyter_server`` in a subprocess; REST with the token; kernel code runs
    over the kernel's websocket like a notebook frontend does."""

    def __init__(self, workdir: Path, env: dict[str, str], args: list[str] = ()) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.token = uuid.uuid4().hex
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "jupyter-server.log"
        for d in ("runtime", "config", "notebooks"):
            (workdir / d).mkdir(parents=True, exist_ok=True)
        self.env = {
            **env,
            "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"),
            "JUPYTER_CONFIG_DIR": str(workdir / "config"),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PYTHONUNBUFFERED": "1",
        }
        self.args = [
            sys.executable,
            "-m",
            "jupyter_server",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--port-retries=0",
            f"--ServerApp.token={self.token}",
            f"--ServerApp.root_dir={workdir / 'notebooks'}",
            *args,
        ]
        self.proc: subprocess.Popen | None = None
        self.client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"token {self.token}"}, timeout=30
        )

    def start(self, timeout: float = 60) -> JupyterServer:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.args, stdout=self._log, stderr=subprocess.STDOUT, env=self.env, cwd=self.workdir
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter server exited:\n{self.log()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if self.client.get("/api/status").status_code == 200:
                    return self
            time.sleep(0.1)
        raise RuntimeError(f"jupyter server did not start:\n{self.log()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.client.close()
        with contextlib.suppress(AttributeError):
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kernelspecs(self) -> dict:
        r = self.client.get("/api/kernelspecs")
        r.raise_for_status()
        return r.json()

    @contextlib.contextmanager
    def kernel(self, name: str) -> Iterator[str]:
        r = self.client.post("/api/kernels", json={"name": name})
        assert r.status_code == 201, r.text
        kernel_id = r.json()["id"]
        try:
            yield kernel_id
        finally:
            self.client.delete(f"/api/kernels/{kernel_id}")

    def execute(self, kernel_id: str, code: str, timeout: float = 60) -> str:
        """Run ``code`` in the kernel through ``/api/kernels/<id>/channels``; returns its
        stdout. Raises AssertionError with the traceback when the code fails."""
        return asyncio.run(self._execute(kernel_id, code, timeout))

    async def _execute(self, kernel_id: str, code: str, timeout: float) -> str:
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        url = f"ws://127.0.0.1:{self.port}/api/kernels/{kernel_id}/channels"
        req = HTTPRequest(url, headers={"Authorization": f"token {self.token}"})
        ws = await asyncio.wait_for(websocket_connect(req), timeout)
        session, msg_id = uuid.uuid4().hex, uuid.uuid4().hex
        ws.write_message(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "username": "test",
                        "session": session,
                        "msg_type": "execute_request",
                        "version": "5.3",
                        "date": dt.datetime.now(dt.UTC).isoformat(),
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {
                        "code": code,
                        "silent": False,
                        "store_history": False,
                        "user_expressions": {},
                        "allow_stdin": False,
                        "stop_on_error": True,
                    },
                    "channel": "shell",
                    "buffers": [],
                }
            )
        )
        out: list[str] = []
        error = None
        deadline = time.monotonic() + timeout
        try:
            while True:
                raw = await asyncio.wait_for(ws.read_message(), deadline - time.monotonic())
                if raw is None:
                    raise AssertionError("kernel websocket closed")
                msg = json.loads(raw)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["header"]["msg_type"]
                if kind == "stream" and msg["content"]["name"] == "stdout":
                    out.append(msg["content"]["text"])
                elif kind == "error":
                    error = "\n".join(msg["content"]["traceback"])
                elif kind == "status" and msg["content"]["execution_state"] == "idle":
                    break
        finally:
            ws.close()
        if error is not None:
            raise AssertionError(f"kernel code failed:\n{error}")
        return "".join(out)


def server_environ(root: Path, user: str = "alice") -> dict[str, str]:
    """The environment of a test server: haienv's root and user, nothing from outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HAIENV_", "VIRTUAL_ENV"))}
    env.update(HAIENV_ROOT=str(root), HAIENV_USER=user, UV_OFFLINE="1")
    env.pop("JUPYTERHUB_USER", None)
    return env
