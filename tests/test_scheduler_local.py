"""The scheduler with the local backend: real processes, real logs, a real database.

Each test runs on SQLite and on PostgreSQL (the ``db_url`` fixture).
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from scheduler.backends.base import RankKey
from scheduler.model.enums import ChainState, Priority, RankState, StopCode
from tests.sched_harness import TOY, chain, log_text, make_app, run_until, submit

pytestmark = pytest.mark.slow

ONE_NODE = [{"name": "n0", "group": "gpu", "gpus": 2}]
TWO_NODES = [{"name": "n0", "group": "gpu", "gpus": 2}, {"name": "n1", "group": "gpu", "gpus": 2}]


def expected_acc(steps: int) -> int:
    acc = 0
    for step in range(steps):
        acc = (acc * 31 + step * step + 7) % 1_000_000_007
    return acc


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def finished(app, cid):
    return lambda: chain(app, cid).state == ChainState.FINISHED


def test_two_rank_chain_runs_and_logs_with_timestamps(db_url, tmp_path):
    app = make_app(db_url, tmp_path / "data", TWO_NODES)
    ws = tmp_path / "ws"
    script = tmp_path / "hello.py"
    script.write_text(
        "import os\n"
        "print('rank', os.environ['RANK'], 'of', os.environ['WORLD_SIZE'],"
        " 'cuda', os.environ['CUDA_VISIBLE_DEVICES'], 'port', os.environ['MASTER_PORT'])\n"
    )
    cid = submit(app, "alice", name="hello", entrypoint=str(script), node_count=2, workspace=ws)
    run_until(app, finished(app, cid), what="2-rank chain to finish")
    c = chain(app, cid)
    assert c.stop_code == StopCode.SUCCEEDED
    assert [r.rank_state for r in c.jobs[0].ranks] == [RankState.SUCCEEDED] * 2
    assert {r.node for r in c.jobs[0].ranks} == {"n0", "n1"}
    assert all(r.exit_code == 0 and r.started_at and r.ended_at for r in c.jobs[0].ranks)
    ports = set()
    for rank in (0, 1):
        chunk = app.backend.read_log(RankKey(cid, 0, rank))
        assert len(chunk.lines) == 1
        line = chunk.lines[0]
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$", line.time)
        m = re.match(rf"rank {rank} of 2 cuda (n[01]-sim-0,n[01]-sim-1) port (\d+)", line.text)
        assert m, line.text
        ports.add(m.group(2))
    assert len(ports) == 1, "both ranks of a job share MASTER_PORT"


def test_preempted_chain_checkpoints_resumes_and_matches_uninterrupted(db_url, tmp_path):
    steps = 30
    app = make_app(db_url, tmp_path / "data", ONE_NODE, suspend_grace_seconds=20.0)
    # the low-priority training run takes the only node
    low = submit(
        app,
        "alice",
        name="train",
        entrypoint=TOY,
        workspace=tmp_path / "low",
        parameters=[str(steps), "0.05", str(tmp_path / "low" / "result")],
        priority=Priority.LOW,
    )
    run_until(app, lambda: len(log_text(app, low, 0, 0)) >= 4, what="low chain to make progress")
    # a higher-priority chain of another user arrives and needs the node
    high = submit(
        app,
        "bob",
        name="urgent",
        entrypoint=TOY,
        workspace=tmp_path / "high",
        parameters=["3", "0.01", str(tmp_path / "high" / "result")],
        priority=Priority.HIGH,
    )
    seen = set()

    def low_done():
        c = chain(app, low)
        seen.add((c.state, c.suspend_count))
        return c.state == ChainState.FINISHED

    run_until(app, low_done, timeout=60, what="low chain to finish after resuming")
    assert (ChainState.SUSPENDED, 1) in seen, "the low chain was suspended once"
    c = chain(app, low)
    assert c.stop_code == StopCode.SUCCEEDED
    assert c.suspend_count == 1
    assert [j.stop_code for j in c.jobs] == [StopCode.PREEMPTED, StopCode.SUCCEEDED]
    assert c.jobs[0].ranks[0].rank_state is RankState.STOPPED
    assert c.whole_life_state > 0
    assert int((tmp_path / "low" / "result").read_text()) == expected_acc(steps)
    first, second = log_text(app, low, 0, 0), log_text(app, low, 1, 0)
    assert any("checkpointed at step" in ln for ln in first)
    assert second[0].startswith("resumed at step ")
    h = chain(app, high)
    assert h.stop_code == StopCode.SUCCEEDED
    assert h.jobs[0].ended_at <= c.jobs[1].created_at, "high ran while low was suspended"


def test_suspend_without_ack_is_stopped_after_grace(db_url, tmp_path):
    app = make_app(
        db_url, tmp_path / "data", ONE_NODE, suspend_grace_seconds=1.0, stop_grace_seconds=1.0
    )
    deaf = tmp_path / "deaf.py"
    deaf.write_text(
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ignoring everything', flush=True)\n"
        "time.sleep(300)\n"
    )
    low = submit(
        app,
        "alice",
        name="deaf",
        entrypoint=str(deaf),
        workspace=tmp_path / "w",
        priority=Priority.LOW,
    )
    run_until(app, lambda: log_text(app, low, 0, 0) != [], what="deaf chain to run")
    submit(
        app,
        "bob",
        name="hi",
        entrypoint=TOY,
        workspace=tmp_path / "h",
        parameters=["1", "0", str(tmp_path / "h" / "r")],
        priority=Priority.HIGH,
    )
    run_until(
        app,
        lambda: chain(app, low).state == ChainState.SUSPENDED,
        timeout=20,
        what="deaf chain to be suspended (SIGTERM ignored, so SIGKILL after grace)",
    )
    c = chain(app, low)
    assert c.jobs[0].stop_code == StopCode.PREEMPTED
    assert c.jobs[0].ranks[0].exit_code == 137


def test_stop_by_user_is_final(db_url, tmp_path):
    app = make_app(db_url, tmp_path / "data", ONE_NODE, stop_grace_seconds=2.0)
    cid = submit(
        app,
        "alice",
        name="long",
        entrypoint=TOY,
        workspace=tmp_path / "w",
        parameters=["1000", "0.05", str(tmp_path / "r")],
    )
    run_until(app, lambda: log_text(app, cid, 0, 0) != [], what="chain to run")
    waiting = submit(
        app,
        "alice",
        name="queued",
        entrypoint=TOY,
        workspace=tmp_path / "q",
        parameters=["1", "0", str(tmp_path / "q" / "r")],
    )
    from scheduler.model.orm import Chain, utcnow

    with app.session_factory.begin() as s:
        for c in (s.get(Chain, cid), s.get(Chain, waiting)):
            c.stop_requested_at = utcnow()
    app.loop.note_changed(chains=[cid, waiting])  # as the API does after its commit
    run_until(app, finished(app, cid), what="stopped chain to finish")
    for _ in range(5):
        app.loop.cycle()
    c = chain(app, cid)
    assert c.stop_code == StopCode.STOPPED_BY_USER
    assert c.jobs[0].ranks[0].rank_state is RankState.STOPPED
    assert len(c.jobs) == 1, "a stopped chain is never rescheduled"
    q = chain(app, waiting)
    assert q.state == ChainState.FINISHED and q.stop_code == StopCode.STOPPED_BY_USER
    assert q.jobs == []


def test_failing_rank_fails_the_job_and_stops_the_others(db_url, tmp_path):
    app = make_app(db_url, tmp_path / "data", TWO_NODES, stop_grace_seconds=2.0)
    script = tmp_path / "flaky.py"
    script.write_text(
        "import os, sys, time\n"
        "if os.environ['RANK'] == '1':\n"
        "    print('rank 1 gives up', flush=True); sys.exit(3)\n"
        "time.sleep(300)\n"
    )
    cid = submit(
        app, "alice", name="flaky", entrypoint=str(script), node_count=2, workspace=tmp_path / "w"
    )
    run_until(app, finished(app, cid), what="failed chain to finish")
    c = chain(app, cid)
    assert c.stop_code == StopCode.FAILED
    assert "rank 1 exited with code 3" in c.reason
    r0, r1 = c.jobs[0].ranks
    assert r1.rank_state is RankState.FAILED and r1.exit_code == 3
    assert r0.rank_state is RankState.FAILED  # via failed_terminating


def test_missing_entrypoint_or_workspace_is_init_failed(db_url, tmp_path):
    app = make_app(db_url, tmp_path / "data", ONE_NODE)
    bad = submit(app, "alice", name="nope", entrypoint="/no/such/binary", workspace=tmp_path / "w")
    run_until(app, finished(app, bad), what="init failure")
    c = chain(app, bad)
    assert c.stop_code == StopCode.INIT_FAILED
    assert "cannot start '/no/such/binary'" in c.reason
    assert any("cannot start" in ln for ln in log_text(app, bad, 0, 0))


def test_timeout_stops_the_chain(db_url, tmp_path):
    app = make_app(db_url, tmp_path / "data", ONE_NODE, stop_grace_seconds=1.0)
    cid = submit(
        app,
        "alice",
        name="slow",
        entrypoint=TOY,
        workspace=tmp_path / "w",
        parameters=["1000", "0.05", str(tmp_path / "r")],
        options={"timeout": 1},
    )
    run_until(app, finished(app, cid), what="timeout")
    assert chain(app, cid).stop_code == StopCode.TIMEOUT


def test_restart_adopts_running_ranks_and_starts_unstarted_ones(db_url, tmp_path):
    """The loop dies (a) with ranks running, (b) between committing a job and starting it."""
    data = tmp_path / "data"
    app = make_app(db_url, data, TWO_NODES)
    running = submit(
        app,
        "alice",
        name="a",
        entrypoint=TOY,
        workspace=tmp_path / "a",
        parameters=["40", "0.05", str(tmp_path / "a" / "result")],
    )
    run_until(app, lambda: log_text(app, running, 0, 0) != [], what="first chain to run")
    pid_before = chain(app, running).jobs[0].ranks[0].handle["runner_pid"]

    # (b): the next start is committed, then the loop "dies" before launching it
    late = submit(
        app,
        "alice",
        name="b",
        entrypoint=TOY,
        workspace=tmp_path / "b",
        parameters=["5", "0.01", str(tmp_path / "b" / "result")],
    )
    app.loop._launch = lambda *a, **k: (_ for _ in ()).throw(SystemExit("killed"))
    with pytest.raises(SystemExit):
        app.loop.cycle()
    assert chain(app, late).jobs[0].ranks[0].rank_state is RankState.CREATED

    # a brand-new scheduler (new backend object, no child handles) takes over
    app2 = make_app(db_url, data, TWO_NODES)
    run_until(app2, finished(app2, running), timeout=60, what="adopted chain to finish")
    run_until(app2, finished(app2, late), timeout=30, what="unstarted chain to run")
    a, b = chain(app2, running), chain(app2, late)
    assert a.stop_code == StopCode.SUCCEEDED and len(a.jobs) == 1
    assert a.jobs[0].ranks[0].handle["runner_pid"] == pid_before, "adopted, not restarted"
    assert int((tmp_path / "a" / "result").read_text()) == expected_acc(40)
    assert b.stop_code == StopCode.SUCCEEDED and len(b.jobs) == 1
    assert sum("fresh start" in ln for ln in log_text(app2, late, 0, 0)) == 1, "started once"


def test_vanished_rank_fails_with_a_reason(db_url, tmp_path):
    app = make_app(db_url, tmp_path / "data", ONE_NODE)
    cid = submit(
        app,
        "alice",
        name="v",
        entrypoint=TOY,
        workspace=tmp_path / "w",
        parameters=["1000", "0.05", str(tmp_path / "r")],
    )
    run_until(app, lambda: log_text(app, cid, 0, 0) != [], what="run")
    handle = chain(app, cid).jobs[0].ranks[0].handle
    child = int((app.backend.control_dir(RankKey(cid, 0, 0)) / "child.pid").read_text())
    os.kill(handle["runner_pid"], signal.SIGKILL)  # supervisor gone: no exit status recorded
    os.killpg(child, signal.SIGKILL)
    run_until(app, finished(app, cid), what="lost rank")
    c = chain(app, cid)
    assert c.stop_code == StopCode.LOST
    assert "vanished" in c.reason


def test_chain_runs_in_its_haienv_and_a_missing_env_fails_to_start(db_url, tmp_path, monkeypatch):
    import haienv

    monkeypatch.setenv("HAIENV_ROOT", str(tmp_path / "envs"))
    monkeypatch.setenv("UV_OFFLINE", "1")
    cfg = haienv.HaiEnvConfig(user="alice")
    info = haienv.create_env("plain", config=cfg, extend=False, no_index=True)
    assert info.ready
    app = make_app(db_url, tmp_path / "data", ONE_NODE)
    script = tmp_path / "where.py"
    script.write_text("import os, sys\nprint(sys.prefix, os.environ['VIRTUAL_ENV'])\n")
    ok = submit(app, "alice", name="in-env", entrypoint=str(script), workspace=tmp_path / "w")
    with app.session_factory.begin() as s:
        from scheduler.model.orm import Chain

        s.get(Chain, ok).haienv = "plain"
    run_until(app, finished(app, ok), what="chain in env")
    assert chain(app, ok).stop_code == StopCode.SUCCEEDED
    prefix, venv = log_text(app, ok, 0, 0)[0].split()
    assert os.path.realpath(prefix) == os.path.realpath(info.path) == os.path.realpath(venv)

    bad = submit(app, "alice", name="no-env", entrypoint=str(script), workspace=tmp_path / "w")
    with app.session_factory.begin() as s:
        s.get(Chain, bad).haienv = "nope"
    run_until(app, finished(app, bad), what="init failure for a missing env")
    c = chain(app, bad)
    assert c.stop_code == StopCode.INIT_FAILED
    assert "haienv 'nope'" in c.reason


POISON = """\
import os, time
from pathlib import Path
Path(os.environ["HAI_CONTROL_DIR"], "whole_life_state").write_text(str(2**63))
time.sleep(60)
"""


def test_a_poisoned_chain_fails_alone_and_everyone_else_is_scheduled(db_url, tmp_path):
    """A rank that stores a whole-life state no database column holds fails its own chain
    with the reason; the other user's chain runs; a restarted scheduler is not poisoned."""
    app = make_app(db_url, tmp_path / "data", TWO_NODES)
    ws = tmp_path / "ws"
    poison = tmp_path / "poison.py"
    poison.write_text(POISON)
    hello = tmp_path / "hello.py"
    hello.write_text("print('hello from bob')\n")
    bad = submit(app, "mallory", name="poison", entrypoint=str(poison), workspace=ws)
    run_until(app, finished(app, bad), what="the poisoned chain to fail")
    c = chain(app, bad)
    assert c.stop_code == StopCode.FAILED
    assert "whole_life_state 9223372036854775808 is outside" in c.reason, c.reason
    assert c.whole_life_state == 0, "the poison never reached the row"
    good = submit(app, "bob", name="hello", entrypoint=str(hello), workspace=ws)
    run_until(app, finished(app, good), what="bob's chain")
    assert chain(app, good).stop_code == StopCode.SUCCEEDED
    # a new scheduler on the same data: the poison file is still there and harms nothing
    again = make_app(db_url, tmp_path / "data", TWO_NODES)
    again.loop.cycle()
    later = submit(again, "bob", name="hello2", entrypoint=str(hello), workspace=ws)
    run_until(again, finished(again, later), what="a chain after the restart")


