"""Start-up of hai-cli and haienv: nothing heavy is imported before the command is known.

The timing lives in ``benchmarks/bench_cli.py``; this test guards the mechanism that makes
it (deferred imports in :mod:`hai_client.lazy`, the standard library's HTTP client
instead of httpx, TLS loaded only for an https scheduler), so a regression fails here
whatever the machine's speed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hai_client.client import HaiClient
from hai_client.config import _read_quoted, load_config, save_config
from hai_client.entry import run_fast
from tests.haienv_fixtures import fake_env
from tests.service_helpers import ApiServer, add_nodes, api_server, hai_cli_here, init_cli

#: what only some commands need: the HTTP client, tables, YAML, package metadata
HEAVY = (
    "httpx", "httpcore", "anyio", "rich", "yaml", "importlib.metadata", "http.client", "ssl",
    "email.parser",
)  # fmt: skip

PROBE = """
import json, sys
from hai_client.entry import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = %r
print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


def loaded_after(
    *argv: str, home: str = "/nonexistent", cwd: Path | None = None, heavy: tuple = HEAVY
) -> list[str]:
    """Which of ``heavy`` the hai-cli console script has imported after running ``argv``."""
    res = subprocess.run(
        [sys.executable, "-c", PROBE % (heavy,), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": home, "PYTHONPATH": os.getcwd()},
        cwd=cwd,
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    db = tmp_path_factory.mktemp("startup-db") / "hai.sqlite"
    with api_server(f"sqlite:///{db}") as server:
        add_nodes(server.factory, "gpu", 1, gpus=8)
        yield server


def test_the_commands_users_type_load_nothing_heavy(srv: ApiServer, tmp_path: Path) -> None:
    """Against a live scheduler, piped (as the benchmark and scripts run them): neither
    `list` nor a submission in the documented form loads click, rich, dataclasses or typing, and
    neither reads conf.yaml with PyYAML."""
    token = srv.user("quick")
    init_cli(tmp_path, srv.url, token)
    (tmp_path / "x.py").write_text("print(1)\n")
    lean = (*HEAVY, "click", "dataclasses", "typing")
    assert loaded_after("list", home=str(tmp_path), heavy=lean) == []
    submit = ("python", "x.py", "--", "-n", "1")
    assert loaded_after(*submit, home=str(tmp_path), cwd=tmp_path, heavy=lean) == []
    with HaiClient(url=srv.url, token=token) as hai:
        assert [c.name for c in hai.list().chains] == ["x"]


@pytest.mark.parametrize(
    "token", ["abc", "0123-4_5", "yes", "1e3", "-x", "t'o\"k\\n", "日本", "a:b#c"]
)
def test_conf_yaml_is_read_as_yaml_reads_it_without_yaml(tmp_path: Path, token: str) -> None:
    """What `hai-cli init` writes is YAML, read back by json alone, to the same values."""
    path = save_config(token, "http://sched.example:8910", tmp_path / "conf.yaml")
    text = path.read_text()
    assert (
        _read_quoted(text)
        == yaml.safe_load(text)
        == {
            "url": "http://sched.example:8910/",
            "token": token,
        }
    )


def test_a_hand_edited_conf_yaml_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "conf.yaml"
    path.write_text("# mine\nurl: sched:1\ntoken: 12345\n")
    assert _read_quoted(path.read_text()) is None
    conf = load_config(path)
    assert (conf.url, conf.token) == ("http://sched:1/", "12345")


def test_help_and_parsing_import_nothing_heavy() -> None:
    assert loaded_after("--help") == []
    assert loaded_after("python", "--help") == []
    assert loaded_after("logs", "--help") == []


def test_a_command_that_talks_to_the_scheduler_loads_what_it_uses() -> None:
    # no config anywhere: the command fails cleanly, having loaded the client and its own
    # transport (no httpx, no http.client and its email parser, no ssl for an http
    # scheduler), no tables before there are rows
    code = PROBE.replace("heavy = %r", "heavy = %r + ('hai_client.client', 'hai_client.transport')")
    res = subprocess.run(
        [sys.executable, "-c", code % (HEAVY,), "list"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "PYTHONPATH": os.getcwd()},
    )
    assert json.loads(res.stdout.strip().splitlines()[-1]) == [
        "hai_client.client",
        "hai_client.transport",
    ], res.stderr
    assert "not configured" in res.stderr


ACTIVATE_PROBE = """
import json, sys
from haienv.cli import main
try:
    main(["shell-activate", "t1"])
except SystemExit as exc:
    assert not exc.code, exc.code
print()
print(json.dumps(sorted(m for m in ("rich", "rich.console", "rich.markup") if m in sys.modules)))
"""


def haienv_probe(code: str, root: Path) -> list[str]:
    """The lines ``code`` prints, run as alice with haienv root ``root``."""
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HAIENV_ROOT": str(root), "HAIENV_USER": "alice"},
    )
    assert res.returncode == 0, res.stderr
    return res.stdout.strip().splitlines()


def test_haienv_shell_activate_does_not_load_rich(tmp_path) -> None:
    """`haienv shell-activate NAME` (the command line's form): plain text, no rich."""
    fake_env(tmp_path, "t1", user="alice")
    *activation, loaded = haienv_probe(ACTIVATE_PROBE, tmp_path)
    assert "HF_ENV_NAME" in "\n".join(activation)
    assert loaded == "[]"


ENTER_PROBE = """
import json, sys
from haienv.activate import shell_main
code = shell_main(["t1"])
print()
heavy = ("click", "traitlets", "rich", "typing", "subprocess", "haienv.config", "haienv.cli",
         "socket", "datetime", "tempfile", "dataclasses", "inspect", "getpass", "sysconfig")
print(json.dumps([code, sorted(m for m in heavy if m in sys.modules)]))
"""


def test_source_haienv_loads_no_cli_and_no_traitlets(tmp_path) -> None:
    """`source haienv NAME` runs `haienv-activate NAME`: no click, no traitlets (the site
    file is read as JSON), no typing, no dataclasses (EnvInfo is a named tuple); and it
    honours the site file's settings."""
    fake_env(tmp_path, "t1", user="bob")
    (tmp_path / "haienv_config.json").write_text(
        json.dumps({"HaiEnvConfig": {"user": "bob", "uv": "/opt/uv"}})
    )
    *activation, result = haienv_probe(ENTER_PROBE, tmp_path)
    assert json.loads(result) == [0, []]
    text = "\n".join(activation)
    assert f"export VIRTUAL_ENV={tmp_path}/users/bob/t1" in text  # the site file's user
    assert "export HAIENV_UV=/opt/uv" in text


def test_source_haienv_finds_the_venvs_uv_without_sysconfig(tmp_path) -> None:
    """No site file: the default uv, this venv's (haienv.locations.default_uv), is found
    without the uv package's lookup (sysconfig)."""
    fake_env(tmp_path, "t1", user="alice")
    *activation, result = haienv_probe(ENTER_PROBE, tmp_path)
    assert json.loads(result) == [0, []]
    uv = Path(sys.prefix, "bin", "uv")
    assert f"export HAIENV_UV={uv}" in "\n".join(activation)


def test_deferred_modules_load_once_from_many_threads() -> None:
    """The lab server first uses hai_client.client from several request threads at once."""
    code = """
import sys, threading
from hai_client.lazy import lazy_module
mod = lazy_module("hai_client.render")
errors = []
def use():
    try:
        mod.chain_table
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=use) for _ in range(16)]
[t.start() for t in threads]
[t.join() for t in threads]
print(errors, type(sys.modules["hai_client.render"]).__name__)
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.stdout.strip() == "[] module", res.stdout + res.stderr


def fast(home: Path, *argv: str, monkeypatch: pytest.MonkeyPatch, capsys) -> tuple[int, str, str]:
    with monkeypatch.context() as m:
        m.setenv("HOME", str(home))
        m.chdir(home)
        code = run_fast(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_fast_submission_says_what_the_click_app_says(
    srv: ApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    init_cli(tmp_path, srv.url, srv.user("fast"), in_process=True)
    (tmp_path / "x.py").write_text("print(1)\n")
    argv = ("python", "x.py", "a", "--", "-n", "1", "--name", "sweep", "-p", "HIGH")
    code, out, err = fast(tmp_path, *argv, monkeypatch=monkeypatch, capsys=capsys)
    slow = hai_cli_here(tmp_path, *argv)
    ids = re.compile(r"\b\d+\b")
    assert (code, err) == (slow.returncode, slow.stderr) == (0, "")
    assert ids.sub("N", out) == ids.sub("N", slow.stdout)
    assert "Submitted chain" in out and "'sweep'" in out and "HIGH" in out

    code, out, _ = fast(tmp_path, *argv, "--json", monkeypatch=monkeypatch, capsys=capsys)
    slow = hai_cli_here(tmp_path, *argv, "--json")
    mine, theirs = json.loads(out), json.loads(slow.stdout)
    same = ("name", "priority", "node_count", "group", "owner")
    assert code == 0 and mine.keys() == theirs.keys()
    assert [mine[k] for k in same] == [theirs[k] for k in same]

    missing = ("python", "nope.py", "--", "-n", "1")
    code, out, err = fast(tmp_path, *missing, monkeypatch=monkeypatch, capsys=capsys)
    slow = hai_cli_here(tmp_path, *missing)
    assert (code, out, err) == (slow.returncode, slow.stdout, slow.stderr)
    assert err == "Error: no such file: nope.py\n"


def test_a_fast_list_says_what_the_click_app_says(
    srv: ApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    init_cli(tmp_path, srv.url, srv.user("lister"), in_process=True)
    (tmp_path / "x.py").write_text("print(1)\n")
    for name in ("one", "two", "three"):
        assert hai_cli_here(tmp_path, "python", "x.py", "--", "--name", name).returncode == 0
    for argv in (
        ("list",),
        ("list", "--page-size", "2", "--page=2"),
        ("list", "--name", "t*", "--json"),
        ("list", "--page", "9"),  # an error line: no page 9
        ("list", "--state", "nonsense"),  # the server's 400, said the same way
    ):
        code, out, err = fast(tmp_path, *argv, monkeypatch=monkeypatch, capsys=capsys)
        slow = hai_cli_here(tmp_path, *argv)
        assert (code, out, err) == (slow.returncode, slow.stdout, slow.stderr), argv
