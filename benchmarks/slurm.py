"""A private single-node Slurm for side-by-side benchmarks (never a dependency of HAI Hub).

``SlurmCluster`` owns everything it starts, all inside one temp dir: a munge key and a
``munged`` (own socket, pid, log and seed files), a ``slurm.conf`` with free ports (not
Slurm's defaults, so another Slurm on the machine is left alone), ``slurmctld -i`` and
``slurmd`` (kept in the foreground with ``-D`` so their pids are ours), their pid files,
``StateSaveLocation``, ``SlurmdSpoolDir``, logs, and a ``jobcomp/filetxt`` file in which
slurmctld writes one line per finished job. Every client command runs with
``SLURM_CONF`` pointing at that file. ``stop()`` (also on an exception or Ctrl-C, through
the context manager) cancels the jobs, ends the daemons and then any job process left
(found by ``SLURM_CONF=<our conf>`` in its environment, killed by pid), and removes the dir.

The node has ``cpus`` CPUs in partition ``batch`` (the default) plus ``free_cpus`` more
that only partition ``free`` may use (``MaxCPUsPerNode`` on each partition), so a job on
a free CPU can be timed while ``batch`` is full. ``squeue`` and ``scontrol`` work without
slurmdbd; ``sacct`` does not (hence the job completion file).

Recipe and figures: ``../shared/README.md`` ("Slurm, for side-by-side benchmarks").
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path
from types import TracebackType

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "scontrol", "squeue", "sinfo", "scancel")


def available() -> tuple[bool, str]:
    """Whether every Slurm/munge binary is on PATH (``False`` and a reason otherwise)."""
    missing = [b for b in (*DAEMONS, *CLIENTS) if shutil.which(b) is None]
    if missing:
        return (
            False,
            f"not installed ({', '.join(missing)} missing; apt-get install slurm-wlm munge)",
        )
    return True, version()


def version() -> str:
    """``slurm-wlm 22.05.8`` or similar."""
    out = subprocess.run(["slurmctld", "-V"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "slurm (version unknown)"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process, from ``/proc/PID/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of one process, MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def slurm_conf(tmp: Path, host: str, cpus: int, free_cpus: int, munge_socket: Path) -> str:
    """The recipe's single-node slurm.conf, every path in ``tmp``, free ports."""
    return f"""\
ClusterName=haibench
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
AuthType=auth/munge
AuthInfo=socket={munge_socket}
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SlurmdParameters=config_overrides
ReturnToService=2
MaxJobCount=300000
MaxArraySize=200001
MinJobAge=300
MailProg=/bin/true
StateSaveLocation={tmp / "state"}
SlurmdSpoolDir={tmp / "spool"}
SlurmctldPidFile={tmp / "slurmctld.pid"}
SlurmdPidFile={tmp / "slurmd.pid"}
SlurmctldLogFile={tmp / "slurmctld.log"}
SlurmdLogFile={tmp / "slurmd.log"}
SlurmctldDebug=error
SlurmdDebug=error
JobCompType=jobcomp/filetxt
JobCompLoc={tmp / "jobcomp.txt"}
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus + free_cpus} State=UNKNOWN
PartitionName=batch Nodes=ALL Default=YES MaxCPUsPerNode={cpus} State=UP
PartitionName=free Nodes=ALL MaxCPUsPerNode={free_cpus} PriorityTier=2 State=UP
"""


