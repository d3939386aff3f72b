"""haienv end to end: real envs built by uv from wheels these tests write (no index needed).

One module-wide root holds a shared base (``base1``: pkgtiny 1.0) created with haienv itself;
tests extend it, shadow it, break builds on purpose, activate envs from bash and from Python,
export and rebuild from locks and push to a second root.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import haienv
from haienv.config import HaiEnvConfig
from haienv.errors import BuildFailed, EnvExists, InvalidInput

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "haienv" / "shell" / "haienv"
PY = f"{sys.version_info[0]}.{sys.version_info[1]}"


# -- wheels ------------------------------------------------------------------------------------
def write_wheel(folder: Path, name: str, version: str, deps=(), body: str | None = None) -> None:
    """A minimal pure-Python wheel with one package and a console script ``<name>-hello``."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": body
        or f"__version__ = {version!r}\n\ndef hello():\n    print('{name}', __version__)\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        + "".join(f"Requires-Dist: {d}\n" for d in deps),
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
        f"{dist}/entry_points.txt": f"[console_scripts]\n{name}-hello = {name}:hello\n",
    }
    record = []
    with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as z:
        for path, text in files.items():
            data = text.encode()
            z.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{path},sha256={digest.decode()},{len(data)}")
        record.append(f"{dist}/RECORD,,")
        z.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")


