"""``hai-cli`` (HOME set to a test folder) against the API served in-process (no
scheduling loop: tests play the loop through the database where needed).

Most commands run in this process too (click's runner, :func:`hai_cli_here`): the process
boundary proves nothing more for them, and an interpreter start per call cost most of this
file's time. Subprocesses remain where the boundary is the point: a command's exit status
and its one-line errors (``test_errors_are_one_clear_line_and_non_zero``, ``logs -f``'s
exit status), and commands that run a child writing to the terminal (``hai-cli python``
without ``--``, ``++``).

The end-to-end tests against the real ``hai-scheduler`` are in ``test_cli_e2e.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from scheduler.backends.base import RankKey
from scheduler.model.orm import Chain, Job, JobRank
from tests.service_helpers import (
    ApiServer,
    add_nodes,
    api_server,
    hai_cli,
    hai_cli_here,
    init_cli,
)

TRAIN = """\
version: 2
name: cli-train
spec:
  entrypoint: train.py
  parameters: --epochs 2
resource:
  node_count: 1
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    db = tmp_path_factory.mktemp("cli-db") / "hai.sqlite"
    with api_server(f"sqlite:///{db}", default_quota={"EXTREME_HIGH": 0}) as server:
        add_nodes(server.factory, "gpu", 2, gpus=8)
        server.ctx.catalog_seconds = 0.0
        yield server