class SlurmCluster:
    """munged + slurmctld + slurmd on this host, private to one temp dir (see the module)."""

    def __init__(self, cpus: int = 8, free_cpus: int = 1) -> None:
        self.cpus, self.free_cpus = cpus, free_cpus
        self.tmp = Path(tempfile.mkdtemp(prefix="hai-bench-slurm-"))
        self.conf = self.tmp / "slurm.conf"
        self.jobcomp = self.tmp / "jobcomp.txt"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.procs: dict[str, subprocess.Popen] = {}
        self._jobcomp_read, self._done = 0, Counter[str]()

    # ------------------------------------------------------------------ life cycle

    def __enter__(self) -> SlurmCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self, timeout: float = 60.0) -> None:
        """munged, slurmctld and slurmd; returns once ``sinfo`` shows the node idle."""
        for sub in ("state", "spool"):
            (self.tmp / sub).mkdir()
        munge_socket = self.tmp / "munge.socket"
        key = self.tmp / "munge.key"
        self.run(["mungekey", "--create", f"--keyfile={key}"])
        self.spawn("munged", ["munged", "--foreground", f"--key-file={key}",
                              f"--socket={munge_socket}", f"--pid-file={self.tmp / 'munged.pid'}",
                              f"--log-file={self.tmp / 'munged.log'}",
                              f"--seed-file={self.tmp / 'munged.seed'}", "--force"])  # fmt: skip
        self.wait_for(munge_socket.exists, timeout, "munged's socket")
        host = socket.gethostname().split(".")[0]
        self.conf.write_text(slurm_conf(self.tmp, host, self.cpus, self.free_cpus, munge_socket))
        self.spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
        self.spawn("slurmd", ["slurmd", "-D", "-f", str(self.conf)])
        self.wait_for(self.node_idle, timeout, "the node to be idle in sinfo")

    def spawn(self, name: str, argv: list[str]) -> None:
        """Start one daemon in its own session (Ctrl-C reaches us, not it)."""
        log = (self.tmp / f"{name}.out").open("ab")
        self.procs[name] = subprocess.Popen(
            argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def wait_for(self, ready: object, timeout: float, what: str) -> None:
        """Poll ``ready()`` every 50 ms; a daemon that exits or a timeout raises."""
        deadline = time.monotonic() + timeout
        while not ready():  # type: ignore[operator]
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(f"Slurm: waited for {what}; exited: {dead}\n{self.logs()}")
            time.sleep(0.05)

    def node_idle(self) -> bool:
        out = self.run(["sinfo", "-h", "-p", "batch", "-o", "%t"], check=False)
        return out.strip() == "idle"

    def no_job_running(self) -> bool:
        """No job running or completing (``squeue``)."""
        return not self.run(["squeue", "-h", "-t", "R,CG"], check=False, timeout=10).strip()

    def logs(self, tail: int = 2000) -> str:
        """The end of every log in the temp dir (for an error message)."""
        parts = []
        for path in sorted(self.tmp.glob("*.log")) + sorted(self.tmp.glob("*.out")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-tail:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel every job, stop the daemons (slurmd, slurmctld, munged), kill any job
        process still running from this cluster, remove the temp dir. Safe to call twice."""
        if self.procs.get("slurmctld") and self.procs["slurmctld"].poll() is None:
            with contextlib.suppress(Exception):
                self.run(["scancel", f"--user={os.getuid()}"], check=False, timeout=20)
                self.wait_for(self.no_job_running, 15, "the jobs to end")
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.pop(name, None)
            if proc is not None:
                terminate(proc)
        for pid in self.leftover_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def leftover_pids(self) -> list[int]:
        """Processes whose environment holds ``SLURM_CONF=<our conf>``: slurmstepd and
        job processes that outlived slurmd."""
        marker = f"SLURM_CONF={self.conf}".encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    pids.append(int(entry.name))
        return pids

    # ------------------------------------------------------------------ clients

    def run(self, argv: list[str], check: bool = True, timeout: float = 60.0) -> str:
        """A Slurm client command against this cluster; its stdout."""
        res = subprocess.run(
            argv, env=self.env, capture_output=True, text=True, check=False, timeout=timeout
        )
        if check and res.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({res.returncode}): {res.stderr}")
        return res.stdout

    def sbatch_argv(self, *extra: str, wrap: str = "true", name: str = "bench") -> list[str]:
        """``sbatch --wrap=true -o /dev/null`` (plus ``extra``), printing only the job id."""
        return ["sbatch", "--parsable", f"--job-name={name}", "-o", "/dev/null",
                *extra, f"--wrap={wrap}"]  # fmt: skip

    def sbatch(self, *extra: str, wrap: str = "true", name: str = "bench") -> int:
        """Submit one job (an array's first part for ``--array``); its job id."""
        out = self.run(self.sbatch_argv(*extra, wrap=wrap, name=name))
        return int(out.strip().split(";")[0].split("_")[0])

    def job(self, job_id: int) -> dict[str, str]:
        """``scontrol show job -o``'s fields (``JobState``, ``StartTime``...); empty once
        the job record is gone."""
        out = self.run(["scontrol", "-o", "show", "job", str(job_id)], check=False)
        return dict(f.split("=", 1) for f in out.split() if "=" in f)

    def wait_state(self, job_id: int, states: set[str], timeout: float = 60.0) -> str:
        """Poll ``scontrol show job`` every 50 ms until the job is in one of ``states``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.job(job_id).get("JobState", "")
            if state in states:
                return state
            time.sleep(0.05)
        raise TimeoutError(f"Slurm job {job_id} not in {states} after {timeout:.0f} s")

    def set_partition(self, name: str, state: str) -> None:
        """``scontrol update PartitionName=name State=UP|DOWN|DRAIN|INACTIVE``."""
        self.run(["scontrol", "update", f"PartitionName={name}", f"State={state}"])

    def completed(self, name: str) -> int:
        """Finished jobs named ``name`` so far: the job completion file's new lines are
        read on each call (cheap enough to poll every few ms)."""
        with contextlib.suppress(FileNotFoundError), self.jobcomp.open("rb") as f:
            f.seek(self._jobcomp_read)
            chunk = f.read()
            whole = chunk[: chunk.rfind(b"\n") + 1]
            self._jobcomp_read += len(whole)
            for line in whole.decode(errors="replace").splitlines():
                field = next((f for f in line.split() if f.startswith("Name=")), "Name=")
                self._done[field[5:]] += 1
        return self._done[name]

    def cpu_seconds(self) -> float:
        """CPU time used so far by slurmctld + slurmd."""
        return sum(cpu_seconds(self.procs[n].pid) for n in ("slurmctld", "slurmd"))

    def rss_mb(self) -> float:
        """Resident memory of slurmctld + slurmd, MB."""
        return sum(rss_mb(self.procs[n].pid) for n in ("slurmctld", "slurmd"))


def terminate(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; always reaped."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
