"""haienv_kernels: one kernel spec per ready haienv env.

In-process tests of the manager over envs written directly (``fake_env``): which envs are
offered, names, traits, the skip log, the cache. End to end (``slow``): a real jupyter-server
with the manager, envs built by haienv from local wheels, kernels started through the REST
API and code run over the kernel websocket; envs created and removed while it runs.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_client.kernelspec import NoSuchKernel
from traitlets import TraitError
from traitlets.config import Config

import haienv
from haienv_kernels import HaienvKernelSpecManager
from haienv_kernels.ipykernel_check import IpykernelCheck
from tests.haienv_fixtures import (
    HOST_SITE,
    PY_FULL,
    SITE_REL,
    JupyterServer,
    add_host_distributions,
    add_host_site,
    fake_env,
    server_environ,
    write_wheel,
)

REPO = Path(__file__).resolve().parents[1]
CLASS = "haienv_kernels.HaienvKernelSpecManager"


# -- in process, over fake envs ----------------------------------------------------------------
@pytest.fixture
def root(tmp_path) -> Path:
    root = tmp_path / "root"
    base = fake_env(root, "torch", shared=True, ipykernel=True)
    fake_env(root, "vision", extends=base)  # ipykernel from the base
    fake_env(root, "solo", ipykernel=True)
    fake_env(root, "bare")  # no ipykernel anywhere
    fake_env(root, "broken", status="failed", reason="import of pkgbroken failed")
    return root


def manager(root: Path, user: str = "alice", **traits) -> HaienvKernelSpecManager:
    cfg = haienv.HaiEnvConfig(root=str(root), user=user)
    return HaienvKernelSpecManager(haienv_config=cfg, **traits)


def haienv_names(m: HaienvKernelSpecManager) -> set[str]:
    return {n for n in m.get_all_specs() if n.startswith("haienv-")}


def test_one_kernel_per_ready_env_with_ipykernel(root):
    m = manager(root)
    specs = m.get_all_specs()
    assert haienv_names(m) == {"haienv-torch", "haienv-vision", "haienv-solo"}
    assert "python3" in specs
    model = specs["haienv-vision"]
    spec = model["spec"]
    env_path = root / "users/alice/vision"
    assert spec["argv"][:5] == [
        str(env_path / "bin/python"),
        "-m",
        "ipykernel_launcher",
        "-f",
        "{connection_file}",
    ]
    # then the start-up that gives the kernel %hai (tests below run it in a real kernel)
    assert spec["argv"][5].startswith("--IPKernelApp.exec_lines=") and len(spec["argv"]) == 6
    assert spec["display_name"] == f"vision (Python {PY_FULL})"
    assert specs["haienv-torch"]["spec"]["display_name"] == f"torch (base, Python {PY_FULL})"
    assert spec["language"] == "python"
    assert spec["env"] == {}  # the activation is computed when a kernel starts
    ks = m.get_kernel_spec("haienv-vision")  # what starting a kernel uses
    assert ks.to_dict() == {**spec, "env": ks.env}
    assert ks.resource_dir == model["resource_dir"]
    assert ks.env["VIRTUAL_ENV"] == str(env_path) and ks.env["HAIENV_ENV"] == "vision"
    path = ks.env["PATH"].split(os.pathsep)
    assert path[0] == str(env_path / "bin")
    assert path[1].endswith("haienv/shim")  # the pip shim, before the base's bin
    assert path[2] == str(root / "base/torch/bin")
    assert spec["metadata"]["haienv"] == {
        "name": "vision",
        "owner": "alice",
        "kind": "own",
        "extends": "torch",
        "status": "ready",
        "python_version": PY_FULL,
        "path": str(env_path),
    }
    # the REST model is complete, so jupyter_server passes it through
    assert model["name"] == "haienv-vision" and os.path.isdir(model["resource_dir"])
    assert all(u.startswith("/kernelspecs/haienv-vision/") for u in model["resources"].values())
    assert set(m.find_kernel_specs()) == set(specs)


def test_envs_that_cannot_run_a_kernel_are_skipped_with_one_log_line(root, caplog):
    with caplog.at_level(logging.INFO):
        m = manager(root)
        m.get_all_specs()
        m.get_all_specs()
        fake_env(root, "other", ipykernel=True)  # a change: rebuilt, but nothing re-logged
        assert "haienv-other" in m.get_all_specs()
    lines = [r.getMessage() for r in caplog.records]
    bare = [x for x in lines if "'bare'" in x]
    broken = [x for x in lines if "'broken'" in x]
    assert len(bare) == 1 and "no ipykernel reachable" in bare[0]
    assert "uv pip install ipykernel" in bare[0]
    assert len(broken) == 1 and "it is failed: import of pkgbroken failed" in broken[0]
    with pytest.raises(NoSuchKernel):
        m.get_kernel_spec("haienv-bare")


def test_installing_ipykernel_into_an_env_offers_it(root):
    m = manager(root)
    assert "haienv-bare" not in haienv_names(m)
    token = haienv.change_token(haienv.HaiEnvConfig(root=str(root), user="alice"))
    (root / "users/alice/bare" / SITE_REL / "ipykernel-7.0.dist-info").mkdir()
    assert haienv.change_token(haienv.HaiEnvConfig(root=str(root), user="alice")) == token
    assert "haienv-bare" in haienv_names(m)  # seen through the site-packages mtime


def test_listing_is_cached_until_something_changes(root, monkeypatch):
    calls = []
    real = haienv.list_envs
    monkeypatch.setattr(haienv, "list_envs", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert manager(root, warm_on_start=False) and calls == []
    m = manager(root)  # warms the cache
    assert len(calls) == 1
    first = m.get_all_specs()["haienv-solo"]
    assert m.get_all_specs()["haienv-solo"] is first and len(calls) == 1
    haienv.remove_env("solo", config=m.haienv_config)
    assert "haienv-solo" not in m.get_all_specs() and len(calls) == 2
    fake_env(root, "solo", ipykernel=True)
    assert "haienv-solo" in m.get_all_specs() and len(calls) == 3


def test_traits_select_envs_and_names(root):
    assert haienv_names(manager(root, include_bases=False)) == {"haienv-vision", "haienv-solo"}
    assert haienv_names(manager(root, include_own=False)) == {"haienv-torch"}
    m = manager(root, name_format="py-{name}", display_name_format="{name} on {python_minor}")
    specs = m.get_all_specs()
    assert {"py-vision", "py-torch", "py-solo"} <= set(specs)
    assert specs["py-vision"]["spec"]["display_name"] == f"vision on {PY_FULL[:4]}"
    m.include_bases = False  # a setting changed at run time applies at the next listing
    assert "py-torch" not in m.get_all_specs()
    assert "python3" not in manager(root, keep_default_kernel=False).get_all_specs()
    with pytest.raises(NoSuchKernel):
        manager(root, keep_default_kernel=False).get_kernel_spec("python3")
    with pytest.raises(TraitError, match=r"fields: \{name\}"):
        manager(root, name_format="haienv-{nmae}")
    no_shim = manager(root, pip_shim=False).get_kernel_spec("haienv-solo").env
    assert "haienv_kernels" not in no_shim["PATH"] and "HAIENV_UV" not in no_shim


def test_other_users_envs_on_request(root):
    fake_env(root, "shared-nb", user="bob", ipykernel=True)
    fake_env(root, "private", user="carol", ipykernel=True)
    m = manager(root, include_shared_of=["bob"])
    specs = m.get_all_specs()
    assert "haienv-bob.shared-nb" in specs and "haienv-carol.private" not in specs
    spec = specs["haienv-bob.shared-nb"]["spec"]
    assert spec["display_name"] == f"shared-nb (bob, Python {PY_FULL})"
    env = m.get_kernel_spec("haienv-bob.shared-nb").env
    assert env["VIRTUAL_ENV"] == str(root / "users/bob/shared-nb")
    assert "haienv-bob.shared-nb" not in haienv_names(manager(root))


def test_own_env_shadows_a_base_of_the_same_name(root, caplog):
    fake_env(root, "torch", ipykernel=True)  # the user's own "torch"
    with caplog.at_level(logging.WARNING):
        m = manager(root)
        assert "haienv-torch" in m.get_all_specs()
    assert m.get_kernel_spec("haienv-torch").env["VIRTUAL_ENV"] == str(root / "users/alice/torch")
    assert any("shared base 'torch'" in r.getMessage() for r in caplog.records)


def test_configured_through_server_config(root):
    c = Config()
    c.HaiEnvConfig.root = str(root)
    c.HaiEnvConfig.user = "alice"
    c.HaienvKernelSpecManager.include_bases = False
    m = HaienvKernelSpecManager(config=c)
    assert m.haienv_config.root == str(root)
    assert haienv_names(m) == {"haienv-vision", "haienv-solo"}


def test_a_broken_root_leaves_the_native_kernels(tmp_path, caplog):
    m = manager(tmp_path / "nothing-here")
    assert set(m.get_all_specs()) == {"python3"}
    with caplog.at_level(logging.ERROR):
        bad = manager(tmp_path, user="../etc")  # haienv refuses the user name
        assert set(bad.get_all_specs()) == {"python3"}
        bad.get_all_specs()
    assert len([r for r in caplog.records if "haienv kernels unavailable" in r.message]) == 1


def test_ipykernel_check_follows_pth_files(tmp_path):
    host = tmp_path / "host"
    (host / "ipykernel-7.0.dist-info").mkdir(parents=True)
    layer = tmp_path / "layer"
    layer.mkdir()
    (layer / "x.pth").write_text(f"# comment\n{host}\n")
    env = tmp_path / "env"
    env.mkdir()
    check = IpykernelCheck()
    assert check.find([str(env)]) is None
    (env / "zzz.pth").write_text(f"import site; site.addsitedir({str(layer)!r})\n")
    assert check.find([str(env)]) == str(host)
    (layer / "x.pth").write_text("relative-dir\n")  # a plain line is relative to its folder
    (layer / "relative-dir" / "IPyKernel-7.0.dist-info").mkdir(parents=True)
    os.utime(layer, ns=(0, 1))  # a rewrite in place keeps the mtime; make sure it moved
    assert check.find([str(env)]) == str(layer / "relative-dir")


def test_shipped_config_enables_the_manager():
    shipped = REPO / "haienv_kernels/etc/jupyter_server_config.d/haienv_kernels.json"
    data = json.loads(shipped.read_text())
    # jupyter-server reads only jpserver_extensions from config.d files: the extension's link
    # hook selects the manager
    assert data == {"ServerApp": {"jpserver_extensions": {"haienv_kernels": True}}}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    shared = project["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-data"]
    target = "etc/jupyter/jupyter_server_config.d/haienv_kernels.json"
    assert shared[str(shipped.relative_to(REPO))] == target
    installed = Path(sys.prefix) / target
    assert installed.is_file(), f"{installed} missing: reinstall (uv pip install -e .)"
    assert json.loads(installed.read_text()) == data
    for name in ("pip", "pip3"):
        assert os.access(REPO / "haienv/shim" / name, os.X_OK)


def test_extension_link_selects_the_manager_unless_configured():
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_server.serverapp import ServerApp

    from haienv_kernels import _jupyter_server_extension_points
    from haienv_kernels.extension import _link_jupyter_server_extension as link

    assert _jupyter_server_extension_points() == [{"module": "haienv_kernels.extension"}]
    app = ServerApp()
    link(app)
    assert app.kernel_spec_manager_class is HaienvKernelSpecManager
    c = Config()
    c.ServerApp.kernel_spec_manager_class = "jupyter_client.kernelspec.KernelSpecManager"
    app = ServerApp(config=c)
    link(app)  # an explicit choice is left alone: that is how to turn haienv kernels off
    assert app.kernel_spec_manager_class is KernelSpecManager


# -- end to end: a real jupyter-server ----------------------------------------------------------
@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("wheels")
    write_wheel(folder, "pkgtiny", "1.0")
    write_wheel(folder, "pkgonly", "1.0")  # installed only into the env "proj"
    write_wheel(folder, "pkgextra", "1.0")  # `!pip install`ed from the notebook
    write_wheel(folder, "pkgbroken", "1.0", body="raise RuntimeError('broken on purpose')\n")
    return folder


@pytest.fixture(scope="module")
def built(tmp_path_factory, wheels) -> Iterator[haienv.HaiEnvConfig]:
    """A root with a shared base that can import the host's ipykernel (a ``.pth`` line), an
    env extending it with a package of its own, an env without ipykernel, a failed env."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UV_OFFLINE", "1")
        root = tmp_path_factory.mktemp("kroot")
        cfg = haienv.HaiEnvConfig(
            root=str(root), user="alice", find_links=[str(wheels)], no_index=True
        )
        base = haienv.create_env("kbase", config=cfg, packages=["pkgtiny"], shared=True)
        add_host_site(base.site_packages)
        haienv.create_env("proj", config=cfg, packages=["pkgonly"], base="kbase")
        haienv.create_env("bare", config=cfg, packages=["pkgtiny"], extend=False)
        with pytest.raises(haienv.BuildFailed):
            haienv.create_env("broken", config=cfg, packages=["pkgbroken"], extend=False)
        yield cfg


