"""What each install brings: pyproject.toml's core and extras against the code's imports,
constraints.txt against pyproject.toml, and the core installed alone into a fresh venv (uv,
from this checkout) — few packages, and every core command working in it."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from hai_client.extras import EXTRA_OF

REPO = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
PACKAGES = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"]["build"][
    "targets"
]["wheel"]["packages"]
#: the core install's ceiling (issue #16: a laptop or a rank needs fewer than 30 packages)
CORE_MAX_PACKAGES = 30


def names(reqs: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in reqs}


CORE = names(PROJECT["dependencies"])
EXTRAS = {extra: names(reqs) for extra, reqs in PROJECT["optional-dependencies"].items()}


def third_party_imports() -> dict[str, set[str]]:
    """Top-level module → the files of ours importing it (at any depth), stdlib left out."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    mods = [node.module]
                else:
                    continue
                for mod in mods:
                    top = mod.split(".")[0]
                    if top in sys.stdlib_module_names or top in PACKAGES or top == "__future__":
                        continue
                    found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


def test_every_import_is_declared_in_the_core_or_its_extra():
    dists = metadata.packages_distributions()
    problems = []
    for module, files in sorted(third_party_imports().items()):
        owners = {canonicalize_name(d) for d in dists.get(module, [])}
        assert owners, f"{module} (imported by {sorted(files)}) is not installed in the dev venv"
        extra = EXTRA_OF.get(module)
        wanted = EXTRAS[extra] if extra else CORE
        where = f"[{extra}]" if extra else "the core"
        if not owners & wanted:
            problems.append(f"{module} ({sorted(owners)}, used by {sorted(files)}) not in {where}")
    assert not problems, "\n".join(problems)


def test_extra_of_names_real_extras_and_all_is_every_role():
    assert set(EXTRA_OF.values()) <= set(EXTRAS) - {"all", "test"}
    roles = set(EXTRAS) - {"all", "test"}
    (everything,) = PROJECT["optional-dependencies"]["all"]
    assert Requirement(everything).name == PROJECT["name"]
    assert Requirement(everything).extras == roles


def pins(*, here: bool = True) -> dict[str, set[str]]:
    """constraints.txt's exact versions by package; ``here``: only the lines whose marker
    holds for this interpreter (the file is universal: it may fork by Python version)."""
    out: dict[str, set[str]] = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==", f"constraints.txt pins exactly: {line}"
        if here and req.marker is not None and not req.marker.evaluate():
            continue
        out.setdefault(canonicalize_name(req.name), set()).add(spec.version)
    return out


def test_constraints_pin_every_requirement_within_its_range():
    pinned = pins(here=False)
    reqs = PROJECT["dependencies"] + [
        r for extra, rs in PROJECT["optional-dependencies"].items() if extra != "all" for r in rs
    ]
    for text in reqs:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in pinned, f"{name} is not in constraints.txt: run `make constraints`"
        for version in pinned[name]:
            assert req.specifier.contains(version, prereleases=True), (
                f"constraints.txt pins {name}=={version}, outside pyproject's {req.specifier}"
            )


def test_the_dev_venv_is_installed_from_the_constraints():
    """`make install` installs [all,test] with constraints.txt: every package of the venv is
    pinned there, at the version installed (a new dependency without a pin fails here)."""
    pinned = pins()
    own = {canonicalize_name(PROJECT["name"]), "pip", "setuptools"}  # and the venv's seeds
    wrong = []
    for dist in metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        if name in own:
            continue
        if dist.version not in pinned.get(name, ()):
            wrong.append(f"{name} {dist.version} (constraints.txt: {pinned.get(name)})")
    assert not wrong, "run `make constraints` and `make install`:\n" + "\n".join(sorted(wrong))


# -- the core alone, in a fresh venv ----------------------------------------------------------


def _uv() -> str:
    beside = Path(sys.executable).with_name("uv")
    exe = str(beside) if beside.exists() else shutil.which("uv")
    assert exe, "uv is missing: it is a core dependency of hai-hub"
    return exe


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory):
    """The wheel built from this checkout, installed without extras into a new venv."""
    tmp = tmp_path_factory.mktemp("core")
    uv = _uv()
    wheels = tmp / "wheels"
    # the lab extension is built already (make install), so the build runs no npm
    subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(wheels), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("hai_hub-*.whl")
    venv = tmp / "venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "-q",
            "--python",
            str(venv / "bin" / "python"),
            "-c",
            str(REPO / "constraints.txt"),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return venv


