"""``haienv create`` on the command line without click, traitlets, rich, packaging,
importlib.metadata or dataclasses.

The timing lives in ``benchmarks/bench_haienv.py`` (rows e and f); these tests guard the
mechanism: the quick parser reads what click reads (:mod:`haienv.create_cli`), a real
create through ``python -m haienv`` imports none of those and builds a working env, and
the command line's plain settings (:mod:`haienv.settings`) equal the traitlets ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import haienv
from haienv.cli import create
from haienv.config import HaiEnvConfig, load_config
from haienv.create_cli import parse_create
from haienv.errors import InvalidInput
from haienv.settings import SETTINGS, Settings, load_settings
from tests.haienv_fixtures import write_wheel

PLAIN_FORMS = [
    ["x1", "-y"],
    ["x1", "pkga", "pkgb==1.0", "--base", "b1", "-y"],
    ["--yes", "x1", "--no_extend", "--python=3.11", "pkga"],
    ["x1", "-r", "req.txt", "--requirement=more.txt", "--label", "a=b", "--label=c=d"],
    ["-f", "env.yaml", "--note", "-not-an-option", "--no-index", "--find-links", "w", "-y"],
    ["x1", "--from-lock", "lock.txt", "--shared", "--no-kernel", "--index-url", "u", "-"],
    ["x1", "--extra-index-url", "u1", "--extra-index-url", "u2", "--annotation", "k=v t"],
]


@pytest.mark.parametrize("args", PLAIN_FORMS)
def test_the_quick_parser_reads_what_click_reads(args: list[str]) -> None:
    assert parse_create(args) == create.make_context("create", list(args)).params


@pytest.mark.parametrize(
    "args",
    [["x1", "-h"], ["--help"], ["x1", "--bogus"], ["x1", "-yr", "r.txt"], ["--", "-x"],
     ["x1", "--base"], ["x1", "--shared=yes"], ["x1", "-r", "."]],
)  # fmt: skip
def test_what_the_quick_parser_does_not_take_is_left_to_click(args: list[str]) -> None:
    assert parse_create(args) is None


def test_the_plain_settings_are_the_traitlets_ones(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HAIENV_ROOT", str(tmp_path))
    monkeypatch.setenv("HAIENV_DEFAULT_BASE", "torch")
    (tmp_path / "haienv_config.json").write_text(
        json.dumps({"HaiEnvConfig": {"find_links": ["/w"], "build_timeout": 5, "root": "/no"}})
    )
    plain, traits = load_settings(), load_config()
    for s in SETTINGS:
        assert getattr(plain, s.name) == getattr(traits, s.name), s.name
    assert (plain.user_dir, plain.default_base) == (traits.user_dir, "torch")
    assert Settings(root="/r").uv_cache_dir == HaiEnvConfig(root="/r").uv_cache_dir == "/r/cache/uv"
    (tmp_path / "haienv_config.json").write_text(json.dumps({"HaiEnvConfig": {"no_index": "1"}}))
    with pytest.raises(InvalidInput, match="no_index must be true or false, not '1'"):
        load_settings()


PROBE = """
import json, sys
from haienv.entry import main
main(sys.argv[1:])
heavy = ("click", "traitlets", "rich", "packaging", "haienv.cli", "haienv.config", "hashlib",
         "importlib.metadata", "email.parser", "socket", "datetime", "dataclasses", "inspect",
         "tempfile")
print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


def create_via_cli(root: Path, *args: str) -> tuple[list[str], str]:
    """What ``haienv create ARGS`` loaded (of the heavy modules), and what it said."""
    res = subprocess.run(
        [sys.executable, "-c", PROBE, "create", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": os.environ["PATH"],
            "HAIENV_ROOT": str(root),
            "HAIENV_USER": "alice",
            "UV_OFFLINE": "1",
            "PYTHONPATH": os.getcwd(),
        },
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1]), res.stderr


