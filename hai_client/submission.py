"""A submission from the command line: ``hai-cli <kind> SCRIPT [args] -- [options]``.

This module owns what such a submission is, for ``hai-cli`` and the ``%hai`` magics alike:
the cluster options (:data:`CLUSTER_OPTIONS`, from which the click app builds its options),
the task spec a script becomes (:func:`script_task`), what is sent (:func:`submit`) and the
line that confirms it (:func:`confirmation`).

:func:`fast_submission` runs the documented form straight away, without loading click
(~15 ms of a ~60 ms command): the options are read by :func:`parse_options`, which
accepts only what click would read to the same values and hands anything else (a
misspelt option, a bad number, ``--help``, ``--follow``) back to the click app, which
answers it in its own words. A test checks the two parsers agree.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hai_client.chain_names import default_name
from hai_client.current_env import ENV_VAR, current_env
from hai_client.errors import HaiError
from hai_client.jsonout import print_json
from hai_client.kinds import KINDS, SUFFIX

if TYPE_CHECKING:
    from hai_client.client import Chain, HaiClient


class ClusterOption:
    """One cluster option: its flags, where its value goes, and its kind: a whole number
    of at least ``minimum``, a flag, or text."""

    __slots__ = ("dest", "flags", "help", "is_flag", "minimum")

    def __init__(
        self,
        dest: str,
        flags: tuple[str, ...],
        help: str,
        *,
        minimum: int | None = None,
        is_flag: bool = False,
    ) -> None:
        self.dest, self.flags, self.help = dest, flags, help
        self.minimum, self.is_flag = minimum, is_flag

    def parse(self, raw: str) -> Any:
        """The value of ``raw``, or None where click would refuse it (it says why)."""
        if self.minimum is None:
            return raw
        try:
            value = int(raw)
        except ValueError:
            return None
        return value if value >= self.minimum else None


#: how a task runs on the cluster (``hai-cli <kind> X -- OPTIONS``, ``hai-cli run``,
#: ``%hai submit``); cli.cluster_options turns them into click options
CLUSTER_OPTIONS = (
    ClusterOption("nodes", ("-n", "--nodes"), "Nodes to run on.", minimum=1),
    ClusterOption("name", ("--name",), "Chain name (default: the script's name)."),
    ClusterOption("priority", ("--priority", "-p"), "LOW ... EXTREME_HIGH (or 0-6)."),
    ClusterOption("group", ("--group", "-g"), "Node group."),
    ClusterOption("env", ("--env",), f"haienv to run in (default: ${ENV_VAR})."),
    ClusterOption("gpus", ("--gpus",), "GPUs per node (default all).", minimum=0),
    ClusterOption("follow", ("-f", "--follow"), "Follow the log once submitted.", is_flag=True),
    ClusterOption("as_json", ("--json",), "Print JSON for scripts.", is_flag=True),
)
_BY_FLAG = {flag: opt for opt in CLUSTER_OPTIONS for flag in opt.flags}


def parse_options(args: Sequence[str]) -> dict[str, Any] | None:
    """``args`` (after ``--``) read as click reads them (the last of a repeated option
    wins), or None when they are anything but plain options with good values."""
    opts: dict[str, Any] = {o.dest: (False if o.is_flag else None) for o in CLUSTER_OPTIONS}
    i = 0
    while i < len(args):
        opt, value, i = _next_option(args, i)
        if opt is None:
            return None
        if opt.is_flag:
            opts[opt.dest] = True
            continue
        parsed = None if value is None or value.startswith("-") else opt.parse(value)
        if parsed is None:
            return None
        opts[opt.dest] = parsed
    return opts


def _next_option(args: Sequence[str], i: int) -> tuple[ClusterOption | None, str | None, int]:
    """The option at ``args[i]``, its value (None for a flag, or when there is none), and
    where the next one starts. Forms: ``--name V``, ``--name=V``, ``-n V``, ``-nV``."""
    arg = args[i]
    if arg.startswith("--") and "=" in arg:
        flag, _, value = arg.partition("=")
        opt = _BY_FLAG.get(flag)
        return (None, None, i) if opt is None or opt.is_flag else (opt, value, i + 1)
    opt = _BY_FLAG.get(arg)
    if opt is not None:
        if opt.is_flag:
            return opt, None, i + 1
        return (opt, args[i + 1], i + 2) if i + 1 < len(args) else (None, None, i)
    opt = _BY_FLAG.get(arg[:2])
    if opt is not None and not arg.startswith("--") and not opt.is_flag:
        return opt, arg[2:], i + 1
    return None, None, i


def split_at_separator(args: Sequence[str]) -> tuple[list[str], str | None, list[str]]:
    """``script args -- opts`` → (script and args, '--' / '++' / None, opts)."""
    for i, a in enumerate(args):
        if a in ("--", "++"):
            return list(args[:i]), a, list(args[i + 1 :])
    return list(args), None, []


def script_task(kind: str, script: str, args: Sequence[str], opts: dict[str, Any]) -> dict:
    """The task spec for ``hai-cli <kind> script args -- opts`` (workspace: this folder)."""
    suffix = SUFFIX.get(kind)
    if suffix and not script.endswith(suffix):
        raise HaiError(
            f"hai-cli {kind} runs {suffix} files on the cluster; use hai-cli exec for {script!r}"
        )
    if suffix and not os.path.isfile(script):
        raise HaiError(f"no such file: {script}")
    if kind == "exec":
        script = _program(script)
    spec: dict[str, Any] = {"entrypoint": script, "workspace": os.getcwd()}
    if args:
        spec["parameters"] = list(args)
    return {"version": 2, "name": opts.get("name") or default_name(script), "spec": spec}


def _program(name: str) -> str:
    """The entrypoint for ``hai-cli exec NAME``: a program of this folder (``./NAME``, the
    documented form), a path, or a command on PATH; refused at submit if it is none."""
    import shutil  # only this command needs it (start-up)

    if "/" not in name and os.path.isfile(name):
        name = "./" + name
    if "/" in name:
        if not os.path.isfile(name):
            raise HaiError(f"no such program: {name}")
        if not os.access(name, os.X_OK):
            raise HaiError(f"{name} is not executable (chmod +x {name})")
        return name
    if shutil.which(name) is None:
        raise HaiError(f"no such program: {name} (not in this folder, not on PATH)")
    return name


def submit(hai: HaiClient, task: Any, opts: dict[str, Any]) -> Chain:
    """Submit ``task``; the haienv is ``--env``, else the spec's own, else ``$HF_ENV_NAME``
    (the env you are in: haienv's activation and haienv kernels set it)."""
    current = current_env()
    spec_env = opts.get("spec_haienv")
    env = opts.get("env") or (None if spec_env else current)
    if spec_env and current and current != spec_env and not opts.get("env"):
        print(
            f"hai-cli: the spec's haienv {spec_env!r} is used, not ${ENV_VAR}={current!r} "
            "(--env overrides both)",
            file=sys.stderr,
        )
    overrides = {
        "name": opts.get("name"),
        "priority": opts.get("priority"),
        "group": opts.get("group"),
        "node_count": opts.get("nodes"),
        "gpus_per_node": opts.get("gpus"),
        "haienv": env,
        "workspace": opts.get("workspace"),
    }
    return hai.create(task, overrides=overrides)


def confirmation(chain: Chain) -> str:
    """The line that says a chain was submitted and how to follow it."""
    return (
        f"Submitted chain {chain.id} '{chain.name}' ({chain.node_count} node(s), "
        f"{chain.priority}, group {chain.group}). Follow it: hai-cli logs {chain.id} -f"
    )


def fast_submission(argv: Sequence[str]) -> int | None:
    """Run ``argv`` when it is a submission in the documented form with plain options;
    its exit code, or None to let the click app run it."""
    if not argv or argv[0] not in KINDS:
        return None
    mine, sep, rest = split_at_separator(argv[1:])
    opts = parse_options(rest) if sep == "--" and mine and mine[0] not in ("-h", "--help") else None
    if opts is None or opts["follow"]:
        return None
    from hai_client.client import HaiClient

    try:
        task = script_task(argv[0], mine[0], mine[1:], opts)
        with HaiClient() as hai:
            chain = submit(hai, task, opts)
    except HaiError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    if opts["as_json"]:
        print_json(chain.raw)
    else:
        print(confirmation(chain))
    return 0
