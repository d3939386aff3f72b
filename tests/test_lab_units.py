"""Unit tests of the lab server extension's parts that need no server: where credentials
come from, the submit form → task spec, notebook → script, the SSE framing, and the
shared watcher (one poll loop for all tabs, none when nobody listens).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hai_client.client import Chain, ChainPage, HaiClient
from hai_client.config import save_config
from hai_client.errors import HaiError
from hai_labextension import _jupyter_labextension_paths, _jupyter_server_extension_points
from hai_labextension.config import HaiLabConfig
from hai_labextension.events import ChainWatcher, sse
from hai_labextension.submit import build_task, notebook_source


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for var in ("HAI_SCHEDULER_URL", "JUPYTERHUB_API_TOKEN", "HAI_URL", "HAI_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HAI_CONFIG", str(tmp_path / "conf.yaml"))
    return tmp_path / "conf.yaml"


def test_credentials_come_from_config_then_hub_then_conf_yaml(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(HaiError, match="hai-cli init"):
        HaiLabConfig().resolve()
    save_config("file-token", "http://sched:1/", clean_env)
    conn = HaiLabConfig().resolve()
    assert (conn.url, conn.token, conn.source) == ("http://sched:1/", "file-token", str(clean_env))
    monkeypatch.setenv("HAI_SCHEDULER_URL", "http://hub/services/hai-scheduler")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "hub-token")
    conn = HaiLabConfig().resolve()
    assert (conn.url, conn.token, conn.source) == (
        "http://hub/services/hai-scheduler/",
        "hub-token",
        "hub",
    )
    conn = HaiLabConfig(scheduler_url="http://other:2", token="cfg-token").resolve()
    assert (conn.url, conn.token, conn.source) == ("http://other:2/", "cfg-token", "config")


def test_entry_points() -> None:
    assert _jupyter_server_extension_points() == [{"module": "hai_labextension"}]
    assert _jupyter_labextension_paths() == [{"src": "labextension", "dest": "hai-hub"}]


def test_submit_form_to_task(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "train.py").write_text("print(1)\n")
    task, overrides = build_task(
        str(tmp_path),
        {
            "path": "/sub/train.py",
            "args": "--lr '1e-3' x",
            "nodes": "2",
            "priority": "HIGH",
            "group": "",
            "haienv": " torch ",
        },
    )
    assert task == {
        "version": 2,
        "name": "train",
        "spec": {
            "entrypoint": "train.py",
            "workspace": str(tmp_path / "sub"),
            "parameters": ["--lr", "1e-3", "x"],
        },
    }
    assert overrides == {"priority": "HIGH", "node_count": 2, "haienv": "torch"}
    (tmp_path / "outside.py").write_text("")
    with pytest.raises(HaiError) as err:
        build_task(str(tmp_path / "sub"), {"path": "../outside.py"})
    assert err.value.field == "path" and err.value.status == 422


def test_a_plain_notebook_becomes_a_plain_script() -> None:
    nb = {
        "cells": [
            {"cell_type": "markdown", "source": "# title"},
            {"cell_type": "code", "source": ["x = 1\n", "if x:\n", "    y = 2\n"]},
            {"cell_type": "raw", "source": "ignored"},
            {"cell_type": "code", "source": "print(x + y)"},
        ]
    }
    text = notebook_source(nb)
    assert text == "# --- cell 2\nx = 1\nif x:\n    y = 2\n\n# --- cell 4\nprint(x + y)\n"
    assert "IPython" not in text  # no IPython needed where no cell uses its syntax


def test_ipython_syntax_runs_as_in_the_notebook(tmp_path) -> None:
    """%%bash cells, `x = !cmd` and line magics run through IPython (they were a
    SyntaxError or silently commented out before)."""
    nb = {
        "cells": [
            {"cell_type": "code", "source": "%%bash\necho from-bash-$((40 + 2))\n"},
            {"cell_type": "code", "source": "files = !echo one two\nprint('got', files)\n"},
            {"cell_type": "code", "source": "%env HAI_NB_TEST=set\nimport os\n"},
            {"cell_type": "code", "source": "print('env', os.environ['HAI_NB_TEST'])"},
            # display-only in a job: no display, plots to files (needs no matplotlib here)
            {"cell_type": "code", "source": "%matplotlib inline\nprint(os.environ['MPLBACKEND'])"},
        ]
    }
    script = tmp_path / "nb.py"
    script.write_text(notebook_source(nb))
    res = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [
        "from-bash-42",
        "got ['one two']",
        "env: HAI_NB_TEST=set",
        "env set",
        "Agg",
    ], res.stdout


def test_sse_framing() -> None:
    raw = sse("lines", {"a": [1, "é"]}, "CUR").decode()
    assert raw == 'event: lines\nid: CUR\ndata: {"a":[1,"\\u00e9"]}\n\n'
    assert json.loads(raw.split("data: ", 1)[1]) == {"a": [1, "é"]}


class FakeLab:
    """Stands in for HaiLab: counts the scheduler calls the watcher makes."""

    def __init__(self) -> None:
        self.config = SimpleNamespace(poll_seconds=0.05, lease_poll_seconds=0.2, list_page_size=50)
        self.log = SimpleNamespace(exception=lambda *a, **k: None)
        self.lists = 0
        self.leases = 0
        self.gets = 0
        self.chains: list[dict[str, Any]] = []

    async def me(self) -> str:
        return "alice"

    async def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if fn is HaiClient.get:  # details (ranks) of a chain whose updated_at moved
            self.gets += 1
            return Chain.from_json(next(c for c in self.chains if c["id"] == args[0]))
        assert fn is HaiClient.list and kwargs["owner"] == "alice"
        self.lists += 1
        chains = [Chain.from_json(c) for c in self.chains]
        return ChainPage(chains, 1, 50, len(chains), 1, {})

    async def node_gpus(self) -> dict[str, int]:  # for a chain's GPU time
        return {}

    async def lease(self) -> None:
        self.leases += 1

    def lease_path(self) -> None:
        return None


def test_one_shared_poll_loop_only_while_someone_listens() -> None:
    async def scenario() -> None:
        lab = FakeLab()
        watcher = ChainWatcher(lab)  # type: ignore[arg-type]
        await asyncio.sleep(0.2)
        assert lab.lists == 0  # nobody listens: no polling

        tab1, tab2 = watcher.subscribe(), watcher.subscribe()
        await asyncio.sleep(0.5)
        polls = lab.lists
        assert 4 <= polls <= 14, polls  # one loop at 0.05 s for both tabs, not two
        for tab in (tab1, tab2):
            events = [tab.get_nowait() for _ in range(tab.qsize())]
            assert [e for e, _ in events].count("chains") == 1  # no change, no repeat
            assert [e for e, _ in events].count("lease") == 1

        lab.chains = [
            {"id": 7, "name": "x", "state": "finished", "updated_at": "2026-01-01T00:00:00Z"}
        ]
        await asyncio.sleep(0.2)
        got = [tab1.get_nowait() for _ in range(tab1.qsize())]
        assert [d["chains"][0]["id"] for e, d in got if e == "chains"] == [7]
        assert got[-1][1]["chains"][0]["gpu_time"] == {"gpu_seconds": 0.0, "running": []}
        assert lab.gets == 1  # details read once, not on every poll

        late = watcher.subscribe()  # a new tab gets the latest snapshot at once
        assert late.get_nowait()[1]["chains"][0]["id"] == 7

        for tab in (tab1, tab2, late):
            watcher.unsubscribe(tab)
        await asyncio.sleep(0.2)
        stopped_at = lab.lists
        await asyncio.sleep(0.3)
        assert lab.lists == stopped_at  # the loop ended with the last tab
        assert lab.leases >= 1

    asyncio.run(scenario())