@pytest.mark.slow
def test_cli_create_loads_no_click_traitlets_rich_packaging_or_metadata(tmp_path: Path) -> None:
    """A real create through the command line, extending a base that has the package and
    one that lacks it: none of the heavy modules (the bases' dist-info read by
    haienv.spec.DistInfo; named tuples, not dataclasses, which import inspect), plain
    output, working envs. Over the base that lacks packages uv runs (it makes the user's
    first venv too), and tempfile is imported for its output; over the base that has every
    package the venv is a copy and nothing is written to a work folder: no tempfile."""
    wheels, root = tmp_path / "wheels", tmp_path / "root"
    wheels.mkdir()
    root.mkdir()
    for name in ("pkga", "pkgb"):
        write_wheel(wheels, name, "1.0")
    site = {"find_links": [str(wheels)], "no_index": True}
    (root / "haienv_config.json").write_text(json.dumps({"HaiEnvConfig": site}))
    config = HaiEnvConfig(root=str(root), user="alice", **site)
    haienv.create_env("has", config=config, packages=["pkga"], shared=True)
    haienv.create_env("lacks", config=config, packages=[], shared=True)

    loaded, said = create_via_cli(root, "e2", "pkga", "pkgb", "--base", "lacks", "-y")
    assert set(loaded) <= {"tempfile"} and "created e2" in said  # uv ran (and made the venv)
    loaded, said = create_via_cli(root, "e1", "pkga", "--base", "has", "-y")  # venv: a copy
    assert loaded == [] and "created e1 (python" in said and "\x1b[" not in said
    for name, imports in (("e1", "pkga"), ("e2", "pkga, pkgb")):
        env = haienv.get_env(name, config)
        assert env.ready and env.extends == ("has" if name == "e1" else "lacks")
        subprocess.run([env.python, "-c", f"import {imports}"], check=True, timeout=60)


def test_dist_info_is_read_as_importlib_metadata_reads_it() -> None:
    """haienv reads ``*.dist-info`` itself (:class:`haienv.spec.DistInfo`): over this
    interpreter's whole site-packages, the same names, versions, requirements and
    top-level modules as importlib.metadata."""
    import sysconfig
    from importlib import metadata

    from haienv.build import top_level_modules
    from haienv.spec import DistInfo, distributions

    site = sysconfig.get_paths()["purelib"]
    ours = [d for d in distributions([site]) if isinstance(d, DistInfo)]
    theirs = {
        d.metadata["Name"]: d
        for d in metadata.distributions(path=[site])
        if d.metadata["Name"] and d._path.name.endswith(".dist-info")  # type: ignore[attr-defined]
    }
    assert len(ours) > 20 and {d.metadata["Name"] for d in ours} == set(theirs)
    for dist in ours:
        other = theirs[dist.metadata["Name"]]
        assert (dist.version, dist.requires) == (other.version, other.requires), dist.folder
        assert top_level_modules(dist) == top_level_modules(other), dist.folder


def test_a_folder_with_egg_info_is_read_by_importlib_metadata(tmp_path: Path) -> None:
    from haienv.spec import installed_distributions

    (tmp_path / "old_pkg.egg-info").mkdir()
    (tmp_path / "old_pkg.egg-info" / "PKG-INFO").write_text("Name: Old_Pkg\nVersion: 0.1\n")
    (tmp_path / "new-2.0.dist-info").mkdir()
    (tmp_path / "new-2.0.dist-info" / "METADATA").write_text("Name: New\nVersion: 2.0\n\nbody\n")
    assert installed_distributions(tmp_path) == {"old-pkg": "0.1", "new": "2.0"}


def test_the_default_uv_is_the_one_the_uv_package_finds() -> None:
    """haienv takes a venv's own uv without asking the uv package (sysconfig, ~4 ms)."""
    from uv import find_uv_bin

    from haienv.locations import default_uv

    assert default_uv() == find_uv_bin()
