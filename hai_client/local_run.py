"""Running a script on this machine: as a plain command, or (``++``) as a cluster rank would.

``hai-cli python train.py --lr 1`` (no ``--``) simply runs ``python train.py --lr 1``.
``hai-cli python train.py --lr 1 ++`` runs it with the environment a rank gets: ``RANK=0``,
``WORLD_SIZE=1``, ``MASTER_ADDR``/``MASTER_PORT``, ``HAI_CHAIN_ID=local``, a fresh
``HAI_CONTROL_DIR`` (so the in-task suspend API of :mod:`hai_client.task` works), and
the chosen haienv, so the training code can be debugged before it is submitted.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from hai_client.current_env import ENV_VAR
from hai_client.errors import HaiError
from hai_client.kinds import local_argv
from hai_client.rank_env import RankContext, free_port, rank_variables


def haienv_vars(name: str) -> dict[str, str]:
    """The variables that put a process inside haienv ``name`` (HaiError if it is unusable)."""
    try:
        import haienv
    except ImportError:  # pragma: no cover - haienv ships with hai-hub
        raise HaiError("haienv is not installed here; cannot use --env") from None
    try:
        return dict(haienv.env_vars(name))
    except Exception as exc:
        raise HaiError(f"haienv {name!r}: {exc}") from None


def rank_environment(
    *,
    env_name: str | None,
    control_dir: str,
    extra: Mapping[str, str] | None = None,
    job_seq: int = 0,
    whole_life_state: int = 0,
    priority: str = "NORMAL",
) -> dict[str, str]:
    """The environment a single local rank runs with (on top of this process's own): the
    variables of :func:`hai_client.rank_env.rank_variables` as chain ``local``; job
    ``job_seq`` > 0 is a resumed job, as after a suspend on the cluster."""
    env = dict(os.environ)
    env.update(extra or {})
    local = RankContext(
        chain_id="local",
        chain_name="local",
        rank=0,
        world_size=1,
        job_seq=job_seq,
        suspend_count=job_seq,
        whole_life_state=whole_life_state,
        priority=priority,
        master_port=free_port(),
    )
    env.update(rank_variables(local))
    env.update({"MASTER_ADDR": "127.0.0.1", "HAI_CONTROL_DIR": control_dir})
    if env_name:
        _enter_haienv(env, env_name)
        env[ENV_VAR] = env_name
    return env


def _enter_haienv(env: dict[str, str], name: str) -> None:
    env.update(haienv_vars(name))
    env.pop("PYTHONHOME", None)


def _python_for(env: Mapping[str, str], env_name: str | None) -> str | None:
    """The interpreter of the chosen env (``python`` found first on its PATH)."""
    if not env_name:
        return None
    return shutil.which("python", path=env.get("PATH")) or None


def _run(argv: list[str], env: Mapping[str, str] | None) -> int:
    try:
        proc = subprocess.Popen(argv, env=dict(env) if env is not None else None)
    except FileNotFoundError:
        raise HaiError(f"cannot run {argv[0]!r}: no such file or command") from None
    except PermissionError:
        raise HaiError(f"cannot run {argv[0]!r}: permission denied (is it executable?)") from None
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:  # the child got the same SIGINT; let it finish
            proc.send_signal(signal.SIGINT)


def run_plain(kind: str, script: str, args: Sequence[str], env_name: str | None = None) -> int:
    """Run the command as it is (inside ``env_name`` if given); returns its exit code."""
    env = None
    if env_name:
        env = dict(os.environ)
        _enter_haienv(env, env_name)
    # "same as python x.py": the chosen env's python, else the first python on PATH
    python = _python_for(env or {}, env_name) or shutil.which("python")
    return _run(local_argv(kind, script, args, python), env)


def run_as_rank(
    kind: str,
    script: str,
    args: Sequence[str],
    *,
    env_name: str | None = None,
    extra_env: Mapping[str, str] | None = None,
    suspend_after: float | None = None,
) -> int:
    """Run the command as rank 0 of a one-node local chain; returns its exit code.

    ``suspend_after`` seconds into the first job (or whenever this process gets SIGUSR1)
    the suspend request is made, as a preemption would; when the command then
    acknowledged it (``go_suspend``) and exited, it runs again as the resumed job, with the
    whole-life state it stored. So checkpoint code can be tried here before it is
    submitted."""
    control = Path(tempfile.mkdtemp(prefix="hai-local-"))
    previous = signal.getsignal(signal.SIGUSR1)
    signal.signal(signal.SIGUSR1, lambda *_: _ask_to_suspend(control))
    try:
        job = 0
        while True:
            env = rank_environment(
                env_name=env_name,
                control_dir=str(control),
                extra=extra_env,
                job_seq=job,
                whole_life_state=_stored_state(control),
            )
            timer = None
            if suspend_after is not None and job == 0:
                timer = threading.Timer(suspend_after, _ask_to_suspend, (control,))
                timer.start()
            try:
                code = _run(local_argv(kind, script, args, _python_for(env, env_name)), env)
            finally:
                if timer is not None:
                    timer.cancel()
            if not (control / "suspend_ack").exists():
                return code
            job += 1
            for name in ("suspend", "suspend_ack"):
                (control / name).unlink(missing_ok=True)
            print(
                f"hai-cli: suspended and checkpointed; running the resumed job {job}",
                file=sys.stderr,
                flush=True,
            )
    finally:
        signal.signal(signal.SIGUSR1, previous)
        shutil.rmtree(control, ignore_errors=True)


def _ask_to_suspend(control: Path) -> None:
    (control / "suspend").write_text("1")
    print(
        "hai-cli: asking the rank to suspend (as a preemption would)", file=sys.stderr, flush=True
    )


def _stored_state(control: Path) -> int:
    try:
        return int((control / "whole_life_state").read_text().strip())
    except (OSError, ValueError):
        return 0