def test_an_error_handling_one_chain_fails_that_chain_only(db_url, tmp_path, monkeypatch):
    app = make_app(db_url, tmp_path / "data", TWO_NODES)
    ws = tmp_path / "ws"
    sleeper = tmp_path / "sleep.py"
    sleeper.write_text("import time\ntime.sleep(60)\n")
    hello = tmp_path / "hello.py"
    hello.write_text("print('hi')\n")
    doomed = submit(app, "mallory", name="doomed", entrypoint=str(sleeper), workspace=ws)
    run_until(
        app,
        lambda: chain(app, doomed).jobs[0].ranks[0].rank_state is RankState.RUNNING,
        what="the doomed rank to run",
    )
    real_poll = app.backend.poll_rank

    def poll(key, handle):
        if key.chain_id == doomed:
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return real_poll(key, handle)

    monkeypatch.setattr(app.backend, "poll_rank", poll)
    good = submit(app, "bob", name="fine", entrypoint=str(hello), workspace=ws)
    run_until(app, finished(app, good), what="bob's chain beside the broken one")
    assert chain(app, good).stop_code == StopCode.SUCCEEDED
    c = chain(app, doomed)
    assert c.state == ChainState.FINISHED and c.stop_code == StopCode.FAILED
    assert "internal error while running it: Python int too large" in c.reason
    pid = int((app.backend.control_dir(RankKey(doomed, 0, 0)) / "child.pid").read_text())
    run_until(
        app,
        lambda: not alive(pid),
        what="its process to end",
    )
