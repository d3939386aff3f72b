"""LocalBackend: each rank is a supervised process on this machine (the embedded default).

"Nodes" are slices of this machine's GPUs (or simulated GPU slots when there is none);
configure several to try multi-node chains and preemption on one machine.

Each rank runs as its owner's system account (:mod:`.accounts`), with an environment built
from scratch (the service's own variables, tokens included, never reach a rank), its
whole process tree tracked (:mod:`.proctree`), and two control folders: a private one the
scheduler trusts and a task folder of the owner's that it reads as untrusted input
(:mod:`.control`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
from functools import cached_property
from pathlib import Path
from typing import Any

from traitlets import Float, Integer, List, Unicode, default

from hai_client.devcontainers import JupyterGroupConfig
from scheduler.backends.base import (
    Backend,
    LogChunk,
    NodeSpec,
    RankKey,
    RankLaunch,
    RankObservation,
)
from scheduler.backends.local import control, gpustats
from scheduler.backends.local.accounts import Account, SystemAccounts
from scheduler.backends.local.gpus import discover_gpus
from scheduler.backends.local.gpustats import read_usage
from scheduler.backends.local.proctree import RankTree, mechanism
from scheduler.backends.logfiles import read_log
from scheduler.backends.types import rank_argv

#: the rank supervisors' own messages and tracebacks (each names its rank's folder), in
#: ``<data_dir>/ranks/`` (the service's alone)
SUPERVISOR_ERRORS = "supervisors.err"


class LocalBackend(JupyterGroupConfig, Backend):
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
    gpu_sample_seconds = Float(
        5.0, help="How often a rank's supervisor samples its GPUs' utilisation (NVML)."
    ).tag(config=True)
    gpu_samples_kept = Integer(60, help="GPU samples kept per rank (the newest).").tag(config=True)

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
        self.accounts = SystemAccounts(parent=self)
        self._prepared = False

    @cached_property
    def _nvml_unavailable(self) -> str:
        """Why this machine's ranks cannot sample their GPUs ('' when they can), found once."""
        return gpustats.nvml_unavailable()

    def describe(self) -> str:
        """Who runs as whom and how rank processes are tracked (for the start-up log)."""
        return f"ranks: {self.accounts.describe()}; process trees: {mechanism()}"

    def _prepare_folders(self) -> None:
        """``ranks/`` is the service's alone; ``logs/`` and ``tasks/`` may be crossed by
        anyone (0711) so each owner reaches their own rank's folder, but listed by no one."""
        if self._prepared:
            return
        root = Path(self.data_dir)
        for sub, mode in (("ranks", 0o700), ("logs", 0o711), ("tasks", 0o711)):
            (root / sub).mkdir(parents=True, exist_ok=True)
            (root / sub).chmod(mode)
        self._prepared = True

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

    def task_dir(self, key: RankKey) -> Path:
        return Path(self.data_dir) / "tasks" / str(key.chain_id) / str(key.job_seq) / str(key.rank)

    def tree_name(self, key: RankKey) -> str:
        """The rank's cgroup name, unique on the machine: two schedulers (two data
        folders, e.g. test runs side by side) must never end each other's ranks."""
        folder = str(Path(self.data_dir).resolve())
        instance = hashlib.sha256(folder.encode()).hexdigest()[:10]
        return f"rank-{instance}-{key.chain_id}-{key.job_seq}-{key.rank}"

    def _tree(self, key: RankKey) -> RankTree:
        return RankTree(
            self.tree_name(key), pgid=_read_int(self.control_dir(key) / control.CHILD_PID)
        )

    # -- starting ---------------------------------------------------------------------
    def command(self, launch: RankLaunch) -> list[str]:
        """argv for the rank: .py runs with the env's python, .sh with bash, else exec."""
        return rank_argv(launch, self.python)

    def start_rank(self, launch: RankLaunch) -> dict[str, Any]:
        result = self.start_ranks([launch])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def start_ranks(self, launches: list[RankLaunch]) -> list[dict[str, Any] | Exception]:
        """Each rank's spec handed to the fork server as soon as it is made (its child makes
        the rank's folders and becomes its supervisor); the supervisors' pids are read once
        every rank is handed over, so no start waits for a fork and the loop does no file
        work per rank."""
        results: list[dict[str, Any] | Exception] = []
        handed: list[tuple[int, str]] = []  # (index into results, line) not yet answered
        for launch in launches:
            try:
                handle, line = self._prepare(launch)
            except Exception as exc:
                results.append(exc)
                continue
            results.append(handle)
            if line is None:  # adopted
                continue
            if not handed:
                launcher = self._fork_server()
            _hand_over(launcher, [line])
            handed.append((len(results) - 1, line))
            if len(handed) == LAUNCH_BATCH:
                self._record_pids(launcher, results, handed)
                handed = []
        if handed:
            self._record_pids(launcher, results, handed)
        return results

    def _record_pids(
        self, launcher: subprocess.Popen, results: list[Any], handed: list[tuple[int, str]]
    ) -> None:
        """Put the supervisors' pids (or why there is none) into the handed ranks' results."""
        pids = self._answers(launcher, [line for _, line in handed])
        for (i, _), pid in zip(handed, pids, strict=True):
            if isinstance(pid, Exception):
                results[i] = pid
            else:
                start = control.process_start_time(pid)
                results[i] = {"runner_pid": pid, "runner_start": start, **results[i]}

    def _prepare(self, launch: RankLaunch) -> tuple[dict[str, Any], str | None]:
        """The handle so far and the line that hands the rank to the fork server; a complete
        handle and no line for a rank that is already running or has ended (adopted after a
        scheduler restart)."""
        key = launch.key
        cdir = self.control_dir(key)
        live = self._live_runner(cdir)
        if live is not None:  # started before a scheduler restart: adopt it
            return live, None
        if (cdir / control.EXIT).exists():  # ran and ended while the scheduler was down
            return {"control_dir": str(cdir), "adopted": True}, None
        account = self.accounts.resolve(launch.owner, launch.system_user)
        self._prepare_folders()
        if not os.path.isabs(launch.workspace):
            raise RuntimeError(f"workspace {launch.workspace!r} is not an absolute path")
        node = self._node(launch.node)
        gpu_ids = node.gpu_ids[: launch.gpus] if launch.gpus else node.gpu_ids
        tdir = self.task_dir(key)
        spec = {
            "argv": self.command(launch),
            "cwd": launch.workspace,
            "env": self.rank_environment(launch, account, gpu_ids, node.name, tdir),
            "account": None if account.is_service else _account_json(account),
            "tree": self.tree_name(key),
            "task_dir": str(tdir),
            "log_dir": str(self.log_dir(key)),
            "max_line_bytes": self.max_line_bytes,
            "segment_bytes": self.log_segment_bytes,
            "keep_segments": self.log_keep_segments,
            "wake": self.wake_address.hex(),
            "gpu_ids": list(gpu_ids),
            "gpu_unavailable": self._nvml_unavailable,
            "gpu_sample_seconds": self.gpu_sample_seconds,
            "gpu_samples_kept": self.gpu_samples_kept,
        }
        handle = {
            "control_dir": str(cdir),
            "task_dir": str(tdir),
            "account": account.name,
            "isolated": not account.is_service,
            "owner": spec["account"],  # the task folder's owner, as the supervisor makes it
        }
        return handle, json.dumps({"control_dir": str(cdir), "spec": spec})

    def rank_environment(
        self, launch: RankLaunch, account: Account, gpu_ids: tuple[str, ...], node: str, tdir: Path
    ) -> dict[str, str]:
        """Built from scratch: the account's identity, a PATH, the chain's and rank's
        variables and the node's. Nothing of the service's own environment (its tokens)."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "HOME": account.home,
            "USER": account.name,
            "LOGNAME": account.name,
            "SHELL": account.shell,
            "HAIENV_USER": launch.owner,
        }
        env.update(launch.env)
        env.update(
            {
                "CUDA_VISIBLE_DEVICES": ",".join(gpu_ids),
                "HAI_CONTROL_DIR": str(tdir),
                "HAI_NODE": node,
                "MASTER_ADDR": "127.0.0.1",
            }
        )
        return env

    def _answers(self, launcher: subprocess.Popen, lines: list[str]) -> list[int | Exception]:
        """The fork server's answer for each rank handed to it, in order: a supervisor's
        pid, or the error that kept it from starting. A server that died is restarted once
        and given again the ranks it did not answer."""
        pids: list[int | Exception] = []
        for attempt in range(2):
            if attempt:
                launcher = self._fork_server()
                _hand_over(launcher, lines[len(pids) :])
            try:
                while len(pids) < len(lines):
                    answer = launcher.stdout.readline()
                    if not answer.strip().isdigit():
                        break
                    pids.append(int(answer))
            except OSError:
                pass
            if len(pids) == len(lines):
                return pids
            launcher.kill()
            self._launcher = None
        failed = RuntimeError("the rank launcher could not start a supervisor")
        return pids + [failed] * (len(lines) - len(pids))

    def _fork_server(self) -> subprocess.Popen:
        """The running fork server (:mod:`.launcher`), started if it is not running."""
        launcher = self._launcher
        if launcher is None or launcher.poll() is not None:
            no_nvml = ["--no-nvml"] if self._nvml_unavailable else []
            self._prepare_folders()
            errors = Path(self.data_dir, "ranks", SUPERVISOR_ERRORS)
            with errors.open("ab") as err:  # the server's and every supervisor's stderr
                launcher = self._launcher = subprocess.Popen(
                    [sys.executable, "-m", "scheduler.backends.local.launcher", *no_nvml],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    text=True,
                    close_fds=True,
                )
        return launcher

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
        cdir, tdir = self.control_dir(key), self.task_dir(key)
        fault = ""
        try:
            wls = control.read_user_int(tdir, control.WHOLE_LIFE_STATE, *WHOLE_LIFE_STATE_RANGE)
        except control.BadUserValue as exc:  # never stored: the chain fails with the reason
            wls, fault = None, str(exc)
        acked = control.user_file_exists(tdir, control.SUSPEND_ACK)
        exited = self._exited(cdir, wls, acked)
        if exited is not None:
            return exited
        if control.is_alive(handle.get("runner_pid"), handle.get("runner_start")):
            phase = "running" if (cdir / control.CHILD_PID).exists() else "pending"
            return RankObservation(
                phase=phase, whole_life_state=wls, suspend_acked=acked, protocol_error=fault
            )
        live = self._live_runner(cdir)
        if live is not None:
            return RankObservation(
                phase="running",
                whole_life_state=wls,
                suspend_acked=acked,
                handle=live,
                protocol_error=fault,
            )
        # the supervisor may have written its exit status and ended since we looked
        exited = self._exited(cdir, wls, acked)
        if exited is not None:
            return exited
        if not handle:
            return RankObservation(phase="gone", reason="the rank was never started")
        lost = "the rank's supervisor process vanished without recording an exit status"
        if not self._tree(key).kill_all():
            # its GPUs stay allocated until every process of the rank is gone
            return RankObservation(phase="running", whole_life_state=wls, reason=lost)
        return RankObservation(phase="gone", reason=lost, whole_life_state=wls)

    # -- signalling -------------------------------------------------------------------
    def request_suspend(self, key: RankKey, handle: dict[str, Any]) -> None:
        tdir = self.task_dir(key)
        if not tdir.is_dir():  # asked before its supervisor made it: made here, the same way
            self._prepare_folders()
            control.make_task_dir(tdir, control.owner_ids(handle.get("owner")))
        control.create_user_flag(tdir, control.SUSPEND)

    def terminate(self, key: RankKey, handle: dict[str, Any], *, force: bool = False) -> None:
        sig = signal.SIGKILL if force else signal.SIGTERM
        tree = self._tree(key)
        if tree.pids():
            tree.signal(sig)
            return
        runner = handle.get("runner_pid")
        if runner and control.is_alive(runner, handle.get("runner_start")):
            with contextlib.suppress(ProcessLookupError):
                os.kill(runner, sig)

    def read_log(self, key: RankKey, offset: int = 0, max_bytes: int = 1 << 20) -> LogChunk:
        return read_log(self.log_dir(key), offset, max_bytes)

    def gpu_usage(self, key: RankKey) -> dict[str, Any]:
        """What the rank's supervisor sampled of its GPUs (:mod:`.gpustats`)."""
        return read_usage(self.control_dir(key), self._nvml_unavailable)


#: ranks handed to the fork server before its answers are read: its answers (a pid a line)
#: must fit in a pipe's buffer (64 KiB) while the loop is still writing, or the loop and the
#: server could each wait for the other to read
LAUNCH_BATCH = 512

# what a rank may store with set_whole_life_state(): the chains' INTEGER column on both
# databases (PostgreSQL's is 32-bit); anything else fails the chain, never reaches the row
WHOLE_LIFE_STATE_RANGE = (-(2**31), 2**31 - 1)


def _hand_over(launcher: subprocess.Popen, lines: list[str]) -> None:
    """Write ranks (a JSON line each) to the fork server; one that died answers nothing,
    which :meth:`LocalBackend._answers` notices."""
    try:
        launcher.stdin.write("".join(f"{line}\n" for line in lines))
        launcher.stdin.flush()
    except OSError:  # BrokenPipeError included
        pass


def _account_json(account: Account) -> dict[str, Any]:
    return {
        "name": account.name,
        "uid": account.uid,
        "gid": account.gid,
        "groups": list(account.groups),
    }


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
