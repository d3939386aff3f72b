"""``haienv create`` on the command line, without click: its options (one table), a parser
for the plain forms of the command, and the command's body.

The click command in :mod:`haienv.cli` is made from :data:`CREATE_OPTIONS` and runs
:func:`run_create`; :func:`haienv.entry.main` (what ``haienv create`` executes) parses with
:func:`parse_create` and runs the same :func:`run_create` without importing click, traitlets
or (piped) rich (issue #15: those imports cost more than the create itself). Whatever the
parser does not take as it is -- help, a misspelt option, a usage error -- goes to click,
so every message stays click's.
"""

from __future__ import annotations

import os
import time

from hai_client.options import Option, parse

from .output import Messages

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from collections.abc import Callable

    from .create import CreatePlan
    from .settings import Settings


CREATE_OPTIONS: tuple[Option, ...] = (
    Option(
        ("--no_extend", "--no-extend"),
        "no_extend",
        "flag",
        help="A standalone env (do not extend the default base).",
    ),
    Option(("--base",), "base", "text", metavar="BASE", help="Shared base env to extend."),
    Option(
        ("--python",), "python", "text", metavar="3.X", help="Python version (standalone envs)."
    ),
    Option(
        ("-r", "--requirement"),
        "requirements",
        "multi",
        path=True,
        help="requirements.txt (repeatable).",
    ),
    Option(
        ("-f", "--file"),
        "environment_file",
        "text",
        path=True,
        help="conda environment.yaml (python= and the pip: section; conda-only entries "
        "need conda/mamba/micromamba).",
    ),
    Option(
        ("--from-lock",),
        "from_lock",
        "text",
        path=True,
        help="Rebuild exactly from a lock written by `haienv export`.",
    ),
    Option(("--extra-index-url",), "extra_index_urls", "multi", metavar="URL"),
    Option(
        ("--index-url",),
        "index_url",
        "text",
        metavar="URL",
        help="Replace the default package index.",
    ),
    Option(
        ("--find-links",),
        "find_links",
        "multi",
        metavar="PATH_OR_URL",
        help="Folder/page with wheels (repeatable).",
    ),
    Option(("--no-index",), "no_index", "flag", default=None, help="Use only --find-links."),
    Option(("--label",), "labels", "multi", metavar="K=V"),
    Option(("--annotation",), "annotations", "multi", metavar="K=V"),
    Option(("--note",), "note", "text", default="", metavar="TEXT"),
    Option(("--shared",), "shared", "flag", help="Create a shared base env (administrators)."),
    Option(
        ("--no-kernel",),
        "no_kernel",
        "flag",
        help="In a dev container, do not add ipykernel (the env then has no Jupyter kernel).",
    ),
    Option(("-y", "--yes"), "yes", "flag", help="Do not ask for confirmation."),
)


class UsageProblem(Exception):
    """A usage error (click reports it with the usage line)."""


def parse_create(args: list[str]) -> dict[str, object] | None:
    """The values of ``haienv create ARGS`` as click would give them (``name``,
    ``packages`` and one per option); None for anything but ``--opt``, ``--opt=value``,
    ``-o value`` and arguments (help, ``--``, joined short flags, unknown options, a
    folder given as a file name): those are left to click (:mod:`hai_client.options`)."""
    parsed = parse(args, CREATE_OPTIONS, positional=True)
    if parsed is None:
        return None
    values, arguments = parsed
    values["name"] = arguments[0] if arguments else None
    values["packages"] = tuple(arguments[1:])
    return values


def run_create(
    config: Settings, values: dict, say: Messages, confirm: Callable[[], None] | None = None
) -> None:
    """The body of ``haienv create``: plan, show the plan, ``confirm()`` unless ``yes``
    (it raises to stop), build, say where the env is. Raises :class:`UsageProblem` and
    :class:`haienv.errors.HaiEnvError`."""
    from .create import CreateRequest, _existing_refusal, plan_request
    from .store import Store

    if values["no_extend"] and values["base"]:
        raise UsageProblem("--base and --no_extend exclude each other")
    name = values["name"] or _name_from_file(values["environment_file"])
    existing = Store(config).info(name, bool(values["shared"]))
    if existing is not None:  # before anything is asked or planned
        raise _existing_refusal(name, existing)
    packages = list(values["packages"])
    kernel_possible = not (values["no_kernel"] or values["shared"] or values["from_lock"])
    if kernel_possible and _wants_kernel(packages):
        packages.append("ipykernel")
    fields = ("requirements", "environment_file", "from_lock", "python", "base", "shared")
    fields += ("labels", "annotations", "note", "find_links", "index_url", "extra_index_urls")
    request = CreateRequest(
        name,
        packages=tuple(packages),
        extend=not values["no_extend"],
        no_index=values["no_index"],
        **{k: values[k] for k in fields},
    )
    plan = plan_request(request, config=config)
    _show_plan(plan.describe(), say)
    if not values["yes"] and confirm is not None:
        confirm()
    _build(plan, config, say, shared=bool(values["shared"]))


def _show_plan(lines: list[str], say: Messages) -> None:
    for line in lines:
        say.say(line, style="yellow" if line.startswith("warning:") else "")


def _build(plan: CreatePlan, config: Settings, say: Messages, *, shared: bool) -> None:
    from .create import execute

    start = time.perf_counter()
    with say.progress() as progress:
        info = execute(plan, config=config, progress=progress)
    took = time.perf_counter() - start
    ext = f", extends {info.extends}" if info.extends else ""
    say.say(
        f" {plan.name} (python {info.python_version}{ext}) in {took:.2f} s: {info.path}",
        lead="created",
        style="green",
    )
    if not shared:
        say.say(f"enter it:  source haienv {plan.name}    (leave: deactivate)")
        say.say(f'in Python: import haienv; haienv.set_env("{plan.name}")')


def _name_from_file(environment_file: str | None) -> str:
    """NAME, when not given: the ``name:`` of the environment.yaml (-f)."""
    if environment_file:
        from .spec import parse_environment_file

        found = parse_environment_file(environment_file).name
        if found:
            return found
        raise UsageProblem(f"give NAME: {environment_file} has no 'name:'")
    raise UsageProblem("give NAME (or -f environment.yaml with a 'name:')")


def _wants_kernel(packages: list[str]) -> bool:
    """In a dev container, an env gets ipykernel unless its packages name it already."""
    if not os.environ.get("JUPYTERHUB_USER"):
        return False
    from .spec import requirement_name

    return all(requirement_name(spec) != "ipykernel" for spec in packages)