@pytest.fixture(scope="module")
def server(built, tmp_path_factory) -> Iterator[JupyterServer]:
    """A server with no haienv setting: the installed package's config enables the kernels."""
    installed = Path(sys.prefix) / "etc/jupyter/jupyter_server_config.d/haienv_kernels.json"
    assert installed.is_file(), f"{installed} missing: reinstall (uv pip install -e .)"
    srv = JupyterServer(tmp_path_factory.mktemp("jupyter"), server_environ(Path(built.root)))
    try:
        yield srv.start()
    finally:
        srv.stop()


@pytest.mark.slow
def test_server_lists_the_env_kernels(server, built):
    listing = server.kernelspecs()
    specs = listing["kernelspecs"]
    assert {"python3", "haienv-proj", "haienv-kbase"} <= set(specs)
    assert "haienv-bare" not in specs and "haienv-broken" not in specs
    proj = haienv.get_env("proj", built)
    spec = specs["haienv-proj"]["spec"]
    assert spec["argv"][0] == proj.python
    assert spec["display_name"] == f"proj (Python {proj.python_version})"
    assert specs["haienv-proj"]["resources"]["logo-64x64"].endswith(
        "/kernelspecs/haienv-proj/logo-64x64.png"
    )
    one = server.client.get("/api/kernelspecs/haienv-proj").json()
    assert one["spec"] == {**spec, "env": one["spec"]["env"]}
    assert one["spec"]["env"]["VIRTUAL_ENV"] == proj.path
    assert one["spec"]["env"]["PATH"].startswith(proj.bin_dir + os.pathsep)
    logo = server.client.get(specs["haienv-proj"]["resources"]["logo-64x64"])
    assert logo.status_code == 200 and logo.content.startswith(b"\x89PNG")
    log = server.log()
    assert "haienv_kernels: one kernel per ready haienv env" in log
    assert "haienv env 'bare' is not offered as a kernel: no ipykernel reachable" in log
    assert "haienv env 'broken' is not offered as a kernel: it is failed" in log


