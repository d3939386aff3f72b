"""haienv without building anything: name rule, inputs, metadata, listing, locks, refusals.

Envs here are fake (metadata files written by hand), so these run in milliseconds.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import haienv
from haienv import spec
from haienv.cli import main
from haienv.config import HaiEnvConfig, load_config
from haienv.create import CreateRequest, plan_create, plan_request
from haienv.errors import EnvBusy, EnvNotFound, HaiEnvError, InvalidInput, Unsupported
from haienv.lockfile import read_lock
from haienv.names import NAME_RULE, check_name, check_user, parse_pairs
from haienv.store import Store


@pytest.fixture
def config(tmp_path: Path) -> HaiEnvConfig:
    return HaiEnvConfig(root=str(tmp_path / "root"), user="alice", default_base="")


def fake_env(
    config: HaiEnvConfig,
    name: str,
    *,
    shared: bool = False,
    status: str = "ready",
    python_version: str | None = None,
    platform: str = "linux-x86_64",
    make_dir: bool = True,
    **extra,
) -> Path:
    """Metadata (and an empty venv-like folder) for an env that was never built."""
    store = Store(config)
    path = store.env_path(name, shared)
    if make_dir:
        (path / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
        (path / "bin").mkdir()
    v = sys.version_info
    meta = {
        "name": name,
        "owner": config.user,
        "is_base": shared,
        "python_version": python_version or f"{v[0]}.{v[1]}.{v[2]}",
        "platform": platform,
        "interpreter": os.path.realpath(sys.executable),
        "extends": None,
        "status": status,
        "reason": "",
        "site_packages": "lib/python3.11/site-packages",
        **extra,
    }
    store.write_meta(name, shared, meta)
    return path


# -- names -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["ab", "a1", "my-env", "x" * 63, "0-9", "torch-2-3"])
def test_valid_names(name):
    assert check_name(name) == name
    assert haienv.is_valid_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a",
        "x" * 64,
        "My-env",
        "-ab",
        "ab-",
        "a_b",
        "a.b",
        "a b",
        "../evil",
        "..",
        "a/b",
        "/abs",
        "ab\n",
        "é-env",
        None,
        12,
    ],
)
def test_invalid_names_are_refused_with_the_rule(name):
    with pytest.raises(InvalidInput) as exc:
        check_name(name)
    assert NAME_RULE in str(exc.value)
    assert not haienv.is_valid_name(name)


@pytest.mark.parametrize("user", ["", ".", "..", "a/b", "-x", ".hidden", "a b"])
def test_unsafe_user_names_are_refused(user):
    with pytest.raises(InvalidInput):
        check_user(user)


def test_user_folder_follows_the_user(config):
    assert config.user_dir == Path(config.root) / "users" / "alice"
    config.user = "../bob"
    with pytest.raises(InvalidInput):
        _ = config.user_dir


def test_labels_and_annotations():
    assert parse_pairs(["team=vision", "tier="], "label") == {"team": "vision", "tier": ""}
    assert parse_pairs(["why=any text, even = signs"], "annotation") == {
        "why": "any text, even = signs"
    }
    for bad in (["novalue"], ["=x"], ["bad key=1"]):
        with pytest.raises(InvalidInput, match="invalid label"):
            parse_pairs(bad, "label")
    with pytest.raises(InvalidInput, match="use --annotation"):
        parse_pairs(["k=free text"], "label")


# -- requirement parsing and the base constraint rule -----------------------------------------
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("numpy", ("numpy", "")),
        ("NumPy==1.26.4", ("numpy", "==1.26.4")),
        ("torch >= 2.1 ; python_version > '3'", ("torch", ">= 2.1")),
        ("requests[socks]~=2.31", ("requests", "~=2.31")),
        ("pkg @ https://x/pkg.whl", ("pkg", "@ https://x/pkg.whl")),
        ("zope.interface", ("zope-interface", "")),
        ("# comment", None),
        ("-r other.txt", None),
        ("./local/path", None),
        ("pkg-1.0-py3-none-any.whl", None),
    ],
)
def test_parse_requirement(line, expected):
    r = spec.parse_requirement(line)
    assert (r.name, r.spec) == expected if expected else r is None


def test_requested_follows_nested_requirement_files(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.txt").write_text("pkgtiny==2.0\n")
    (tmp_path / "req.txt").write_text("# top\npkgdep\n-r sub/more.txt\n--index-url x\n")
    got = spec.requested_from(["extra>1"], [tmp_path / "req.txt"])
    assert [(r.name, r.spec) for r in got] == [
        ("extra", ">1"),
        ("pkgdep", ""),
        ("pkgtiny", "==2.0"),
    ]
    with pytest.raises(InvalidInput, match="cannot read requirements file"):
        spec.requested_from([], [tmp_path / "missing.txt"])


def test_base_constraints_pin_the_base_unless_asked_otherwise():
    base = {"numpy": "1.26.4", "pkgtiny": "1.0", "six": "1.16.0"}
    requested = [
        spec.Requested("numpy", ">=1.20"),  # satisfied by the base: stays pinned
        spec.Requested("pkgtiny", "==2.0"),  # another version: the user's choice wins
        spec.Requested("pkgdep", ""),
    ]
    assert spec.base_constraints(base, requested) == ["numpy==1.26.4", "six==1.16.0"]
    assert spec.base_constraints(base, [spec.Requested("six", "@ https://x/six.whl")]) == [
        "numpy==1.26.4",
        "pkgtiny==1.0",
    ]


def test_not_in_base_subtracts_exact_matches_only():
    from haienv.build import not_in_base

    pins = ["numpy==1.26.4", "pkgtiny==2.0", "Six==1.16.0", "x @ file:///x.whl"]
    base = {"numpy": "1.26.4", "pkgtiny": "1.0", "six": "1.16.0"}
    assert not_in_base(pins, base) == ["pkgtiny==2.0", "x @ file:///x.whl"]


def test_only_packages_touched_by_the_env_are_import_checked():
    requires = {"pandas": {"numpy", "pytz"}, "numpy": set(), "pytz": set(), "six": set()}
    changed, unchanged = spec.affected_by(
        ["pandas", "six", "newpkg"], installed={"numpy", "newpkg"}, requires=requires
    )
    assert changed == ["pandas", "newpkg"] and unchanged == ["six"]
    assert spec.affected_by(["pandas"], set(), requires) == ([], ["pandas"])


# -- environment.yaml ---------------------------------------------------------------------------
def test_environment_yaml(tmp_path):
    f = tmp_path / "environment.yaml"
    f.write_text(
        "name: x\nchannels: [conda-forge]\ndependencies:\n  - python=3.11\n  - pip\n"
        "  - numpy=1.26\n  - conda-forge::cudatoolkit=11.8\n  - pip:\n      - pkgtiny==2.0\n"
    )
    env = spec.parse_environment_file(f)
    assert env.python == "3.11"
    assert env.pip == ["pkgtiny==2.0"]
    assert env.conda == ["numpy=1.26", "conda-forge::cudatoolkit=11.8"]
    assert env.channels == ["conda-forge"]
    for text, python in [
        ("dependencies: [python==3.12.*]", "3.12"),
        ("dependencies: ['python>=3.10']", ">=3.10"),
        ("dependencies: [python]", None),
    ]:
        f.write_text(text)
        assert spec.parse_environment_file(f).python == python
    f.write_text("dependencies: [{conda: [x]}]")
    with pytest.raises(InvalidInput, match="unsupported dependency entry"):
        spec.parse_environment_file(f)
    f.write_text("dependencies: [: bad")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        spec.parse_environment_file(f)


def test_conda_only_entries_are_refused_by_name_without_conda(config, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    f = tmp_path / "environment.yaml"
    f.write_text("dependencies:\n  - numpy=1.26\n  - cudatoolkit\n  - pip:\n    - pkgtiny\n")
    with pytest.raises(InvalidInput) as exc:
        plan_create("cenv", config=config, environment_file=f, extend=False)
    msg = str(exc.value)
    assert "needs conda for: numpy=1.26, cudatoolkit" in msg
    assert "pkgtiny" not in msg


# -- metadata, listing, change token, locks -----------------------------------------------------
def test_listing_reads_metadata_and_checks_the_disk(config):
    assert haienv.list_envs(config) == []
    token0 = haienv.change_token(config)
    fake_env(config, "base1", shared=True)
    fake_env(config, "good", labels={"team": "cv"}, note="hi")
    fake_env(config, "gone", make_dir=False)  # ready, but its folder vanished
    fake_env(config, "dead", status="creating")  # nobody holds its lock
    token1 = haienv.change_token(config)
    assert token1 != token0
    envs = {(e.name, e.is_base): e for e in haienv.list_envs(config)}
    assert set(envs) == {("good", False), ("gone", False), ("dead", False), ("base1", True)}
    good = envs[("good", False)]
    assert good.ready and good.labels == {"team": "cv"} and good.note == "hi"
    assert good.python == str(Path(good.path) / "bin" / "python")
    assert envs[("gone", False)].status == "failed"
    assert "missing" in envs[("gone", False)].reason
    assert envs[("dead", False)].status == "failed"
    assert "interrupted" in envs[("dead", False)].reason
    assert [e.name for e in haienv.list_envs(config, include_bases=False)] == [
        "dead",
        "gone",
        "good",
    ]
    assert haienv.change_token(config) == token1  # reading changes nothing
    assert haienv.get_env("base1", config).is_base
    with pytest.raises(EnvNotFound, match="haienv list"):
        haienv.get_env("nope", config)


def test_user_env_wins_over_base_of_the_same_name(config):
    fake_env(config, "torch", shared=True)
    fake_env(config, "torch")
    assert not haienv.get_env("torch", config).is_base
    assert Store(config).find("torch", shared=True).is_base


def test_listing_ignores_foreign_files(config):
    fake_env(config, "good")
    folder = config.user_dir
    (folder / "README.json").write_text("{}")
    (folder / "bad name.json").write_text("{}")
    (folder / "broken.json").write_text("{not json")
    names = {e.name: e for e in haienv.list_envs(config)}
    assert set(names) == {"good", "broken"}
    assert names["broken"].status == "failed"


def test_lock_is_exclusive_and_names_the_holder(config):
    store = Store(config)
    with store.locked("busy", False, "creating"):
        with (
            pytest.raises(EnvBusy, match="being created or removed by another process"),
            store.locked("busy", False, "creating"),
        ):
            pass
        fake_env(config, "busy", status="creating", make_dir=False)
        assert haienv.get_env("busy", config).status == "creating"  # lock held: still running
    assert haienv.get_env("busy", config).status == "failed"
    with store.locked("busy", False, "removing"):
        pass


def test_remove_fake_env(config):
    fake_env(config, "old")
    haienv.remove_env("old", config=config)
    assert haienv.list_envs(config) == []
    assert not (config.user_dir / "old").exists()
    with pytest.raises(EnvNotFound):
        haienv.remove_env("old", config=config)


def test_remove_base_refused_while_extended(config):
    base = fake_env(config, "base1", shared=True)
    fake_env(config, "child", extends="base1", extends_path=str(base))
    with pytest.raises(HaiEnvError, match="extended by alice/child"):
        haienv.remove_env("base1", config=config, shared=True)
    haienv.remove_env("base1", config=config, shared=True, force=True)
    assert haienv.get_env("child", config).status == "failed"  # its base is gone


# -- configuration ------------------------------------------------------------------------------
def test_config_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("HAIENV_ROOT", str(tmp_path / "from-env"))
    monkeypatch.setenv("JUPYTERHUB_USER", "hubuser")
    monkeypatch.delenv("HAIENV_USER", raising=False)
    monkeypatch.delenv("HAIENV_UV_CACHE_DIR", raising=False)
    c = HaiEnvConfig()
    assert c.root == str(tmp_path / "from-env")
    assert c.user == "hubuser"
    assert c.uv_cache_dir == str(tmp_path / "from-env" / "cache" / "uv")
    assert HaiEnvConfig(root="/explicit").root == "/explicit"
    from traitlets.config import Config

    cfg = Config()
    cfg.HaiEnvConfig.default_base = "torch"
    assert HaiEnvConfig(config=cfg).default_base == "torch"


def test_site_config_file(monkeypatch, tmp_path):
    monkeypatch.delenv("HAIENV_CONFIG", raising=False)
    root = tmp_path / "root"
    root.mkdir()
    (root / "haienv_config.json").write_text(
        json.dumps({"HaiEnvConfig": {"default_base": "torch", "root": "/ignored"}})
    )
    c = load_config(root=str(root))
    assert c.default_base == "torch" and c.root == str(root)
    (root / "haienv_config.json").write_text("[1]")
    with pytest.raises(InvalidInput):
        load_config(root=str(root))


# -- plans that are refused before anything is built ------------------------------------------
def test_plan_refusals(config, tmp_path):
    fake_env(config, "base1", shared=True)
    fake_env(config, "broken-base", shared=True, status="failed", reason="boom")
    with pytest.raises(InvalidInput, match="uses that python"):
        plan_create("x1", config=config, base="base1", python="2.7")
    with pytest.raises(EnvNotFound, match="no shared base named 'nobase'"):
        plan_create("x1", config=config, base="nobase")
    config.default_base = "nobase"
    with pytest.raises(EnvNotFound, match="configured default base"):
        plan_create("x1", config=config)
    config.default_base = ""
    with pytest.raises(InvalidInput, match="is failed: boom"):
        plan_create("x1", config=config, base="broken-base")
    with pytest.raises(InvalidInput, match="does not exist"):
        plan_create("x1", config=config, requirements=[tmp_path / "nope.txt"])
    with pytest.raises(InvalidInput, match="one of"):
        plan_create("x1", config=config, packages=["a"], environment_file=tmp_path / "e.yaml")
    with pytest.raises(InvalidInput, match="cannot extend"):
        plan_create("x1", config=config, base="base1", shared=True)
    with pytest.raises(InvalidInput, match="invalid base name"):
        plan_create("x1", config=config, base="../etc")
    plan = plan_create("x1", config=config, base="base1", packages=["pkgtiny==2.0"])
    assert plan.base is not None and plan.python_version == plan.base.python_version
    assert "extends base base1" in "\n".join(plan.describe())
    assert plan_create("x2", config=config).base is None  # no default base: standalone


def test_create_request_is_frozen_and_plans_like_keywords(config):
    fake_env(config, "base1", shared=True)
    request = CreateRequest("x1", packages=["pkgtiny==2.0"], base="base1", labels={"team": "a"})
    assert request.packages == ("pkgtiny==2.0",) and request.labels == {"team": "a"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.note = "changed"  # type: ignore[misc]
    by_request = plan_request(request, config=config)
    by_keywords = plan_create(
        "x1", config=config, packages=["pkgtiny==2.0"], base="base1", labels={"team": "a"}
    )
    assert by_request == by_keywords
    with pytest.raises(TypeError):
        plan_create("x1", config=config, pakages=["typo"])


def test_lock_file_parsing(tmp_path, config):
    f = tmp_path / "x.lock"
    f.write_text("pkgtiny==1.0\n")
    with pytest.raises(InvalidInput, match="not a haienv lock"):
        read_lock(f)
    f.write_text(
        "# haienv lock v1\n# python: 3.11.7\n# platform: linux-x86_64\n# extends: base1\n"
        "# requested: pkgtiny\npkgtiny==2.0\n"
    )
    lock = read_lock(f)
    assert (lock.python, lock.extends, lock.packages) == ("3.11.7", "base1", ["pkgtiny==2.0"])
    fake_env(config, "base1", shared=True)
    with pytest.raises(InvalidInput, match="would not rebuild"):
        plan_create("x1", config=config, from_lock=f, base="other")
    with pytest.raises(InvalidInput, match="drop --no_extend"):
        plan_create("x1", config=config, from_lock=f, extend=False)


def test_set_env_refuses_another_python(config):
    fake_env(config, "py399", python_version="3.99.0")
    with pytest.raises(HaiEnvError, match=r"built for python 3\.99\.0"):
        haienv.set_env("py399", config=config)
    fake_env(config, "notyet", status="failed", reason="boom", make_dir=False)
    with pytest.raises(HaiEnvError, match="is failed: boom"):
        haienv.env_vars("notyet", config=config)


def test_env_vars_put_env_then_base_first(config):
    base = fake_env(config, "base1", shared=True)
    child = fake_env(config, "child", extends="base1", extends_path=str(base))
    v = haienv.env_vars("child", config=config, path="/usr/bin")
    shim = haienv.activate.SHIM_DIR  # `pip` installs into the env (it has none of its own)
    assert v["PATH"] == os.pathsep.join([str(child / "bin"), shim, str(base / "bin"), "/usr/bin"])
    assert v["HAIENV_UV"] == config.uv
    assert v["VIRTUAL_ENV"] == str(child)


def test_push_refuses_urls_and_extending_envs(config, tmp_path):
    base = fake_env(config, "base1", shared=True)
    fake_env(config, "child", extends="base1", extends_path=str(base))
    fake_env(config, "solo")
    with pytest.raises(Unsupported, match="standalone"):
        haienv.push_env("child", str(tmp_path), config=config)
    with pytest.raises(Unsupported, match="not supported in this version"):
        haienv.push_env("solo", "s3://bucket/haienv", config=config)
    with pytest.raises(InvalidInput, match="not a folder"):
        haienv.push_env("solo", str(tmp_path / "nowhere"), config=config)
    target = HaiEnvConfig(root=str(tmp_path / "cluster"), user="alice")
    Path(target.root).mkdir()
    with pytest.raises(InvalidInput, match="no ready base env"):
        haienv.push_env("solo", target.root, config=config)
    fake_env(target, "gpu", shared=True, python_version="3.99.1", platform="linux-aarch64")
    with pytest.raises(InvalidInput, match=r"does not run \(its bases: gpu: python 3.99.1"):
        haienv.push_env("solo", target.root, config=config)


# -- the command line's refusals -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["../evil", "Bad", "a", "x/y", "-rf"])
def test_cli_refuses_bad_names_and_creates_nothing(tmp_path, name):
    root = tmp_path / "root"
    r = CliRunner().invoke(main, ["--root", str(root), "create", "-y", "--", name])
    assert r.exit_code != 0
    assert "invalid environment name" in r.output and NAME_RULE in r.output
    assert not (root / "users").exists() or not any((root / "users").rglob("*.json"))


def test_cli_one_line_errors(tmp_path):
    root = str(tmp_path / "root")
    run = CliRunner().invoke
    r = run(main, ["--root", root, "status", "nope"])
    assert r.exit_code == 1 and r.output.startswith("error: no environment named 'nope'")
    r = run(main, ["--root", root, "create", "x1", "--label", "bad", "-y"])
    assert r.exit_code == 1 and "invalid label 'bad'" in r.output
    r = run(main, ["--root", root, "create", "x1", "--base", "b1", "--no_extend", "-y"])
    assert r.exit_code != 0 and "exclude each other" in r.output
    r = run(main, ["--root", root, "push", "x1", "--to", "https://cluster"])
    assert r.exit_code == 1 and "error:" in r.output
    r = run(main, ["--root", root, "myenv"])
    assert r.exit_code != 0 and "source haienv myenv" in r.output
    r = run(main, ["--root", root, "list"])
    assert r.exit_code == 0 and "no environments yet" in r.output
    r = run(main, ["--root", root, "list", "-o", "json"])
    assert r.exit_code == 0 and json.loads(r.stdout) == []


def test_cli_create_asks_before_building(tmp_path):
    root = tmp_path / "root"
    r = CliRunner().invoke(main, ["--root", str(root), "create", "x1", "--no_extend"], input="n\n")
    assert r.exit_code == 1
    assert "python" in r.output and "Create it?" in r.output and "aborted" in r.output
    assert not any(root.rglob("x1*"))


def test_in_a_dev_container_envs_get_a_kernel_unless_asked_not_to(tmp_path, monkeypatch):
    root = str(tmp_path / "root")

    def plan(*args: str) -> str:
        r = CliRunner().invoke(
            main, ["--root", root, "create", "x1", "--no_extend", *args], input="n\n"
        )
        return next(line for line in r.output.splitlines() if line.startswith("packages"))

    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    assert "ipykernel" not in plan("six")  # on a laptop: exactly what was asked
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    assert "ipykernel" in plan("six") and "six" in plan("six")
    assert "ipykernel" not in plan("six", "--no-kernel")
    assert plan("ipykernel==6.29.5").count("ipykernel") == 1


def test_build_steps_wait_without_polling_and_are_killed_at_their_timeout(monkeypatch) -> None:
    """haienv.build.wait_or_kill: a blocking wait (subprocess.run(timeout=) polls with
    sleeps of up to 50 ms, which doubled the time of a short uv step), and a kill when the
    step overruns its timeout."""
    import subprocess
    import time

    from haienv.build import wait_or_kill

    def no_polling(seconds: float) -> None:
        raise AssertionError(f"polled with time.sleep({seconds})")

    monkeypatch.setattr(time, "sleep", no_polling)
    assert wait_or_kill(subprocess.Popen(["sleep", "0.05"]), 30) is True
    monkeypatch.undo()
    slow = subprocess.Popen(["sleep", "30"])
    assert wait_or_kill(slow, 0.2) is False
    assert slow.returncode == -9


def test_a_venv_template_is_only_used_for_its_own_interpreter(tmp_path: Path) -> None:
    from haienv import build

    py = tmp_path / "python3.99"
    py.write_text("")
    other = tmp_path / "other-python"
    other.write_text("")
    key = build.venv_template(tmp_path, str(py), "/no/uv")
    assert key is not None and key.name.startswith(build.VENV_TEMPLATE_PREFIX)
    os.utime(py, ns=(1, 1))  # an interpreter upgraded in place: another template
    assert build.venv_template(tmp_path, str(py), "/no/uv") != key
    template = tmp_path / "template"
    (template / "bin").mkdir(parents=True)
    (template / "bin" / "python").symlink_to(other)
    runner = build.Runner(HaiEnvConfig(root=str(tmp_path)), tmp_path / "log")
    target = tmp_path / "env"
    assert not build.copy_venv_template(runner, template, target, str(py))
    assert not target.exists()
    assert build.copy_venv_template(runner, template, target, str(other))
    assert os.readlink(target / "bin" / "python") == str(other)
