"""Start-up of hai-cli and haienv: nothing heavy is imported before the command is known.

The timing lives in ``benchmarks/bench_cli.py``; this test guards the mechanism that makes
it (deferred imports in :mod:`hai_client.lazy`, the standard library's HTTP client
instead of httpx, TLS loaded only for an https scheduler), so a regression fails here
whatever the machine's speed.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys

from hai_client.transport import Transport
from tests.haienv_fixtures import fake_env

#: what only some commands need: the HTTP client, tables, YAML, package metadata
HEAVY = (
    "httpx", "httpcore", "anyio", "rich", "yaml", "importlib.metadata", "http.client", "ssl",
)  # fmt: skip

PROBE = """
import json, sys
from hai_client.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = %r
print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


def loaded_after(*argv: str) -> list[str]:
    res = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"},
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_help_and_parsing_import_nothing_heavy() -> None:
    assert loaded_after("--help") == []
    assert loaded_after("python", "--help") == []
    assert loaded_after("logs", "--help") == []


def test_a_command_that_talks_to_the_scheduler_loads_what_it_uses() -> None:
    # no config anywhere: the command fails cleanly, after loading the HTTP client
    # the standard library's http.client (which imports the ssl module; certificates are
    # loaded only for an https scheduler), no httpx, no tables before there are rows
    loaded = loaded_after("list")
    assert loaded == ["http.client", "ssl"], loaded


def test_an_https_scheduler_gets_a_verifying_tls_connection() -> None:
    conn = Transport("https://hai.example.org/api/v1", {}, 5.0)._connection()
    ctx = conn._context  # type: ignore[attr-defined]
    assert isinstance(ctx, ssl.SSLContext) and conn.port == 443
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


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


def test_source_haienv_does_not_load_rich(tmp_path) -> None:
    """`source haienv NAME` runs `haienv shell-activate NAME`: plain text, no rich."""
    fake_env(tmp_path, "t1", user="alice")
    res = subprocess.run(
        [sys.executable, "-c", ACTIVATE_PROBE],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HAIENV_ROOT": str(tmp_path), "HAIENV_USER": "alice"},
    )
    assert res.returncode == 0, res.stderr
    *activation, loaded = res.stdout.strip().splitlines()
    assert "HF_ENV_NAME" in "\n".join(activation)
    assert loaded == "[]"


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