@pytest.fixture
def home(srv: ApiServer, tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """A HOME with hai-cli initialised for a fresh user."""
    user = f"u{abs(hash(request.node.name)) % 10**8}"
    home = tmp_path / "home"
    init_cli(home, srv.url, srv.user(user), in_process=True)
    return home


def ok(home: Path, *args: str, process: bool = False, **kw) -> str:
    """Run a command that must succeed (``process``: as a subprocess); its stdout."""
    res = (hai_cli if process else hai_cli_here)(home, *args, **kw)
    assert res.returncode == 0, (args, res.stdout, res.stderr)
    return res.stdout


def fails(home: Path, *args: str, process: bool = False, **kw) -> str:
    """Run a command that must fail: non-zero, one clear 'Error:' line on stderr
    (``process``: as a subprocess)."""
    res = (hai_cli if process else hai_cli_here)(home, *args, **kw)
    assert res.returncode != 0, (args, res.stdout, res.stderr)
    err = res.stderr.strip()
    assert err.startswith("Error: "), err
    assert "Traceback" not in res.stderr
    return err


def finish(srv: ApiServer, chain_id: int, lines: tuple[str, ...] = ()) -> None:
    """Play the loop: the chain ran one job on gpu-n0 and succeeded, printing ``lines``."""
    now = dt.datetime.now(dt.UTC)
    with srv.factory.begin() as s:
        chain = s.get(Chain, chain_id)
        chain.state, chain.stop_code = "finished", "succeeded"
        chain.started_at = chain.finished_at = chain.updated_at = now
        job = Job(chain_id=chain_id, seq=0, ended_at=now, stop_code="succeeded")
        s.add(job)
        s.add(JobRank(job=job, rank=0, node="gpu-n0", state="succeeded", started_at=now))
    srv.app.backend.add_log(RankKey(chain_id, 0, 0), *lines)


# --------------------------------------------------------------------------- setup


def test_init_writes_a_private_config_and_whoami_reads_it(srv: ApiServer, tmp_path: Path):
    home = tmp_path / "h"
    home.mkdir()
    out = ok(home, "init", srv.user("initer"), "--url", srv.url)
    assert "you are initer (user)" in out
    conf = home / ".hai" / "conf.yaml"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    assert yaml.safe_load(conf.read_text())["url"] == srv.url
    assert "initer" in ok(home, "whoami")
    me = json.loads(ok(home, "whoami", "--json"))
    assert me["name"] == "initer" and me["role"] == "user"


def test_errors_are_one_clear_line_and_non_zero(srv: ApiServer, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "hai-cli init" in fails(empty, "list", process=True)
    assert "refused the token" in fails(
        empty, "init", "wrong-token", "--url", srv.url, process=True
    )
    assert not (empty / ".hai" / "conf.yaml").exists()
    # an unreachable server
    ok(empty, "init", "whatever", "--url", "http://127.0.0.1:9/", "--no-check", process=True)
    for args in (("list",), ("status", "x"), ("whoami",), ("nodes",)):
        err = fails(empty, *args, process=True)
        assert "cannot reach the HAI scheduler at http://127.0.0.1:9/" in err
        assert len(err.splitlines()) == 1
    # a token the server does not know
    ok(empty, "init", "not-a-token", "--url", srv.url, "--no-check", process=True)
    assert "refused the token" in fails(empty, "list", process=True)


def test_unknown_chain_and_bad_parameters(home: Path) -> None:
    assert "no chain 'nope'" in fails(home, "status", "nope")
    assert "no chain '424242'" in fails(home, "logs", "424242")
    assert "no chain 'nope'" in fails(home, "stop", "nope")
    assert "page_size: must be at most 50" in fails(home, "list", "--page_size", "51")
    assert "unknown group 'tpu'" in fails(home, "list", "--group", "tpu")
    assert "unknown state" in fails(home, "list", "--state", "sleeping")


# --------------------------------------------------------------------------- submit


def test_run_a_spec_file_with_overrides_then_list_status_describe(home: Path) -> None:
    (home / "train.yaml").write_text(TRAIN)
    out = ok(home, "run", "train.yaml", "-n", "2", "--name", "run-over", "--priority", "HIGH")
    assert "Submitted chain" in out and "'run-over'" in out and "2 node(s)" in out
    listing = ok(home, "list")
    assert "run-over" in listing and "page 1 of 1, 1 tasks" in listing
    for col in ("id", "name", "nodes", "chain_status", "suspend_count", "updated_at"):
        assert col in listing
    chain = json.loads(ok(home, "status", "run-over", "--json"))
    assert chain["node_count"] == 2 and chain["priority"] == "HIGH"
    assert chain["state"] == "waiting_init"
    described = ok(home, "describe", "run-over")
    assert yaml.safe_load(described)["resource"]["node_count"] == 2
    again = ok(home, "run", "-", input=described)
    assert "'run-over'" in again
    assert json.loads(ok(home, "list", "--json"))["total"] == 2
    assert json.loads(ok(home, "describe", "run-over", "--json"))["name"] == "run-over"


def test_spec_errors_quote_the_line(home: Path) -> None:
    (home / "bad.yaml").write_text(TRAIN.replace("  entrypoint:", "  entrypont:"))
    err = fails(home, "run", "bad.yaml")
    assert "line 4: spec.entrypont: unknown field (did you mean 'entrypoint'?)" in err
    assert "4 |   entrypont: train.py" in err
    (home / "long.yaml").write_text(TRAIN.replace("cli-train", "x" * 129))
    assert "name: is 129 characters long; the most is 128" in fails(home, "run", "long.yaml")
    (home / "train.yaml").write_text(TRAIN)
    over = fails(home, "run", "train.yaml", "--priority", "EXTREME_HIGH")
    assert "above your quota" in over
    assert "cannot read missing.yaml" in fails(home, "run", "missing.yaml")
    assert "unknown group 'tpu'" in fails(home, "run", "train.yaml", "-g", "tpu")


def test_python_with_double_dash_submits_with_cluster_options(
    srv: ApiServer, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import haienv

    # the envs the chains name must exist and be ready for this user (checked at submit)
    monkeypatch.setenv("HAIENV_ROOT", str(tmp_path / "envs"))
    monkeypatch.setenv("UV_OFFLINE", "1")
    user = json.loads(ok(home, "whoami", "--json"))["name"]
    for name in ("torch2", "other"):
        haienv.create_env(name, config=haienv.HaiEnvConfig(user=user), extend=False, no_index=True)
    (home / "train.py").write_text("print('hi')\n")
    out = ok(
        home,
        "python",
        "train.py",
        "--lr",
        "0.1",
        "--",
        "-n",
        "2",
        "--name",
        "py1",
        "--priority",
        "LOW",
    )
    assert "Submitted chain" in out and "'py1'" in out
    spec = yaml.safe_load(ok(home, "describe", "py1"))
    assert spec["spec"]["entrypoint"] == "train.py"
    assert spec["spec"]["parameters"] == ["--lr", "0.1"]
    assert spec["spec"]["workspace"] == str(home)
    assert spec["resource"]["node_count"] == 2 and spec["priority"] == "LOW"
    # default name from the script; HF_ENV_NAME picks the haienv
    ok(home, "python", "train.py", "--", env={"HF_ENV_NAME": "torch2"})
    spec = yaml.safe_load(ok(home, "describe", "train"))
    assert spec["spec"]["haienv"] == "torch2"
    (home / "run.sh").write_text("echo hi\n")
    ok(home, "bash", "run.sh", "--", "--env", "other")
    assert yaml.safe_load(ok(home, "describe", "run"))["spec"]["haienv"] == "other"
    assert "no such file: nope.py" in fails(home, "python", "nope.py", "--")
    assert "use hai-cli exec" in fails(home, "python", "run.sh", "--")
    assert "No such option" in hai_cli_here(home, "python", "train.py", "--", "--bogus").stderr
    # a spec that names its env keeps it, and says so when $HF_ENV_NAME differs
    (home / "pinned.yaml").write_text(
        TRAIN.replace("  entrypoint:", "  haienv: other\n  entrypoint:")
    )
    res = hai_cli_here(
        home, "run", "pinned.yaml", "--name", "pinned", env={"HF_ENV_NAME": "torch2"}
    )
    assert res.returncode == 0, res.stderr
    assert "the spec's haienv 'other' is used, not $HF_ENV_NAME='torch2'" in res.stderr
    assert yaml.safe_load(ok(home, "describe", "pinned"))["spec"]["haienv"] == "other"
    ok(home, "run", "pinned.yaml", "--name", "pinned2", "--env", "torch2")
    assert yaml.safe_load(ok(home, "describe", "pinned2"))["spec"]["haienv"] == "torch2"


def test_python_without_double_dash_runs_here(home: Path) -> None:
    (home / "t.py").write_text(
        "import sys, os\nprint('args', sys.argv[1:], os.environ.get('RANK'))\nsys.exit(3)\n"
    )
    res = hai_cli(home, "python", "t.py", "--flag", "x")
    assert res.returncode == 3
    assert res.stdout.strip() == "args ['--flag', 'x'] None"
    res = hai_cli(home, "bash", "-c", "echo from-bash")
    assert res.returncode == 0 and res.stdout.strip() == "from-bash"
    res = hai_cli(home, "exec", "true")
    assert res.returncode == 0
    assert "cannot run" in fails(home, "exec", "no-such-program-here")
    # "same as python t.py": the python first on PATH (an entered haienv's), not hai-cli's
    fake = home / "fakebin"
    fake.mkdir()
    (fake / "python").write_text('#!/bin/sh\necho "the env python $*"\n')
    (fake / "python").chmod(0o755)
    path = f"{fake}{os.pathsep}{os.environ['PATH']}"
    res = hai_cli(home, "python", "t.py", "a", env={"PATH": path})
    assert res.stdout.strip() == "the env python t.py a", res.stdout + res.stderr


def test_plus_plus_runs_here_like_a_rank(home: Path) -> None:
    (home / "rank.py").write_text(
        "import os\n"
        "from hai_client import task\n"
        "keys = ['RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'HAI_CHAIN_ID', 'HAI_JOB_SEQ',\n"
        "        'HAI_IS_RESUME', 'HAI_WHOLE_LIFE_STATE', 'HAI_SUSPEND_COUNT']\n"
        "print(' '.join(f'{k}={os.environ[k]}' for k in keys))\n"
        "print('port', int(os.environ['MASTER_PORT']) > 0)\n"
        "print('control', os.path.isdir(os.environ['HAI_CONTROL_DIR']))\n"
        "print('suspend?', task.receive_suspend_command())\n"
        "task.set_whole_life_state(7); print('wls', task.get_whole_life_state())\n"
    )
    res = hai_cli(home, "python", "rank.py", "++")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == (
        "RANK=0 WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 HAI_CHAIN_ID=local HAI_JOB_SEQ=0 "
        "HAI_IS_RESUME=0 HAI_WHOLE_LIFE_STATE=0 HAI_SUSPEND_COUNT=0"
    )
    assert lines[1:] == ["port True", "control True", "suspend? False", "wls 7"]
    res = hai_cli(home, "python", "rank.py", "++", "-n", "2")
    assert res.returncode == 0 and "runs one rank here" in res.stderr


# --------------------------------------------------------------------------- read / act


def test_logs_show_the_status_header_then_timestamped_lines(srv: ApiServer, home: Path):
    (home / "train.yaml").write_text(TRAIN)
    chain = json.loads(ok(home, "run", "train.yaml", "--json"))
    finish(srv, chain["id"], ("epoch 0 loss 1.0", "epoch 1 loss 0.5"))
    out = ok(home, "logs", "cli-train")
    head = out.partition("epoch 0")[0]
    assert "chain_status" in head and "finished (succeeded)" in head
    assert "rank" in head and "gpu-n0" in head
    log_lines = [x for x in out.splitlines() if "loss" in x]
    assert len(log_lines) == 2
    stamp, text = log_lines[0].split(" ", 1)
    assert dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")) and text == "epoch 0 loss 1.0"
    followed = hai_cli_here(home, "logs", str(chain["id"]), "-f")
    assert followed.returncode == 0 and "epoch 1 loss 0.5" in followed.stdout
    assert f"chain {chain['id']} finished (succeeded)" in followed.stderr
    stream = ok(home, "logs", "cli-train", "--json")
    assert [x["text"] for x in json.loads(stream)["lines"]] == [
        "epoch 0 loss 1.0",
        "epoch 1 loss 0.5",
    ]


def test_stop_and_other_users_chains(srv: ApiServer, home: Path, tmp_path: Path) -> None:
    (home / "train.yaml").write_text(TRAIN)
    chain = json.loads(ok(home, "run", "train.yaml", "--json"))
    assert "stop requested" in ok(home, "stop", "cli-train")
    assert json.loads(ok(home, "status", str(chain["id"]), "--json"))["stop_requested"]
    other = tmp_path / "other"
    init_cli(other, srv.url, srv.user("intruder"), in_process=True)
    assert "no chain" in fails(other, "status", str(chain["id"]))
    assert "no chain" in fails(other, "stop", str(chain["id"]))
    assert "no chain" in fails(other, "logs", str(chain["id"]))
    assert "cli-train" not in ok(other, "list")
    assert "only an admin" in fails(home, "suspend", str(chain["id"]))
    finish(srv, chain["id"])
    assert "has finished" in fails(home, "stop", str(chain["id"]))


def test_priority_command_respects_the_quota(srv: ApiServer, home: Path) -> None:
    (home / "train.yaml").write_text(TRAIN)
    ok(home, "run", "train.yaml", "--name", "prio")
    assert "priority HIGH" in ok(home, "priority", "prio", "HIGH")
    assert "above your quota" in fails(home, "priority", "prio", "EXTREME_HIGH")


def test_nodes_monitor_and_narrow_terminals(srv: ApiServer, home: Path) -> None:
    nodes = ok(home, "nodes")
    assert "gpu" in nodes and "gpu-n1" in nodes
    groups = json.loads(ok(home, "nodes", "--json"))["groups"]
    assert {g["name"] for g in groups} >= {"gpu"}
    mon = ok(home, "monitor")
    assert "waiting_init" in mon and "GPUs per group" in mon
    assert json.loads(ok(home, "monitor", "--json"))["scope"] == "own"
    (home / "train.yaml").write_text(TRAIN)
    ok(home, "run", "train.yaml", "--name", "a-rather-long-chain-name-for-a-narrow-terminal")
    for cmd in (
        ("list",),
        ("status", "a-rather-long-chain-name-for-a-narrow-terminal"),
        ("nodes",),
        ("whoami",),
        ("monitor",),
    ):
        narrow = ok(home, *cmd, env={"COLUMNS": "60"})
        assert max(len(x) for x in narrow.splitlines()) <= 60, narrow
    # piped, with no $COLUMNS: one line per row, nothing cut mid-word (as kubectl, gh)
    long_name = "a-rather-long-chain-name-for-a-narrow-terminal"
    piped = ok(home, "list", env={"COLUMNS": ""})
    row = next(line for line in piped.splitlines() if long_name in line)
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", row) or re.search(r"\d\d-\d\d \d\d:\d\d", row)
    status = ok(home, "status", long_name, env={"COLUMNS": ""})
    assert any(long_name in line for line in status.splitlines())


def test_version_completion_validate_and_haienv(srv: ApiServer, home: Path, tmp_path: Path):
    out = ok(home, "version")
    assert out.startswith("hai-cli ") and "hai-scheduler" in out
    info = json.loads(ok(home, "version", "--json"))
    assert info["server"] and info["hai-cli"]
    script = ok(home, "completion", "bash")
    assert "_HAI_CLI_COMPLETE" in script
    (home / "train.yaml").write_text(TRAIN)
    ok(home, "run", "train.yaml", "--name", "completable")
    words = hai_cli_here(
        home,
        env={
            "_HAI_CLI_COMPLETE": "bash_complete",
            "COMP_WORDS": "hai-cli status comp",
            "COMP_CWORD": "2",
        },
    ).stdout
    assert "completable" in words

    def complete(line: str) -> str:
        words = line.split()
        env = {"_HAI_CLI_COMPLETE": "bash_complete", "COMP_WORDS": line}
        return hai_cli_here(home, env={**env, "COMP_CWORD": str(len(words) - 1)}).stdout

    out = json.loads(ok(home, "run", "train.yaml", "--name", "comp-done", "--json"))
    finish(srv, out["id"])
    assert "comp-done" in complete("hai-cli logs comp")
    assert "comp-done" not in complete("hai-cli logs -f comp"), "finished: nothing to follow"
    assert "comp-done" not in complete("hai-cli ssh comp")
    assert "completable" in complete("hai-cli ssh comp")
    commands = hai_cli_here(
        home,
        env={"_HAI_CLI_COMPLETE": "bash_complete", "COMP_WORDS": "hai-cli lo", "COMP_CWORD": "1"},
    ).stdout
    assert "logs" in commands
    root = tmp_path / "envroot"
    root.mkdir()
    checks = json.loads(ok(home, "validate", "--json", env={"HAIENV_ROOT": str(root)}))
    names = {c["check"]: c["status"] for c in checks["checks"]}
    assert names["env root"] == "ok" and names["disk home"] == "ok"
    assert "gpus" in names or "driver" in names
    # a root not made yet passes (a fresh install); one that cannot be made fails
    ok(home, "validate", env={"HAIENV_ROOT": str(tmp_path / "missing")})
    (tmp_path / "a-file").write_text("")
    err = fails(home, "validate", env={"HAIENV_ROOT": str(tmp_path / "a-file" / "root")})
    assert "env root" in err
    res = hai_cli_here(home, "haienv", "--help")
    assert res.returncode == 0, res.stderr
    assert "Usage: hai-cli haienv" in res.stdout and "create" in res.stdout


def test_client_class_is_usable_from_python(srv: ApiServer, tmp_path: Path) -> None:
    from hai_client.client import HaiClient, HaiError

    token = srv.user("pyuser")
    with HaiClient(srv.url, token) as hai:
        chain = hai.create(
            {"name": "from-py", "spec": {"entrypoint": "x.py", "workspace": "/w"}},
            overrides={"node_count": 2},
        )
        assert chain.node_count == 2 and chain.state == "waiting_init"
        assert hai.get("from-py").id == chain.id
        page = hai.list(page_size=5)
        assert page.total == 1 and page.chains[0].name == "from-py"
        assert "from-py" in hai.describe(chain.id)
        assert hai.whoami().name == "pyuser"
        assert hai.stop(chain.id).stop_requested
        with pytest.raises(HaiError) as info:
            hai.get("missing")
        assert info.value.status == 404 and info.value.field == "ref"
        with pytest.raises(HaiError) as info:
            hai.create("name: a\nspec: {entrypont: x}\n")
        assert info.value.status == 422 and info.value.field == "spec.entrypont"
    with pytest.raises(HaiError, match="cannot reach"), HaiClient("127.0.0.1:9", "t") as hai:
        hai.whoami()


def test_token_list_create_and_revoke_in_process(srv: ApiServer, home: Path) -> None:
    """``hai-cli token …`` run in-process (click's runner): the process boundary proves
    nothing more here."""
    from click.testing import CliRunner

    from hai_client.cli import cli

    def run(*args: str) -> tuple[int, str]:
        res = CliRunner().invoke(cli, list(args), env={"HOME": str(home), "COLUMNS": "200"})
        return res.exit_code, res.output

    code, out = run("token", "create", "--note", "ci", "--days", "7")
    assert code == 0 and "expires: 20" in out, out
    made = out.strip().splitlines()[-1]
    code, out = run("token", "list")
    row = next(line for line in out.splitlines() if "\tci\t" in line)
    token_id = row.split("\t")[0]
    code, out = run("token", "list", "--json")
    assert code == 0 and any(t["note"] == "ci" for t in json.loads(out))
    other = home.parent / "with-new-token"
    init_cli(other, srv.url, made, in_process=True)
    assert hai_cli_here(other, "whoami").returncode == 0
    code, out = run("token", "revoke", token_id)
    assert code == 0 and "revoked" in out
    assert "refused the token" in fails(other, "whoami")
    code, out = run("token", "revoke", token_id)
    assert code == 1 and f"no token {token_id}" in out
    code, out = run("token", "create", "--days", "0")
    assert code == 2 and "0 is not in the range" in out


def test_in_a_dev_container_no_init_is_needed(srv: ApiServer, tmp_path: Path) -> None:
    """The spawner's HAI_SCHEDULER_URL and the server's JUPYTERHUB_API_TOKEN are enough:
    the same resolver serves hai-cli, the client, the magics and the lab extension."""
    from click.testing import CliRunner

    from hai_client.cli import cli
    from hai_client.config import load_config

    token = srv.user("dora")
    env = {
        "HOME": str(tmp_path / "empty-home"),
        "HAI_SCHEDULER_URL": srv.url,
        "JUPYTERHUB_API_TOKEN": token,
        "HAI_URL": None,
        "HAI_TOKEN": None,
    }
    res = CliRunner().invoke(cli, ["whoami", "--json"], env=env)
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["name"] == "dora"
    assert not (tmp_path / "empty-home" / ".hai").exists(), "nothing was written"
    # explicit settings still win over the container's
    res = CliRunner().invoke(cli, ["whoami"], env={**env, "HAI_TOKEN": "wrong"})
    assert res.exit_code == 1 and "refused the token" in res.output
    assert load_config(url="http://x:1", token="t").source == "explicit"


def test_help_version_and_subcommand_help_as_hai_documents_them(home: Path) -> None:
    from click.testing import CliRunner

    from hai_client.cli import cli

    run = CliRunner().invoke
    version = run(cli, ["--version"])
    assert version.exit_code == 0 and version.output.startswith("hai-cli ")
    top = run(cli, ["--help"]).output
    sections = ["Exec Commands", "Task Manage Cmds", "Cluster Commands", "User Commands"]
    positions = [top.index(s + ":") for s in [*sections, "UGC Commands"]]
    assert positions == sorted(positions), top
    assert top.index("python") > top.index("Exec Commands:") > 0
    for kind in ("python", "bash", "exec"):
        for flag in ("--help", "-h"):
            res = run(cli, [kind, flag])
            assert res.exit_code == 0 and f"Usage: cli {kind}" in res.output, res.output
            assert "submits it" in res.output


def test_exec_finds_a_program_of_this_folder_or_refuses_at_submit(
    srv: ApiServer, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (home / "mybin").write_text("#!/bin/sh\necho hi\n")
    (home / "mybin").chmod(0o755)
    (home / "notexec").write_text("x")
    ok(home, "exec", "mybin", "-n", "1", "--", "--name", "t-exec")
    assert yaml.safe_load(ok(home, "describe", "t-exec"))["spec"]["entrypoint"] == "./mybin"
    assert "no such program: nothere" in fails(home, "exec", "nothere", "--")
    assert "not executable" in fails(home, "exec", "notexec", "--")
    ok(home, "exec", "true", "--", "--name", "t-true")  # a command on PATH
    assert yaml.safe_load(ok(home, "describe", "t-true"))["spec"]["entrypoint"] == "true"


def test_following_exits_with_the_chains_result(srv: ApiServer, home: Path) -> None:
    (home / "fail.py").write_text("raise SystemExit(1)\n")
    out = json.loads(ok(home, "python", "fail.py", "--", "--name", "will-fail", "--json"))
    now = dt.datetime.now(dt.UTC)
    with srv.factory.begin() as s:
        chain = s.get(Chain, out["id"])
        chain.state, chain.stop_code, chain.finished_at = "finished", "failed", now
        job = Job(chain_id=chain.id, seq=0, ended_at=now, stop_code="failed")
        s.add(job)
        s.add(JobRank(job=job, rank=0, node="gpu-n0", state="failed", started_at=now))
    res = hai_cli(home, "logs", "will-fail", "-f")
    assert res.returncode == 3, (res.returncode, res.stderr)
    assert "chain" in res.stderr and "(failed)" in res.stderr
    done = json.loads(ok(home, "python", "fail.py", "--", "--name", "will-pass", "--json"))
    finish(srv, done["id"])
    assert hai_cli(home, "logs", "will-pass", "-f").returncode == 0


def test_plus_plus_can_simulate_a_suspend_and_the_resumed_job(home: Path) -> None:
    """`++ --suspend-after S`: the toy training checkpoints when asked, runs again as the
    resumed job from its checkpoint, and ends with the same result as an uninterrupted run."""
    toy = Path(__file__).with_name("assets") / "toy_train.py"
    res = hai_cli(home, "python", str(toy), "12", "0.05", "plain.json", "++")
    assert res.returncode == 0, res.stderr
    res = hai_cli(
        home, "python", str(toy), "12", "0.05", "suspended.json", "++", "--suspend-after", "0.2"
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "checkpointed at step" in res.stdout and "resumed at step" in res.stdout
    assert "(suspend_count 1)" in res.stdout
    assert "running the resumed job 1" in res.stderr
    plain = json.loads((home / "plain.json").read_text())
    assert json.loads((home / "suspended.json").read_text()) == plain
    bad = hai_cli(home, "python", str(toy), "1", "0", "x.json", "++", "--suspend-after", "soon")
    assert bad.returncode == 2 and "--suspend-after needs a number" in bad.stderr


def test_a_page_past_the_end_and_validate_on_a_fresh_install(
    srv: ApiServer, home: Path, tmp_path: Path
) -> None:
    pages = json.loads(ok(home, "list", "--json"))["pages"]
    assert f"no page {pages + 1}: there are {pages}" in fails(
        home, "list", "--page", str(pages + 1)
    )
    fresh = tmp_path / "fresh-home" / ".haienv"  # a new user: no haienv root yet
    checks = json.loads(ok(home, "validate", "--json", env={"HAIENV_ROOT": str(fresh)}))
    root = next(c for c in checks["checks"] if c["check"] == "env root")
    assert root["status"] == "ok" and "not made yet" in root["detail"], root


def test_admin_command_line_users_quotas_nodes_tokens(srv: ApiServer, tmp_path: Path) -> None:
    """`hai-cli admin ...` in-process against the real API, as an admin and as a user."""
    from click.testing import CliRunner

    from hai_client.cli import cli

    boss, peon = tmp_path / "boss", tmp_path / "peon"
    init_cli(boss, srv.url, srv.user("boss", admin=True), in_process=True)
    init_cli(peon, srv.url, srv.user("peon"), in_process=True)

    def run(home: Path, *args: str) -> tuple[int, str]:
        res = CliRunner().invoke(cli, list(args), env={"HOME": str(home), "COLUMNS": ""})
        return res.exit_code, res.output

    code, out = run(boss, "admin", "users", "add", "newbie", "--group", "vision")
    assert code == 0 and out.startswith("added newbie\tvision"), out
    code, out = run(boss, "admin", "users", "add", "newbie")
    assert code == 1 and "exists already" in out
    assert run(boss, "admin", "users", "set-admin", "newbie")[1].endswith("admin\n")
    assert run(boss, "admin", "users", "map", "newbie", "hai-newbie")[0] == 0
    code, out = run(boss, "admin", "users", "list", "--json")
    row = next(u for u in json.loads(out) if u["name"] == "newbie")
    assert (row["admin"], row["group"], row["system_user"]) == (True, "vision", "hai-newbie")
    code, out = run(boss, "admin", "users", "set-group", "newbie")
    assert code == 0 and "\t-\t" in out  # no group any more
    code, out = run(boss, "token", "create", "--user", "newbie", "--json")
    newbie_token = json.loads(out)["token"]
    assert run(boss, "admin", "users", "disable", "newbie")[0] == 0
    gone = httpx.get(srv.api + "/whoami", headers={"Authorization": f"token {newbie_token}"})
    assert gone.status_code == 401
    assert run(boss, "admin", "users", "enable", "newbie")[0] == 0

    code, out = run(boss, "admin", "quotas", "set", "vision", "node-gpu-HIGH", "1", "--group")
    assert code == 0 and out.strip() == "group vision: node-gpu-HIGH = 1"
    assert run(boss, "admin", "quotas", "set", "peon", "node", "3")[0] == 0
    code, out = run(boss, "admin", "quotas", "list")
    assert "group\tvision\tnode-gpu-HIGH\t1" in out and "user\tpeon\tnode\t3" in out
    assert "default\t*\tEXTREME_HIGH\t0" in out
    code, out = run(boss, "admin", "quotas", "set", "peon", "node-gpu-SOON", "1")
    assert code == 1 and "invalid quota resource" in out
    assert run(boss, "admin", "quotas", "remove", "peon", "node")[0] == 0
    code, out = run(boss, "admin", "quotas", "remove", "peon", "node")
    assert code == 1 and "no user quota node" in out

    code, out = run(boss, "admin", "nodes", "drain", "gpu-n0")
    assert code == 0 and out.strip() == "gpu-n0 (gpu): draining"
    nodes = json.loads(run(boss, "nodes", "--json")[1])["groups"]
    states = {n["name"]: n["state"] for g in nodes for n in g["node_list"]}
    assert states["gpu-n0"] == "draining"
    assert run(boss, "admin", "nodes", "undrain", "gpu-n0")[0] == 0
    code, out = run(boss, "admin", "nodes", "drain", "nope")
    assert code == 1 and "no node 'nope'" in out

    # users get the API's refusal, as one line
    for args in (
        ("admin", "users", "list"),
        ("admin", "quotas", "set", "peon", "node", "99"),
        ("admin", "nodes", "drain", "gpu-n0"),
    ):
        code, out = run(peon, *args)
        assert code == 1 and out.startswith("Error: ") and "only admins" in out, out
