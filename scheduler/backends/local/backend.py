"""LocalBackend: each rank is a supervised process on this machine (the embedded default).

"Nodes" are slices of this machine's GPUs (or simulated GPU slots when there is none);
configure several to try multi-node chains and preemption on one machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from traitlets import Integer, List, Unicode, default

from scheduler.backends.base import (
    Backend,
    LogChunk,
    NodeSpec,
    RankKey,
    RankLaunch,
    RankObservation,
)
from scheduler.backends.local import control
from scheduler.backends.local.gpus import discover_gpus
from scheduler.backends.local.logfiles import read_log
from scheduler.backends.types import rank_argv


class LocalBackend(Backend):
    """Runs ranks as local processes under a per-rank supervisor."""

    data_dir = Unicode(help="Folder for rank control files and logs.").tag(config=True)
    nodes = List(
        help=(
            "Local nodes: [{'name': 'local-0', 'group': 'default', 'gpus': 8}]; 'gpus' is a "
            "count of simulated slots or a list of GPU ids. Default: one node with the GPUs "
            "NVML finds, else `simulated_gpus` slots."
        )
    ).tag(config=True)
    default_group = Unicode("default", help="Group of the default node.").tag(config=True)
    simulated_gpus = Integer(8, help="GPU slots of the default node when NVML finds none.").tag(
        config=True
    )
    python = Unicode(sys.executable, help="Interpreter for .py entrypoints (no haienv).").tag(
        config=True
    )
    max_line_bytes = Integer(16384, help="Longer output lines are truncated.").tag(config=True)
    log_segment_bytes = Integer(8 << 20, help="A rank's log rotates at this size.").tag(config=True)
    log_keep_segments = Integer(4, help="Rotated segments kept per rank.").tag(config=True)

    jupyter_group = Unicode("jupyter", help="Group of the default dev-container node.").tag(
        config=True
    )
    simulated_mig_slices = Integer(
        4, help="MIG slots of the default jupyter node when NVML finds no MIG device."
    ).tag(config=True)

    @default("nodes")
    def _default_nodes(self) -> list[dict[str, Any]]:
        """A jupyter node with the MIG devices and a training node with the whole GPUs."""
        gpus = discover_gpus()
        migs = [m.uuid for g in gpus if g.mig_enabled for m in g.mig_devices]
        whole = [str(g.index) for g in gpus if not g.mig_enabled]
        migs = migs or [f"sim-mig-{i}" for i in range(self.simulated_mig_slices)]
        whole = whole or [f"sim-{i}" for i in range(self.simulated_gpus)]
        return [
            {"name": "jupyter-0", "group": self.jupyter_group, "gpus": migs},
            {"name": "local-0", "group": self.default_group, "gpus": whole},
        ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._launcher: subprocess.Popen | None = None

    # -- nodes ------------------------------------------------------------------------
    def discover_nodes(self) -> list[NodeSpec]:
        out = []
        for i, n in enumerate(self.nodes):
            gpus = n.get("gpus", 0)
            ids = (
                tuple(str(g) for g in gpus)
                if isinstance(gpus, list)
                else tuple(f"{n.get('name', i)}-sim-{k}" for k in range(int(gpus)))
            )
            out.append(
                NodeSpec(name=n["name"], group=n.get("group", self.default_group), gpu_ids=ids)
            )
        return out

    def _node(self, name: str) -> NodeSpec:
        for n in self.discover_nodes():
            if n.name == name:
                return n
        raise RuntimeError(f"node {name!r} is not configured in LocalBackend.nodes")

    # -- paths ------------------------------------------------------------------------
    def control_dir(self, key: RankKey) -> Path:
        return Path(self.data_dir) / "ranks" / str(key.chain_id) / str(key.job_seq) / str(key.rank)

    def log_dir(self, key: RankKey) -> Path:
        return Path(self.data_dir) / "logs" / str(key.chain_id) / str(key.job_seq) / str(key.rank)

    # -- starting ---------------------------------------------------------------------
    def command(self, launch: RankLaunch) -> list[str]:
        """argv for the rank: .py runs with the env's python, .sh with bash, else exec."""
        return rank_argv(launch, self.python)

    def start_rank(self, launch: RankLaunch) -> dict[str, Any]:
        key = launch.key
        cdir = self.control_dir(key)
        live = self._live_runner(cdir)
        if live is not None:  # started before a scheduler restart: adopt it
            return live
        if (cdir / control.EXIT).exists():  # ran and ended while the scheduler was down
            return {"control_dir": str(cdir), "adopted": True}
        if not os.path.isdir(launch.workspace):
            raise RuntimeError(f"workspace {launch.workspace!r} does not exist")
        node = self._node(launch.node)
        gpu_ids = node.gpu_ids[: launch.gpus] if launch.gpus else node.gpu_ids
        env = dict(os.environ)
        env.update(launch.env)
        env.update(
            {
                "CUDA_VISIBLE_DEVICES": ",".join(gpu_ids),
                "HAI_CONTROL_DIR": str(cdir),
                "HAI_NODE": node.name,
                "MASTER_ADDR": "127.0.0.1",
            }
        )
        cdir.mkdir(parents=True, exist_ok=True)
        control.write_json_atomic(
            cdir / control.SPEC,
            {
                "argv": self.command(launch),
                "cwd": launch.workspace,
                "env": env,
                "log_dir": str(self.log_dir(key)),
                "max_line_bytes": self.max_line_bytes,
                "segment_bytes": self.log_segment_bytes,
                "keep_segments": self.log_keep_segments,
                "wake": self.wake_address.hex(),
            },
        )
        pid = self._launch(cdir)
        return {
            "runner_pid": pid,
            "runner_start": control.process_start_time(pid),
            "control_dir": str(cdir),
        }

    def _launch(self, cdir: Path) -> int:
        """Start the rank's supervisor through the fork server (restarted if it died)."""
        for _attempt in range(2):
            launcher = self._launcher
            if launcher is None or launcher.poll() is not None:
                launcher = self._launcher = subprocess.Popen(
                    [sys.executable, "-m", "scheduler.backends.local.launcher"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    close_fds=True,
                )
            try:
                launcher.stdin.write(f"{cdir}\n")
                launcher.stdin.flush()
                answer = launcher.stdout.readline()
            except (BrokenPipeError, OSError):
                answer = ""
            if answer.strip().isdigit():
                return int(answer)
            launcher.kill()
            self._launcher = None
        raise RuntimeError("the rank launcher could not start a supervisor")

    def _live_runner(self, cdir: Path) -> dict[str, Any] | None:
        info = control.read_json(cdir / control.RUNNER)
        if info and control.is_alive(info.get("pid"), info.get("start_time")):
            return {
                "runner_pid": info["pid"],
                "runner_start": info.get("start_time"),
                "control_dir": str(cdir),
            }
        return None

    # -- waking the loop ------------------------------------------------------------------
    @property
    def wake_address(self) -> bytes:
        """An abstract-namespace Unix socket name, unique to this data folder."""
        digest = hashlib.sha256(os.path.realpath(self.data_dir).encode()).hexdigest()[:24]
        return b"\0hai-wake-" + digest.encode()

    def wake_channel(self) -> socket.socket | None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(self.wake_address)
        except OSError as exc:  # another scheduler on this data folder: fall back to ticks
            self.log.warning("no rank-exit wake-ups (%s); relying on the tick", exc)
            sock.close()
            return None
        sock.setblocking(False)
        return sock

    # -- observing --------------------------------------------------------------------
    def _exited(self, cdir: Path, wls: int | None, acked: bool) -> RankObservation | None:
        result = control.read_json(cdir / control.EXIT)
        if result is None:
            return None
        return RankObservation(
            phase="exited",
            exit_code=int(result["exit_code"]),
            reason=result.get("reason", ""),
            whole_life_state=wls,
            suspend_acked=acked,
            init_failed=bool(result.get("init_failed")),
        )

    def poll_rank(self, key: RankKey, handle: dict[str, Any]) -> RankObservation:
        cdir = self.control_dir(key)
        wls = _read_int(cdir / control.WHOLE_LIFE_STATE)
        acked = (cdir / control.SUSPEND_ACK).exists()
        exited = self._exited(cdir, wls, acked)
        if exited is not None:
            return exited
        if control.is_alive(handle.get("runner_pid"), handle.get("runner_start")):
            phase = "running" if (cdir / control.CHILD_PID).exists() else "pending"
            return RankObservation(phase=phase, whole_life_state=wls, suspend_acked=acked)
        live = self._live_runner(cdir)
        if live is not None:
            return RankObservation(
                phase="running", whole_life_state=wls, suspend_acked=acked, handle=live
            )
        # the supervisor may have written its exit status and ended since we looked
        exited = self._exited(cdir, _read_int(cdir / control.WHOLE_LIFE_STATE), acked)
        if exited is not None:
            return exited
        if not handle:
            return RankObservation(phase="gone", reason="the rank was never started")
        return RankObservation(
            phase="gone",
            reason="the rank's supervisor process vanished without recording an exit status",
            whole_life_state=wls,
        )

    # -- signalling -------------------------------------------------------------------
    def request_suspend(self, key: RankKey, handle: dict[str, Any]) -> None:
        cdir = self.control_dir(key)
        if cdir.is_dir():
            (cdir / control.SUSPEND).write_text("1")

    def terminate(self, key: RankKey, handle: dict[str, Any], *, force: bool = False) -> None:
        sig = signal.SIGKILL if force else signal.SIGTERM
        cdir = self.control_dir(key)
        pid = _read_int(cdir / control.CHILD_PID)
        if pid and control.process_start_time(pid) is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)
            return
        runner = handle.get("runner_pid")
        if runner and control.is_alive(runner, handle.get("runner_start")):
            with contextlib.suppress(ProcessLookupError):
                os.kill(runner, sig)

    def read_log(self, key: RankKey, offset: int = 0, max_bytes: int = 1 << 20) -> LogChunk:
        return read_log(self.log_dir(key), offset, max_bytes)


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