@pytest.mark.slow
def test_kernel_runs_in_the_env(server, built, wheels):
    proj = haienv.get_env("proj", built)
    with server.kernel("haienv-proj") as kid:
        out = server.execute(
            kid,
            "import sys, os, pkgonly, pkgtiny\n"
            "print(sys.prefix); print(pkgonly.__file__); print(pkgtiny.__file__)\n"
            "print(os.environ['VIRTUAL_ENV'])",
        )
        prefix, only, tiny, venv = out.split()
        assert prefix == proj.path and venv == proj.path
        assert only.startswith(proj.site_packages)  # the env's own package
        assert tiny.startswith(haienv.get_env("kbase", built).path)  # from its base
        # `!pip install` in the notebook installs into the env
        out = server.execute(
            kid,
            f"!pip install --no-index --find-links {wheels} pkgextra -q\n"
            "import pkgextra; print(pkgextra.__file__)",
            timeout=120,
        )
        assert out.strip().splitlines()[-1].startswith(proj.site_packages), out
    assert not any(p.name.startswith("pkgextra") for p in Path(HOST_SITE).iterdir())


@pytest.mark.slow
def test_envs_appear_and_disappear_without_restart(server, built, tmp_path):
    assert "haienv-late" not in server.kernelspecs()["kernelspecs"]
    haienv.create_env("late", config=built, packages=["pkgtiny"], base="kbase")
    specs = server.kernelspecs()["kernelspecs"]
    assert "haienv-late" in specs
    assert specs["haienv-late"]["spec"]["display_name"].startswith("late (Python ")
    haienv.remove_env("late", config=built)
    assert "haienv-late" not in server.kernelspecs()["kernelspecs"]
    # a failed build never shows up, and says why in the log
    with pytest.raises(haienv.BuildFailed):
        haienv.create_env("late-broken", config=built, packages=["pkgbroken"], base="kbase")
    assert "haienv-late-broken" not in server.kernelspecs()["kernelspecs"]
    deadline = time.monotonic() + 5
    while "'late-broken' is not offered" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "haienv env 'late-broken' is not offered as a kernel: it is failed" in server.log()
    # ipykernel made reachable in an existing env: offered at the next listing
    bare = haienv.get_env("bare", built)
    add_host_site(bare.site_packages)
    assert "haienv-bare" in server.kernelspecs()["kernelspecs"]
    assert "haienv env 'bare' is offered as kernel haienv-bare" in server.log()


