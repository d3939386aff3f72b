"""What the ``haienv`` command runs (``haienv-cli``, ``python -m haienv``): ``haienv create``
without click or traitlets, every other command through :mod:`haienv.cli`.

Creating an env extending a base takes tens of milliseconds; importing click, traitlets and
rich took longer (issue #15). So a create given in the plain forms
:func:`haienv.create_cli.parse_create` takes, with ``-y``, is run here: the site file read as
JSON (:func:`haienv.settings.load_settings`), messages plain when piped. Anything else --
help, a usage error, a create that asks for confirmation -- is handed to the click command
line, which prints what it always printed. :mod:`haienv.activate` is the lean entry for
entering an env, as this one is for creating one.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Run ``haienv ARGS`` (default ``sys.argv[1:]``); exits with the command's status."""
    args = list(sys.argv[1:] if argv is None else argv)
    quick = _quick_create(args)
    if quick is None or not _create(*quick):
        from .cli import main as cli_main

        cli_main(args)


def _quick_create(args: list[str]) -> tuple[str | None, dict] | None:
    """``(root, values)`` of ``[--root R] create ... -y``; None for anything else."""
    root = None
    if args[:1] == ["--root"] and len(args) > 1:
        root, args = args[1], args[2:]
    elif args[:1] and args[0].startswith("--root="):
        root, args = args[0].partition("=")[2], args[1:]
    if args[:1] != ["create"]:
        return None
    from .create_cli import parse_create

    values = parse_create(args[1:])
    return None if values is None or not values["yes"] else (root, values)


def _create(root: str | None, values: dict) -> bool:
    """Run the create; False when click must report a usage error instead."""
    from .create_cli import UsageProblem, run_create
    from .errors import HaiEnvError
    from .output import messages
    from .settings import load_settings

    say = messages()
    try:
        run_create(load_settings(root=root), values, say)
    except UsageProblem:
        return False  # checked before anything was created: click says it, with the usage
    except HaiEnvError as exc:
        say.error(str(exc))
        sys.exit(1)
    except KeyboardInterrupt:
        say.say("aborted")
        sys.exit(1)
    return True
