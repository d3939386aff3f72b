"""Start-up of hai-cli and haienv: nothing heavy is imported before the command is known.

The timing lives in ``benchmarks/bench_cli.py``; this test guards the mechanism that makes
it (deferred imports in :mod:`hai_client.lazy`, httpx's own command line blocked, TLS
certificates loaded only for an https scheduler), so a regression fails here whatever
the machine's speed.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys

from hai_client.client import _tls_verify
from tests.haienv_fixtures import fake_env

#: what only some commands need: the HTTP client, tables, YAML, package metadata
HEAVY = ("httpx", "httpcore", "rich", "yaml", "importlib.metadata", "email.parser", "ssl")

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
    loaded = loaded_after("list")
    assert "httpx" in loaded, loaded


def test_httpx_command_line_is_not_imported_by_hai_cli() -> None:
    res = subprocess.run(
        [sys.executable, "-c", "import hai_client.cli, httpx, sys; print('rich' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.stdout.strip() == "False", res.stderr


def test_plain_http_scheduler_trusts_no_certificate() -> None:
    ctx = _tls_verify("http://127.0.0.1:8000/")
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.get_ca_certs() == []  # any TLS connection through it fails verification
    assert _tls_verify("https://hai.example.org/") is True


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