@pytest.mark.slow
def test_one_line_of_config_enables_it_without_the_extension(built, tmp_path):
    cfg = tmp_path / "jupyter_server_config.py"
    cfg.write_text(
        f"c.ServerApp.kernel_spec_manager_class = {CLASS!r}\n"
        "c.ServerApp.jpserver_extensions = {'haienv_kernels': False}\n"
        "c.HaienvKernelSpecManager.include_bases = False\n"
    )
    srv = JupyterServer(tmp_path, server_environ(Path(built.root)), [f"--config={cfg}"])
    try:
        specs = srv.start().kernelspecs()["kernelspecs"]
    finally:
        srv.stop()
    assert "haienv-proj" in specs and "haienv-kbase" not in specs
    assert "haienv_kernels | extension was successfully loaded" not in srv.log()


@pytest.mark.slow
def test_hai_magics_and_haienv_work_in_an_env_without_the_platform(server, built, tmp_path_factory):
    """An env with ipykernel and nothing of the platform: its kernel still has %hai and
    haienv (imported from the platform at start-up), and nothing else of the platform."""
    lean = haienv.create_env("lean", config=built, packages=["pkgtiny"], extend=False)
    add_host_distributions(lean.site_packages, "ipykernel", tmp_path_factory.mktemp("dists"))
    deadline = time.monotonic() + 30
    while "haienv-lean" not in server.kernelspecs()["kernelspecs"]:
        assert time.monotonic() < deadline, server.log()[-2000:]
        time.sleep(0.5)
    with server.kernel("haienv-lean") as kid:
        out = server.execute(
            kid,
            "import sys, haienv\n"
            "print('env', sys.prefix)\n"
            "print('haienv', haienv.__name__)\n"
            "print('magic', 'hai' in get_ipython().magics_manager.magics['line'])\n"
            "import h11, certifi  # what httpx loads only when it connects\n"
            "print('lazy deps', h11.__name__, certifi.__name__)\n"
            "try:\n"
            "    import jupyterhub\n"
            "    print('platform leaked')\n"
            "except ImportError:\n"
            "    print('platform not on the path')\n",
        )
        assert f"env {lean.path}" in out, out
        assert "haienv haienv" in out and "magic True" in out
        assert "lazy deps h11 certifi" in out, out
        assert "platform not on the path" in out, out
        usage = server.execute(kid, "%hai --help")
        assert "submit" in usage and "status" in usage, usage
