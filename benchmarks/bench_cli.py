"""Wall time of the ``hai-cli`` commands users type, beside the interpreter's floor.

Starts the real ``hai-scheduler`` (embedded defaults, SQLite, local backend) with one
user, points a fresh ``HOME`` at it with ``hai-cli init``, then runs in interleaved rounds
(so machine noise hits every column alike):

* ``python -S -c pass`` and ``python -c pass`` -- the interpreter's start-up floor;
* ``hai-cli --help`` -- start-up and argument parsing only (no HTTP client loaded);
* ``hai-cli list`` -- one request against the running service, table printed to a pipe
  (as scripts read it; a terminal gets rich's layout: the ``COLUMNS=200`` row);
* ``hai-cli python x.py -- -n 1`` -- one submission (the chain really runs);
* ``bash -c true`` and ``bash -c 'source haienv t1'`` -- entering a real haienv (made
  with ``haienv create`` before the rounds) beside bash's own start-up;
* ``sbatch --wrap=true -o /dev/null`` -- one submission to a private single-node Slurm
  (``slurm.py``) started beside our service, the competitor of
  ``hai-cli python x.py -- -n 1``; skipped, saying so, when Slurm is not installed or
  with ``--no-slurm``.

Prints each command's median and p90 over the rounds, its ratio to ``python -c pass``,
sequential submissions per second (hai-cli and sbatch), and the slowest imports of one
``hai-cli list`` and one submission (``python -X importtime``) so a regression names its
cause.

    python benchmarks/bench_cli.py             # 15 rounds
    python benchmarks/bench_cli.py --rounds 40
    python benchmarks/bench_cli.py --compare /tmp/old   # also another checkout's hai_client

``--compare DIR`` adds the same hai-cli commands with ``PYTHONPATH=DIR`` (e.g. a
``git worktree`` of an older commit), interleaved in the same rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from slurm import SlurmCluster, available  # noqa: E402

from tests.service_helpers import cli_env, init_cli, scheduler_process  # noqa: E402

PY = sys.executable
HAI_CLI = str(Path(PY).parent / "hai-cli")


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({res.returncode}): {res.stdout}{res.stderr}")
    return elapsed


def slowest_imports(args: list[str], env: dict[str, str], cwd: Path, n: int = 8) -> list[str]:
    res = subprocess.run(
        [PY, "-X", "importtime", HAI_CLI, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    rows = [line.split("|") for line in res.stderr.splitlines() if line.count("|") == 2]
    rows = [r for r in rows if r[1].strip().isdigit()]
    rows.sort(key=lambda r: int(r[1]), reverse=True)
    return [f"  {int(r[1]) / 1000:6.1f} ms  {r[2].rstrip()}" for r in rows[:n]]


SBATCH = "sbatch --wrap=true -o /dev/null"
HAI_SUBMIT = "hai-cli python x.py -- -n 1"


def print_submissions(times: dict[str, list[float]], slurm: str | None) -> None:
    """Sequential submissions/s (one process each) of hai-cli, and of sbatch beside it."""
    ours = statistics.median(times[HAI_SUBMIT])
    line = f"sequential submissions (one process each): hai-cli {1 / ours:.1f}/s"
    if slurm is not None:
        theirs = statistics.median(times[SBATCH])
        line += f", sbatch ({slurm}) {1 / theirs:.1f}/s; hai-cli/sbatch wall {ours / theirs:.1f}x"
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--compare", type=Path, help="another checkout's source folder")
    parser.add_argument("--no-slurm", action="store_true", help="skip the sbatch row")
    args = parser.parse_args()
    slurm_ok, slurm_note = (False, "--no-slurm") if args.no_slurm else available()
    commands = {
        "python -S -c pass (floor)": [PY, "-S", "-c", "pass"],
        "python -c pass (floor)": [PY, "-c", "pass"],
        "hai-cli --help": [HAI_CLI, "--help"],
        "hai-cli list": [HAI_CLI, "list"],
        "hai-cli list (COLUMNS=200: rich layout)": [HAI_CLI, "list"],
        "hai-cli python x.py -- -n 1": [HAI_CLI, "python", "x.py", "--", "-n", "1"],
        "bash -c true (floor)": ["bash", "-c", "true"],
        "source haienv t1": ["bash", "-c", 'source haienv t1 && test -n "$HF_ENV_NAME"'],
    }
    with tempfile.TemporaryDirectory() as tmp_name, contextlib.ExitStack() as stack:
        tmp = Path(tmp_name)
        cluster = stack.enter_context(SlurmCluster()) if slurm_ok else None
        with scheduler_process(tmp, users=(("alice", False),)) as svc:
            home = tmp / "home"
            init_cli(home, svc.url, svc.tokens["alice"])
            (home / "x.py").write_text("print('hi')\n")
            env = cli_env(home, HAIENV_ROOT=str(tmp / "envs"))
            env["PATH"] = f"{Path(PY).parent}:{env['PATH']}"
            env.pop("COLUMNS")  # piped, as a script runs it
            timed([str(Path(PY).parent / "haienv"), "create", "t1", "--no-kernel", "-y"], env, home)
            envs = {name: env for name in commands}
            envs["hai-cli list (COLUMNS=200: rich layout)"] = {**env, "COLUMNS": "200"}
            if args.compare:
                old = {"PYTHONPATH": str(args.compare.resolve())}
                for name, cmd in list(commands.items()):
                    if name.startswith(("hai-cli", "source")):
                        commands[f"{name} [compare]"] = cmd
                        envs[f"{name} [compare]"] = {**envs[name], **old}  # COLUMNS too
            if cluster is not None:
                commands[SBATCH] = cluster.sbatch_argv(name="cli")
                envs[SBATCH] = {**env, "SLURM_CONF": str(cluster.conf)}
            times: dict[str, list[float]] = {name: [] for name in commands}
            for _ in range(args.rounds):
                for name, cmd in commands.items():
                    times[name].append(timed(cmd, envs[name], home))
            imports = {
                "hai-cli list": slowest_imports(["list"], env, home),
                "hai-cli python x.py -- -n 1": slowest_imports(
                    ["python", "x.py", "--", "-n", "1"], env, home
                ),
            }
    floor = statistics.median(times["python -c pass (floor)"])
    print(f"{args.rounds} interleaved rounds, {os.cpu_count()} CPUs, {sys.version.split()[0]}")
    print(f"{'command':44} {'p50':>8} {'p90':>8} {'x floor':>8}")
    for name, values in times.items():
        values.sort()
        p50 = statistics.median(values)
        p90 = values[int(0.9 * (len(values) - 1))]
        print(f"{name:44} {p50 * 1000:6.1f}ms {p90 * 1000:6.1f}ms {p50 / floor:7.1f}x")
    print_submissions(times, slurm_note if slurm_ok else None)
    if not slurm_ok:
        print(f"sbatch row skipped: Slurm {slurm_note}")
    for name, rows in imports.items():
        print(f"slowest imports of `{name}` (python -X importtime, cumulative):")
        print("\n".join(rows))


if __name__ == "__main__":
    main()
