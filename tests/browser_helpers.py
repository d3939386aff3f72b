"""Running the browser scripts in ``tests/browser/`` (playwright-core + Debian's chromium).

A missing browser fails the test (``make test`` installs chromium and playwright-core);
it never skips, so a broken install cannot leave the suite green.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"


def need_browser() -> str:
    """The node binary; fails when node, chromium or playwright-core is missing."""
    node = shutil.which("node")
    assert node and CHROMIUM.exists(), "needs node and /usr/bin/chromium (make test installs them)"
    assert (REPO / "node_modules" / "playwright-core").is_dir(), "needs npm's playwright-core"
    return node


def run_browser_script(
    name: str, env: dict[str, str], *, timeout: float = 180
) -> tuple[dict[str, Any], str]:
    """Run ``tests/browser/<name>.mjs``; returns its JSON result line and its stderr tail."""
    run = subprocess.run(
        [need_browser(), str(REPO / "tests" / "browser" / f"{name}.mjs")],
        env={**os.environ, "OUT_DIR": str(ARTIFACTS), "CHROMIUM": str(CHROMIUM), **env},
        cwd=str(REPO),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"no output from {name}.mjs:\n{run.stdout}\n{run.stderr}"
    return json.loads(lines[-1]), run.stderr[-3000:]
