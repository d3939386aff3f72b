"""A chain that names a haienv: refused at submit time unless the env is ready, and run in it."""

from __future__ import annotations

import json
import os
import time

import pytest

import haienv
from tests.service_helpers import hai_cli, init_cli, scheduler_process

pytestmark = pytest.mark.slow


def test_submit_checks_the_env_and_the_rank_runs_inside_it(tmp_path):
    root = tmp_path / "envs"
    env = {"HAIENV_ROOT": str(root), "UV_OFFLINE": "1"}
    os.environ.update(env)
    try:
        info = haienv.create_env(
            "trainenv", config=haienv.HaiEnvConfig(user="alice"), extend=False, no_index=True
        )
    finally:
        for k in env:
            os.environ.pop(k)
    script = tmp_path / "where.py"
    script.write_text("import sys\nprint('prefix', sys.prefix)\n")
    home = tmp_path / "home"
    with scheduler_process(tmp_path, env=env) as svc:
        init_cli(home, svc.url, svc.tokens["alice"])
        bad = hai_cli(home, "python", str(script), "--", "--env", "nope", "--name", "x")
        assert bad.returncode != 0
        assert "haienv" in bad.stderr + bad.stdout and "nope" in bad.stderr + bad.stdout
        # bob has no env of that name: envs are per user
        init_cli(tmp_path / "bob", svc.url, svc.tokens["bob"])
        other = hai_cli(tmp_path / "bob", "python", str(script), "--", "--env", "trainenv")
        assert other.returncode != 0
        ok = hai_cli(home, "python", str(script), "--", "--env", "trainenv", "--name", "in-env")
        assert ok.returncode == 0, ok.stdout + ok.stderr
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            st = json.loads(hai_cli(home, "status", "in-env", "--json").stdout)
            if st["state"] == "finished":
                break
            time.sleep(0.3)
        assert st["stop_code"] == "succeeded", st
        logs = hai_cli(home, "logs", "in-env").stdout
        assert f"prefix {info.path}" in logs or f"prefix {os.path.realpath(info.path)}" in logs
