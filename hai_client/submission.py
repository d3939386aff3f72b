"""A submission from the command line: ``hai-cli <kind> SCRIPT [args] -- [options]``.

This module owns what such a submission is, for ``hai-cli`` and the ``%hai`` magics alike:
the cluster options (:data:`CLUSTER_OPTIONS`, from which the click app builds its options),
the task spec a script becomes (:func:`script_task`), what is sent (:func:`submit`) and the
line that confirms it (:func:`report`).

:func:`fast_submission` runs the documented form straight away, without loading click:
the options are read by :func:`hai_client.options.parse`, which takes only what click
would read to the same values and leaves anything else (a misspelt option, a bad number,
``--help``, ``--follow``) to the click app, which answers it in its own words.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

from hai_client.chain_names import default_name
from hai_client.current_env import ENV_VAR, current_env
from hai_client.errors import HaiError
from hai_client.jsonout import print_json
from hai_client.kinds import SUFFIX
from hai_client.options import JSON_OPTION, Option, parse

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

    from hai_client.client import Chain, HaiClient


#: how a task runs on the cluster (``hai-cli <kind> X -- OPTIONS``, ``hai-cli run``,
#: ``%hai submit``); cli.cluster_options makes click options of them
CLUSTER_OPTIONS = (
    Option(("-n", "--nodes"), "nodes", "int", minimum=1, help="Nodes to run on."),
    Option(("--name",), "name", help="Chain name (default: the script's name)."),
    Option(("--priority", "-p"), "priority", help="LOW ... EXTREME_HIGH (or 0-6)."),
    Option(("--group", "-g"), "group", help="Node group."),
    Option(("--env",), "env", help=f"haienv to run in (default: ${ENV_VAR})."),
    Option(("--gpus",), "gpus", "int", minimum=0, help="GPUs per node (default all)."),
    Option(("-f", "--follow"), "follow", "flag", help="Follow the log once submitted."),
    JSON_OPTION,
)


def parse_options(args: Sequence[str]) -> dict[str, Any] | None:
    """``args`` (after ``--``) read as click reads them, or None when they are anything
    but plain options with good values (:func:`hai_client.options.parse`)."""
    parsed = parse(args, CLUSTER_OPTIONS)
    return None if parsed is None else parsed[0]


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


#: how to follow a chain from a terminal ({id}: the chain's id)
FOLLOW_IN_TERMINAL = "Follow it: hai-cli logs {id} -f"


def report(chain: Chain, as_json: bool, follow: str = FOLLOW_IN_TERMINAL) -> None:
    """What a submission prints: the API's JSON for scripts, or the line that says the
    chain was submitted and how to ``follow`` it (hai-cli's command, or ``%hai``'s)."""
    if as_json:
        print_json(chain.raw)
        return
    print(
        f"Submitted chain {chain.id} '{chain.name}' ({chain.node_count} node(s), "
        f"{chain.priority}, group {chain.group}). {follow.format(id=chain.id)}"
    )


def fast_submission(argv: Sequence[str]) -> Callable[[], None] | None:
    """The submission ``argv`` asks for, ready to run, when it is the documented form with
    plain options; None to let the click app run it (:mod:`hai_client.entry`)."""
    mine, sep, rest = split_at_separator(argv[1:])
    if sep != "--" or not mine or mine[0] in ("-h", "--help"):
        return None
    opts = parse_options(rest)
    if opts is None or opts["follow"]:
        return None

    def run() -> None:
        from hai_client.client import HaiClient

        task = script_task(argv[0], mine[0], mine[1:], opts)
        with HaiClient() as hai:
            chain = submit(hai, task, opts)
        report(chain, opts["as_json"])

    return run
