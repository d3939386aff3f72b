"""Property-based testing of the live scheduler API from its own OpenAPI document.

schemathesis (every check on: server errors, status codes and content types as
documented, response schemas, schema-valid requests accepted, schema-invalid ones refused,
``Allow`` on 405, ...) generates requests from ``/openapi.json`` and sends them to a real
``hai-scheduler`` process, once as a user and once as an admin, with bounded examples and a
fixed seed. Zero failures: the document and the server cannot drift apart.
``tests/schemathesis.toml`` says which statuses a schema-valid request may get (422: the
service also checks meaning).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.service_helpers import scheduler_process

pytestmark = pytest.mark.slow

ST = str(Path(sys.executable).with_name("st"))
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.mark.parametrize("who", ["alice", "admin"])
def test_the_live_api_matches_its_openapi_document(tmp_path: Path, who: str) -> None:
    assert Path(ST).exists(), "schemathesis is installed by `make` (the test extra)"
    with scheduler_process(tmp_path) as svc:
        run = subprocess.run(
            [
                ST,
                "--config-file",
                str(CONFIG),
                "run",
                svc.url + "api/v1/openapi.json",
                "-H",
                f"Authorization: token {svc.tokens[who]}",
                "--checks",
                "all",
                "--max-examples",
                "40",
                "--seed",
                os.environ.get("HAI_FUZZ_SEED", "20261201"),
                "--request-timeout",
                "10",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
    summary = run.stdout[run.stdout.find("FAILURES") :] or run.stdout[-4000:]
    assert run.returncode == 0, summary[:8000] + run.stderr[-2000:]
    assert "generated" in run.stdout and " passed" in run.stdout