def run_in(
    venv: Path, *argv: str, home: Path, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    env = extra_env | {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(home),
        "VIRTUAL_ENV": str(venv),
        "LANG": "C.UTF-8",
    }
    return subprocess.run(argv, env=env, cwd=str(home), capture_output=True, text=True, timeout=120)


def test_core_install_is_small(core_venv):
    out = subprocess.run(
        [_uv(), "pip", "list", "--format", "json", "--python", str(core_venv / "bin" / "python")],
        check=True,
        capture_output=True,
        text=True,
    )
    installed = {canonicalize_name(p["name"]) for p in json.loads(out.stdout)}
    assert len(installed) < CORE_MAX_PACKAGES, sorted(installed)
    heavy = {"jupyterlab", "jupyterhub", "jupyter-server", "sqlalchemy", "tornado", "kubernetes"}
    assert not installed & heavy, sorted(installed & heavy)
    assert installed >= CORE


def test_core_commands_work(core_venv, tmp_path):
    help_ = run_in(core_venv, "hai-cli", "--help", home=tmp_path)
    assert help_.returncode == 0 and "Usage: hai-cli" in help_.stdout, help_.stderr
    assert run_in(core_venv, "haienv", "--help", home=tmp_path).returncode == 0
    assert run_in(core_venv, "hai-admin", "--help", home=tmp_path).returncode == 0
    imports = "import hai_client, hai_client.client, hai_client.task, hai_client.cli, haienv"
    py = run_in(core_venv, "python", "-c", imports, home=tmp_path)
    assert py.returncode == 0, py.stderr


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_hai_cli_against_nothing_is_a_clear_error(core_venv, tmp_path):
    line = one_line_error(run_in(core_venv, "hai-cli", "list", home=tmp_path))
    assert "not configured" in line and "hai-cli init" in line
    nobody = {"HAI_URL": "http://127.0.0.1:9/", "HAI_TOKEN": "tok"}  # nothing listens there
    line = one_line_error(run_in(core_venv, "hai-cli", "list", home=tmp_path, **nobody))
    assert "127.0.0.1:9" in line, line
    init = run_in(core_venv, "hai-cli", "init", "tok", "--url", nobody["HAI_URL"], home=tmp_path)
    assert "127.0.0.1:9" in one_line_error(init)


@pytest.mark.parametrize(
    "argv, extra",
    [
        (["hai-scheduler", "--help"], "scheduler"),
        (["python", "-c", "import hai_client.widgets"], "lab"),
    ],
)
def test_what_needs_an_extra_says_which(core_venv, tmp_path, argv, extra):
    proc = run_in(core_venv, *argv, home=tmp_path)
    if argv[0] == "python":  # an import error in a notebook is a traceback; its message counts
        assert proc.returncode != 0
        assert f"pip install 'hai-hub[{extra}]'" in proc.stderr.strip().splitlines()[-1]
        return
    line = one_line_error(proc)
    assert f"[{extra}]" in line and f"pip install 'hai-hub[{extra}]'" in line, line


def test_a_real_import_error_keeps_its_traceback(core_venv, tmp_path):
    """Only a missing extra becomes one line: an unknown module is still a traceback."""
    code = "from hai_client.extras import run; run('x', 'no_such_module_here:main')"
    proc = run_in(core_venv, "python", "-c", code, home=tmp_path)
    assert proc.returncode != 0 and "Traceback" in proc.stderr
    assert re.search(r"No module named 'no_such_module_here'", proc.stderr)


def test_scheduler_extra_makes_hai_scheduler_start(tmp_path):
    """The same entry point with [scheduler] installed (this venv has [all]) runs for real."""
    exe = Path(sys.executable).with_name("hai-scheduler")
    proc = subprocess.run(
        [str(exe), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr


# -- npm: package-lock.json is whole, so `npm ci` (make install) works on any platform ------


def _resolve(packages: dict, frm: str, name: str) -> str | None:
    """Node's lookup: <frm>/node_modules/<name>, then each enclosing node_modules."""
    base = frm
    while True:
        cand = f"{base}/node_modules/{name}" if base else f"node_modules/{name}"
        if cand in packages:
            return cand
        if not base:
            return None
        cut = base.rfind("/node_modules/")
        base = base[:cut] if cut >= 0 else ""


def test_package_lock_is_whole():
    lock = json.loads((REPO / "package-lock.json").read_text())
    manifest = json.loads((REPO / "package.json").read_text())
    packages = lock["packages"]
    root = packages[""]
    for kind in ("dependencies", "devDependencies"):
        assert root.get(kind, {}) == manifest.get(kind, {}), f"lock is stale ({kind})"
    missing = []
    for path, meta in packages.items():
        optional_peers = meta.get("peerDependenciesMeta", {})
        for kind in ("dependencies", "optionalDependencies", "peerDependencies"):
            for dep in meta.get(kind, {}):
                if kind == "peerDependencies" and optional_peers.get(dep, {}).get("optional"):
                    continue
                if _resolve(packages, path, dep) is None:
                    missing.append(f"{path or '(root)'} → {dep} ({kind})")
    assert not missing, "run npm install and commit package-lock.json:\n" + "\n".join(missing)
    # every platform's optional native package is there, not only this machine's
    rspack = [p for p in packages if p.startswith("node_modules/@rspack/binding-")]
    assert any("darwin" in p for p in rspack) and any("win32" in p for p in rspack), rspack