@pytest.fixture(scope="session")
def wheels(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("wheels")
    write_wheel(folder, "pkgtiny", "1.0")
    write_wheel(folder, "pkgtiny", "2.0")
    write_wheel(folder, "pkgdep", "1.0", deps=["pkgtiny>=1"])
    write_wheel(folder, "pkgneeds2", "1.0", deps=["pkgtiny>=2"])
    write_wheel(folder, "pkgbroken", "1.0", body="raise RuntimeError('broken on purpose')\n")
    return folder


def make_config(root: Path, wheels: Path, user: str = "alice") -> HaiEnvConfig:
    root.mkdir(parents=True, exist_ok=True)
    # The same settings for CLI subprocesses, through the site config file.
    site = {"HaiEnvConfig": {"find_links": [str(wheels)], "no_index": True, "default_base": ""}}
    (root / "haienv_config.json").write_text(json.dumps(site))
    return HaiEnvConfig(
        root=str(root), user=user, find_links=[str(wheels)], no_index=True, default_base=""
    )


@pytest.fixture(scope="module")
def config(tmp_path_factory, wheels) -> Iterator[HaiEnvConfig]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UV_OFFLINE", "1")  # belt and braces: nothing here may download
        yield make_config(tmp_path_factory.mktemp("haienv") / "root", wheels)


@pytest.fixture(scope="module")
def base(config) -> haienv.EnvInfo:
    return haienv.create_env("base1", config=config, packages=["pkgtiny==1.0"], shared=True)


def cli_env(config: HaiEnvConfig, **extra) -> dict[str, str]:
    """The command line's environment: piped, without the test runner's terminal size."""
    skip = ("HAIENV_", "VIRTUAL_ENV", "COLUMNS", "LINES")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    env.update(HAIENV_ROOT=config.root, HAIENV_USER=config.user, UV_OFFLINE="1", **extra)
    return env


def cli(config: HaiEnvConfig, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "haienv", *args],
        capture_output=True,
        text=True,
        env=cli_env(config),
        cwd=config.root,
        timeout=120,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def run_in(env: haienv.EnvInfo, code: str) -> str:
    out = subprocess.run(
        [env.python, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return out.stdout.strip()


def own_dists(env: haienv.EnvInfo) -> set[str]:
    return {p.name.split("-")[0] for p in Path(env.site_packages).glob("*.dist-info")}


def build_leftovers(config: HaiEnvConfig) -> list[str]:
    return [p.name for p in config.user_dir.glob(".*build-*") if p.is_dir()]


# -- creating -----------------------------------------------------------------------------------
def test_base_is_a_ready_shared_env(base, config):
    assert base.ready and base.is_base and base.extends is None
    assert base.path == str(Path(config.root) / "base" / "base1")
    assert base.python_version.startswith(PY)
    assert run_in(base, "import pkgtiny; print(pkgtiny.__version__)") == "1.0"
    assert any(e.name == "base1" and e.is_base for e in haienv.list_envs(config))


def test_standalone_env_with_metadata(config, base):
    token = haienv.change_token(config)
    env = haienv.create_env(
        "solo",
        config=config,
        packages=["pkgdep"],
        extend=False,
        labels=["team=vision"],
        annotations=["purpose=unit test, with spaces"],
        note="first env",
    )
    assert env.ready and env.extends is None and env.owner == "alice"
    assert own_dists(env) == {"pkgdep", "pkgtiny"}
    assert run_in(env, "import pkgdep, pkgtiny; print(pkgtiny.__version__)") == "2.0"
    assert env.labels == {"team": "vision"}
    assert env.annotations == {"purpose": "unit test, with spaces"}
    assert env.note == "first env" and env.created_at is not None
    assert env.platform and env.python_version.startswith(PY)
    assert haienv.change_token(config) != token
    assert haienv.get_env("solo", config) == env
    # the metadata lives beside the env, the build log too
    meta = json.loads((config.user_dir / "solo.json").read_text())
    assert meta["status"] == "ready" and meta["requested"] == ["pkgdep"]
    assert "checking imports" in (config.user_dir / "solo.log").read_text()
    assert build_leftovers(config) == []


def test_status_is_creating_while_building(config):
    seen = []

    def progress(step: str) -> None:
        seen.append((step, haienv.get_env("watched", config).status))
        assert not (config.user_dir / "watched").exists()  # nothing looks ready yet

    env = haienv.create_env(
        "watched", config=config, packages=["pkgtiny"], extend=False, progress=progress
    )
    assert seen and {status for _, status in seen} == {"creating"}
    assert seen[0][0] == "creating the venv"
    assert env.ready


def test_cli_create_with_python_version(config):
    proc = cli(config, "create", "pyver", "pkgtiny==1.0", "--no_extend", "--python", PY, "-y")
    assert f"environment pyver: python {PY}." in proc.stderr
    assert "source haienv pyver" in proc.stderr
    assert haienv.get_env("pyver", config).python_version.startswith(PY)
    r = cli(config, "create", "pyver2", "--no_extend", "--python", "3.1", "-y", check=False)
    assert r.returncode == 1 and "no Python 3.1 here (installed: " in r.stderr  # and how to get it


def test_extending_installs_only_what_the_base_lacks(config, base, monkeypatch):
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)  # as on a user's machine
    env = haienv.create_env("ext", config=config, packages=["pkgdep"], base="base1")
    assert env.extends == "base1" and env.extends_path == base.path
    assert own_dists(env) == {"pkgdep"}  # pkgtiny comes from the base
    caches = list(Path(env.path).rglob("__pycache__"))
    assert not caches, f"the import check leaves no bytecode behind (uv writes none): {caches}"
    out = run_in(env, "import pkgtiny, pkgdep; print(pkgtiny.__version__, pkgtiny.__file__)")
    version, where = out.split()
    assert version == "1.0" and where.startswith(base.path)
    assert "the base has 1, installing 1: pkgdep==1.0" in Path(env.log_path).read_text()


def test_extending_with_what_the_base_has_installs_nothing(config, base):
    env = haienv.create_env("same", config=config, packages=["pkgtiny"], base="base1")
    assert own_dists(env) == set()
    log = Path(env.log_path).read_text()
    assert "has every requested package in an allowed version (pkgtiny)" in log, log
    assert "uv pip compile" not in log, "nothing to resolve: the resolver did not run"
    assert run_in(env, "import pkgtiny; print(pkgtiny.__version__)") == "1.0"
    cache_inodes = {
        (st.st_dev, st.st_ino)
        for p in Path(config.uv_cache_dir).rglob("*")
        if (st := p.lstat()) and p.is_file()
    }
    added = 0
    for p in Path(env.path).rglob("*"):
        st = p.lstat()
        if (st.st_dev, st.st_ino) not in cache_inodes:
            added += st.st_blocks * 512
    assert added < 1_000_000, f"the child adds {added} bytes"


def commands_run_by(fn):
    """``fn()``'s result and the argv of every process it started."""
    started = []
    real_popen = subprocess.Popen

    class Recording(real_popen):  # type: ignore[misc,valid-type]
        def __init__(self, args, *a, **kw):
            started.append([str(x) for x in args])
            super().__init__(args, *a, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(subprocess, "Popen", Recording)
        result = fn()
    return result, started


def test_over_a_base_that_has_everything_nothing_is_run(config, base):
    """Once an env of this interpreter was made (its venv kept as a template), an env whose
    base has every requested package runs no uv (no venv, resolve or install) and not its
    interpreter: its venv is a copy of the template, its version and paths the base's."""
    haienv.create_env("first-of-py", config=config, packages=["pkgtiny"], base="base1")
    env, started = commands_run_by(
        lambda: haienv.create_env("no-runs", config=config, packages=["pkgtiny"], base="base1")
    )
    assert started == [], started
    log = Path(env.log_path).read_text()
    assert "copied " in log and ".venv-template-" in log and "skipped: nothing to import" in log
    assert (env.python_version, env.platform) == (base.python_version, base.platform)
    assert env.site_packages == os.path.join(
        env.path, os.path.relpath(base.site_packages, base.path)
    )
    assert run_in(env, "import pkgtiny, sys; print(pkgtiny.__version__, sys.prefix)") == (
        f"1.0 {env.path}"
    )
    meta = json.loads((config.user_dir / "no-runs.json").read_text())
    probed = json.loads((config.user_dir / "first-of-py.json").read_text())
    for key in ("python_version", "platform", "interpreter", "site_packages"):
        assert meta[key] == probed[key], key
    # the copy is what uv makes: the same files, links and pyvenv.cfg as a probed env's
    names = {str(p.relative_to(env.path)) for p in Path(env.path).rglob("*")}
    first = Path(config.user_dir / "first-of-py")
    assert names == {str(p.relative_to(first)) for p in first.rglob("*")}
    assert (Path(env.path) / "pyvenv.cfg").read_text() == (first / "pyvenv.cfg").read_text()
    assert build_leftovers(config) == []


def test_over_a_base_that_lacks_them_uv_makes_no_venv(config, base):
    """With a template, an env that installs what its base lacks runs uv for resolving and
    installing only, and its interpreter once for the import check."""
    haienv.create_env("first-of-py2", config=config, packages=["pkgtiny"], base="base1")
    env, started = commands_run_by(
        lambda: haienv.create_env("dep-runs", config=config, packages=["pkgdep"], base="base1")
    )
    uv_steps = [c[1:3] for c in started if c[0] == config.uv]
    assert ["venv", "--relocatable"] not in uv_steps and ["pip", "install"] in uv_steps, started
    pythons = [i for i, c in enumerate(started) if c[0].endswith("/bin/python")]
    install = next(i for i, c in enumerate(started) if c[1:3] == ["pip", "install"])
    assert len(pythons) == 1 and pythons[0] < install, "the import check starts first"
    assert own_dists(env) == {"pkgdep"}
    assert run_in(env, "import pkgdep, pkgtiny; print(pkgtiny.__version__)") == "1.0"


def test_a_package_with_a_pth_file_is_import_checked_by_a_fresh_interpreter(config, wheels):
    """The import check's interpreter starts before the install; a .pth the install adds is
    read at start-up only, so then a fresh interpreter checks (and the import works)."""
    dist = "pkgpth-1.0.dist-info"
    files = {
        "pkgpth_src/pkgpth/__init__.py": "OK = 1\n",
        "pkgpth.pth": "pkgpth_src\n",
        f"{dist}/METADATA": "Metadata-Version: 2.1\nName: pkgpth\nVersion: 1.0\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist}/top_level.txt": "pkgpth\n",
    }
    with zipfile.ZipFile(wheels / "pkgpth-1.0-py3-none-any.whl", "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
        z.writestr(f"{dist}/RECORD", "".join(f"{p},,\n" for p in [*files, f"{dist}/RECORD"]))
    haienv.create_env("pth-first", config=config, packages=["pkgtiny"], extend=False)
    env, started = commands_run_by(
        lambda: haienv.create_env("pth", config=config, packages=["pkgpth"], extend=False)
    )
    assert sum(c[0].endswith("/bin/python") for c in started) == 2, started
    assert run_in(env, "import pkgpth; print(pkgpth.OK)") == "1"


def test_child_shadows_the_base_version(config, base):
    env = haienv.create_env("shadow", config=config, packages=["pkgtiny==2.0"], base="base1")
    assert own_dists(env) == {"pkgtiny"}
    out = run_in(env, "import pkgtiny; print(pkgtiny.__version__, pkgtiny.__file__)")
    version, where = out.split()
    assert version == "2.0" and where.startswith(env.path)
    assert run_in(base, "import pkgtiny; print(pkgtiny.__version__)") == "1.0"
    # the package file is a hardlink into the shared uv cache, not a copy
    init = Path(env.site_packages) / "pkgtiny" / "__init__.py"
    assert init.stat().st_nlink >= 2


def test_default_base_is_extended(config, base):
    config.default_base = "base1"
    try:
        env = haienv.create_env("dflt", config=config, packages=["pkgtiny"])
        solo = haienv.create_env("dflt-solo", config=config, packages=["pkgtiny"], extend=False)
    finally:
        config.default_base = ""
    assert env.extends == "base1" and solo.extends is None


def test_base_conflict_fails_cleanly_and_keeps_the_name(config, base):
    with pytest.raises(BuildFailed) as exc:
        haienv.create_env("needs2", config=config, packages=["pkgneeds2"], base="base1")
    assert "pinned to its versions" in str(exc.value)
    env = haienv.get_env("needs2", config)
    assert env.status == "failed" and "No solution found" in env.reason
    assert not Path(env.path).exists() and build_leftovers(config) == []
    assert Path(env.log_path).is_file()
    with pytest.raises(EnvExists, match="haienv remove needs2"):
        haienv.create_env("needs2", config=config, packages=["pkgtiny"], base="base1")
    haienv.remove_env("needs2", config=config)
    # asking for the version explicitly overrides the base's pin
    env = haienv.create_env(
        "needs2", config=config, packages=["pkgneeds2", "pkgtiny>=2"], base="base1"
    )
    assert own_dists(env) == {"pkgneeds2", "pkgtiny"}


def test_failed_install_leaves_no_half_env(config):
    proc = cli(config, "create", "broken", "doesnotexist", "--no_extend", "-y", check=False)
    assert proc.returncode == 1
    assert "error: building 'broken' failed" in proc.stderr
    assert "doesnotexist" in proc.stderr
    env = haienv.get_env("broken", config)
    assert env.status == "failed" and not Path(env.path).exists()
    assert build_leftovers(config) == []
    status = cli(config, "status", "broken", check=False)
    assert status.returncode == 1, "a failed env's status exits 1"
    assert "failed" in status.stdout and "build log" in status.stdout
    listed = json.loads(cli(config, "list", "-o", "json").stdout)
    assert {"name": "broken", "status": "failed"}.items() <= next(
        e for e in listed if e["name"] == "broken"
    ).items()


def test_import_check_failure_marks_failed(config):
    with pytest.raises(BuildFailed, match=r"import check failed: import pkgbroken.*broken on"):
        haienv.create_env("imp", config=config, packages=["pkgbroken"], extend=False)
    env = haienv.get_env("imp", config)
    assert env.status == "failed" and not Path(env.path).exists()
    assert "RuntimeError" in Path(env.log_path).read_text()


def test_interrupted_build_is_failed_and_cleaned(config):
    def progress(step: str) -> None:
        if step.startswith("installing"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        haienv.create_env(
            "ctrlc", config=config, packages=["pkgtiny"], extend=False, progress=progress
        )
    env = haienv.get_env("ctrlc", config)
    assert (env.status, env.reason) == ("failed", "interrupted")
    assert not Path(env.path).exists() and build_leftovers(config) == []
    haienv.remove_env("ctrlc", config=config)
    assert not any(config.user_dir.glob("ctrlc*"))


def test_concurrent_creates_of_one_name(config, base):
    args = [sys.executable, "-m", "haienv", "create", "race", "pkgdep", "--base", "base1", "-y"]
    procs = [
        subprocess.Popen(
            args, env=cli_env(config), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    codes = sorted(rc for rc, _ in results)
    assert codes == [0, 1], results
    loser = next(err for rc, err in results if rc == 1)
    assert (
        "being created or removed by another process" in loser
        or "already exists" in loser
        or "exists with status creating" in loser
    ), loser
    assert haienv.get_env("race", config).ready


# -- entering an env ------------------------------------------------------------------------------
@pytest.fixture
def script_bin(tmp_path) -> Path:
    """A bin folder like an installed one: the bash `haienv` next to `haienv-cli` and
    `haienv-activate` (what `source haienv NAME` runs)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(SCRIPT, bin_dir / "haienv")
    (bin_dir / "haienv-cli").write_text(f'#!/bin/sh\nexec {sys.executable} -m haienv "$@"\n')
    enter = "import sys; from haienv.activate import shell_main; sys.exit(shell_main())"
    (bin_dir / "haienv-activate").write_text(
        f"#!/bin/sh\nexec {sys.executable} -c '{enter}' \"$@\"\n"
    )
    for script in ("haienv-cli", "haienv-activate"):
        (bin_dir / script).chmod(0o755)
    return bin_dir


def bash(config: HaiEnvConfig, script_bin: Path, code: str) -> subprocess.CompletedProcess:
    env = cli_env(config, PATH=f"{script_bin}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(["bash", "-c", code], capture_output=True, text=True, env=env, timeout=60)


def test_source_haienv_enters_and_deactivate_leaves(config, base, script_bin):
    env = haienv.get_env("shadow", config) if _exists(config, "shadow") else None
    env = env or haienv.create_env("shadow", config=config, packages=["pkgtiny==2.0"], base="base1")
    code = textwrap.dedent(
        """
        set -e
        PS1='$ '
        source haienv shadow
        python -c 'import sys, pkgtiny; print(sys.prefix); print(pkgtiny.__version__)'
        pkgtiny-hello
        echo "venv=$VIRTUAL_ENV ps1=$PS1"
        deactivate
        python -c 'import sys; print(sys.prefix)'
        echo "after=${VIRTUAL_ENV-unset} ps1=$PS1"
        """
    )
    r = bash(config, script_bin, code)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == env.path and lines[1] == "2.0"
    assert lines[2] == "pkgtiny 2.0"
    assert lines[3] == f"venv={env.path} ps1=(shadow) $ "
    assert lines[4] != env.path
    assert lines[5] == "after=unset ps1=$ "


def _exists(config, name) -> bool:
    try:
        return haienv.get_env(name, config).ready
    except haienv.EnvNotFound:
        return False


def test_source_haienv_without_haienv_activate_uses_the_command_line(config, base, script_bin):
    """An install without the `haienv-activate` script (an older one) still enters envs."""
    (script_bin / "haienv-activate").unlink()
    path = f"{script_bin}{os.pathsep}/usr/bin{os.pathsep}/bin"
    r = subprocess.run(
        ["bash", "-c", "source haienv base1 && echo $HAIENV_ENV"],
        capture_output=True,
        text=True,
        env=cli_env(config, PATH=path),
        timeout=60,
    )
    assert r.returncode == 0 and r.stdout.split() == ["base1"], r.stderr


def test_source_haienv_errors_keep_the_shell(config, script_bin):
    r = bash(config, script_bin, "source haienv nope; echo rc=$?; source haienv; echo rc=$?")
    assert r.stdout.split() == ["rc=1", "rc=2"]
    assert "no environment named 'nope'" in r.stderr and "usage: source haienv NAME" in r.stderr


def test_haienv_executed_runs_the_cli(config, base, script_bin):
    r = bash(config, script_bin, "haienv list -o json")
    assert r.returncode == 0, r.stderr
    assert "base1" in {e["name"] for e in json.loads(r.stdout)}


def test_installed_haienv_is_the_bash_script():
    installed = Path(sys.executable).parent / "haienv"
    assert installed.exists(), "haienv is not installed in this venv (make install)"
    assert installed.read_text() == SCRIPT.read_text(), (
        "the installed haienv script is stale: uv pip install -e ."
    )
    assert os.access(installed, os.X_OK)
    assert (installed.parent / "haienv-cli").exists()


def test_set_env_in_python(config, base):
    if not _exists(config, "shadow"):
        haienv.create_env("shadow", config=config, packages=["pkgtiny==2.0"], base="base1")
    code = textwrap.dedent(
        """
        import os, subprocess, haienv
        info = haienv.set_env("shadow")
        import pkgtiny
        print(pkgtiny.__version__, pkgtiny.__file__.startswith(info.path))
        print(os.environ["PATH"].split(os.pathsep)[0] == info.bin_dir)
        print(subprocess.run(["pkgtiny-hello"], capture_output=True, text=True).stdout.strip())
        """
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(config)
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:3] == ["2.0 True", "True", "pkgtiny 2.0"]


def test_set_env_layers_base_packages(config, base):
    if not _exists(config, "ext"):
        haienv.create_env("ext", config=config, packages=["pkgdep"], base="base1")
    code = (
        "import haienv; haienv.set_env('ext'); import pkgdep, pkgtiny; "
        "print(pkgtiny.__version__, pkgtiny.__file__)"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(config)
    )
    assert r.returncode == 0, r.stderr
    version, where = r.stdout.split()
    assert version == "1.0" and where.startswith(base.path)


# -- locks and push -------------------------------------------------------------------------------
def test_export_and_rebuild_from_lock(config, base, tmp_path):
    if not _exists(config, "shadow"):
        haienv.create_env("shadow", config=config, packages=["pkgtiny==2.0"], base="base1")
    lock = tmp_path / "shadow.lock"
    cli(config, "export", "shadow", "-o", str(lock))
    text = lock.read_text()
    assert "# extends: base1" in text and f"# python: {base.python_version}" in text
    assert "pkgtiny==2.0" in text.splitlines()
    cli(config, "create", "shadow-copy", "--from-lock", str(lock), "-y")
    copy = haienv.get_env("shadow-copy", config)
    assert copy.extends == "base1" and own_dists(copy) == {"pkgtiny"}
    body = [ln for ln in text.splitlines() if not ln.startswith("# haienv lock")]
    again = haienv.export_lock("shadow-copy", config=config).splitlines()[1:]
    assert again == body
    # a standalone env too
    if not _exists(config, "solo"):
        haienv.create_env("solo", config=config, packages=["pkgdep"], extend=False)
    solo_lock = tmp_path / "solo.lock"
    solo_lock.write_text(haienv.export_lock("solo", config=config))
    rebuilt = haienv.create_env("solo-copy", config=config, from_lock=solo_lock)
    assert rebuilt.extends is None and own_dists(rebuilt) == {"pkgdep", "pkgtiny"}
    assert (
        haienv.export_lock("solo-copy", config=config).splitlines()[1:]
        == (solo_lock.read_text().splitlines()[1:])
    )


def test_push_to_another_root(config, wheels, tmp_path):
    if not _exists(config, "solo"):
        haienv.create_env("solo", config=config, packages=["pkgdep"], extend=False)
    cluster = make_config(tmp_path / "cluster", wheels)
    haienv.create_env("cbase", config=cluster, packages=["pkgtiny==1.0"], shared=True)
    proc = cli(config, "push", "solo", "--to", cluster.root)
    assert "pushed solo" in proc.stderr
    pushed = haienv.get_env("solo", cluster)
    assert pushed.ready and pushed.path.startswith(cluster.root)
    assert pushed.annotations["haienv/pushed-from"] == haienv.get_env("solo", config).path
    assert run_in(pushed, "import pkgdep, pkgtiny, sys; print(sys.prefix)") == pushed.path
    out = subprocess.run(
        [str(Path(pushed.bin_dir) / "pkgtiny-hello")], capture_output=True, text=True
    )
    assert out.stdout.strip() == "pkgtiny 2.0"
    with pytest.raises(EnvExists):
        haienv.push_env("solo", cluster.root, config=config)
    # a target whose bases run another python is refused with the reason
    other = make_config(tmp_path / "other", wheels)
    meta_dir = Path(other.root) / "base"
    meta_dir.mkdir(parents=True)
    (meta_dir / "py399").mkdir()
    (meta_dir / "py399.json").write_text(
        json.dumps({"status": "ready", "python_version": "3.99.0", "platform": pushed.platform})
    )
    with pytest.raises(InvalidInput, match=r"python 3\.99\.0"):
        haienv.push_env("solo", other.root, config=config)


# -- environment.yaml ----------------------------------------------------------------------
def test_environment_yaml_pip_section(config, tmp_path):
    f = tmp_path / "environment.yaml"
    f.write_text(f"dependencies:\n  - python={PY}\n  - pip\n  - pip:\n    - pkgtiny==1.0\n")
    env = haienv.create_env("fromyaml", config=config, environment_file=f, extend=False)
    assert own_dists(env) == {"pkgtiny"} and env.python_version.startswith(PY)


def test_environment_yaml_with_conda_tool(config, tmp_path, monkeypatch):
    """A conda tool on PATH builds the conda part; faked here by a script that records its
    arguments and makes the prefix with uv."""
    from haienv.config import HaiEnvConfig as _C

    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    record = tmp_path / "calls.txt"
    (fake_bin / "micromamba").write_text(
        textwrap.dedent(
            f"""\
            #!/bin/sh
            echo "$@" >> {record}
            while [ $# -gt 0 ]; do [ "$1" = -p ] && prefix=$2; shift; done
            exec {_C().uv} venv -q --python {sys.executable} "$prefix"
            """
        )
    )
    (fake_bin / "micromamba").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    f = tmp_path / "environment.yaml"
    f.write_text(
        "channels: [conda-forge]\ndependencies:\n  - cudatoolkit=11.8\n  - pip:\n    - pkgdep\n"
    )
    with pytest.raises(InvalidInput, match="add --no_extend"):
        haienv.create_env("condaenv", config=config, environment_file=f, base="base1")
    env = haienv.create_env("condaenv", config=config, environment_file=f, extend=False)
    assert env.ready and own_dists(env) == {"pkgdep", "pkgtiny"}
    call = record.read_text().split()
    assert call[:2] == ["create", "-y"] and "cudatoolkit=11.8" in call
    assert call[call.index("-c") + 1] == "conda-forge"


# -- listing and removing ------------------------------------------------------------------
def test_list_and_remove_via_cli(config, base):
    haienv.create_env("gone-soon", config=config, packages=["pkgtiny"], base="base1")
    rows = {e["name"]: e for e in json.loads(cli(config, "list", "-o", "json").stdout)}
    row = rows["gone-soon"]
    assert {k: row[k] for k in ("extend", "extend_env", "status")} == {
        "extend": True,
        "extend_env": "base1",
        "status": "ready",
    }
    assert row["py"].startswith(PY) and row["path"].endswith("/users/alice/gone-soon")
    assert rows["base1"]["is_base"] is True
    table = cli(config, "list").stdout
    assert "EXTEND_ENV" in table and "gone-soon" in table
    cli(config, "remove", "gone-soon", "-y")
    assert not (config.user_dir / "gone-soon").exists()
    assert "gone-soon" not in {e.name for e in haienv.list_envs(config)}
    r = cli(config, "remove", "base1", "-y", check=False)
    assert r.returncode == 1 and "a shared base? add --shared" in r.stderr
    r = cli(config, "remove", "base1", "--shared", "-y", check=False)
    assert r.returncode == 1 and "is extended by" in r.stderr


def test_pip_install_inside_source_haienv_lands_in_the_env(config, wheels, script_bin):
    """HAI's documentation: inside an entered env, `pip install x` installs into that env
    (the env has no pip of its own; haienv's shim comes before any other pip on PATH)."""
    env = haienv.create_env("pipper", config=config, packages=["pkgtiny==1.0"], extend=False)
    code = textwrap.dedent(
        f"""
        set -e
        source haienv pipper
        command -v pip
        pip install --no-index --find-links {wheels} pkgdep -q
        python -c 'import pkgdep; print(pkgdep.__file__)'
        """
    )
    r = bash(config, script_bin, code)
    assert r.returncode == 0, r.stdout + r.stderr
    which, where = r.stdout.splitlines()[-2:]
    assert which == os.path.join(haienv.activate.SHIM_DIR, "pip")
    assert where.startswith(env.site_packages), where


def test_haienv_list_piped_keeps_one_line_per_env(config, base):
    """Piped (no terminal, no $COLUMNS), a row is never wrapped mid-word."""
    name = "a-very-long-environment-name-that-would-wrap-x"
    haienv.create_env(name, config=config, packages=["pkgtiny==1.0"], extend=False)
    env = {k: v for k, v in cli_env(config).items() if k != "COLUMNS"}
    proc = subprocess.run(
        [sys.executable, "-m", "haienv", "list"], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    row = next(line for line in proc.stdout.splitlines() if name in line)
    assert "ready" in row and haienv.get_env(name, config).path in row, row


def test_cli_details_as_the_env_management_document_shows(config, tmp_path):
    """Refusals before questions, exit codes, labels as KEY:VALUE, environment.yaml's
    name, creation times, and a missing Python named with what there is."""
    broken = cli(config, "create", "brk", "pkgbroken", "--no_extend", "-y", check=False)
    assert broken.returncode == 1
    again = subprocess.run(
        [sys.executable, "-m", "haienv", "create", "brk", "pkgtiny", "--no_extend"],
        input="y\n",
        capture_output=True,
        text=True,
        env=cli_env(config),
    )
    assert again.returncode == 1 and "Create it?" not in again.stderr
    assert "exists with status failed" in again.stderr
    gone = subprocess.run(
        [sys.executable, "-m", "haienv", "remove", "nothing-here"],
        input="y\n",
        capture_output=True,
        text=True,
        env=cli_env(config),
    )
    assert gone.returncode == 1 and "Remove" not in gone.stderr
    assert "no environment named 'nothing-here'" in gone.stderr
    status = cli(config, "status", "brk", check=False)
    assert status.returncode == 1 and "failed" in status.stdout
    assert "broken on purpose" in status.stdout, "the reason ends with the build's error"
    spec = tmp_path / "environment.yaml"
    spec.write_text("name: fromfile\ndependencies:\n  - pip:\n    - pkgtiny==1.0\n")
    made = cli(config, "create", "-f", str(spec), "--no_extend", "--label", "team:vision", "-y")
    assert made.returncode == 0, made.stderr
    info = haienv.get_env("fromfile", config)
    assert info.labels == {"team": "vision"}
    listing = cli(config, "list").stdout
    row = next(line for line in listing.splitlines() if line.startswith("fromfile"))
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", row), row
    missing = cli(
        config, "create", "oldpy", "pkgtiny", "--no_extend", "--python", "3.4", "-y", check=False
    )
    assert missing.returncode == 1
    assert "no Python 3.4 here (installed: 3.11" in missing.stderr, missing.stderr
    assert "uv python install 3.4" in missing.stderr
