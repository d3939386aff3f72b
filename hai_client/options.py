"""Command-line options as data, for the commands typed most (``hai-cli python x.py --
...``, ``hai-cli list``, ``haienv create``).

A command's table of :class:`Option` is the one home of its options: its click command is
made from the table (:func:`click_options`), and :func:`parse` reads the plain forms of
its command line without loading click (15-25 ms of a start: click, ``inspect``, ``ast``).
Anything :func:`parse` does not take as it is -- help, a misspelt option, a bad number,
joined short flags -- gives None, and the caller hands the
command line to its click command, so every message stays click's. Tests compare
:func:`parse` with click's own reading of random command lines.

Why by hand: no argument library both reads click's forms exactly and imports in well
under a millisecond; this reads the few forms the tables use, and nothing else.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

#: what :meth:`Option.parse` answers for a value click would refuse
REFUSED = object()


class Option:
    """One option: its flags, where its value goes (``dest``) and its ``kind``: ``flag``,
    ``text``, ``int`` (a whole number, at least ``minimum`` when given) or ``multi``
    (repeatable text). ``path``: a file name (click refuses a folder)."""

    __slots__ = (
        "default",
        "dest",
        "flags",
        "help",
        "kind",
        "metavar",
        "minimum",
        "path",
        "show_default",
    )

    def __init__(self, flags: tuple[str, ...], dest: str, kind: str = "text", **more: Any) -> None:
        self.flags, self.dest, self.kind = flags, dest, kind
        self.help: str | None = more.get("help")
        self.metavar: str | None = more.get("metavar")
        self.minimum: int | None = more.get("minimum")
        self.path = bool(more.get("path"))
        self.show_default = bool(more.get("show_default"))
        self.default = more.get("default", {"flag": False, "multi": ()}.get(kind))

    def parse(self, raw: str | None) -> Any:
        """The value of ``raw`` as click would read it, or :data:`REFUSED`."""
        if raw is None:
            return REFUSED
        if self.path and os.path.isdir(raw):
            return REFUSED
        if self.kind != "int":
            return raw
        try:
            value = int(raw)
        except ValueError:
            return REFUSED
        return REFUSED if self.minimum is not None and value < self.minimum else value


#: ``--json``: the API's JSON instead of a table or a sentence (every read command)
JSON_OPTION = Option(("--json",), "as_json", "flag", help="Print JSON for scripts.")


def parse(
    args: Sequence[str], table: Sequence[Option], *, positional: bool = False
) -> tuple[dict[str, Any], list[str]] | None:
    """``args`` read as click reads them with ``table``'s options (the last of a repeated
    option wins; a ``multi`` one collects): the values by ``dest`` and, where the command
    takes them (``positional``), its arguments; None for anything else."""
    by_flag = {flag: opt for opt in table for flag in opt.flags}
    values: dict[str, Any] = {opt.dest: opt.default for opt in table}
    arguments: list[str] = []
    i = 0
    while i < len(args):
        if not args[i].startswith("-") or args[i] == "-":
            if not positional:
                return None
            arguments.append(args[i])
            i += 1
            continue
        opt, raw, i = _next_option(args, i, by_flag)
        if opt is None:
            return None
        if opt.kind == "flag":
            values[opt.dest] = True
            continue
        value = opt.parse(raw)
        if value is REFUSED:
            return None
        values[opt.dest] = (*values[opt.dest], value) if opt.kind == "multi" else value
    return values, arguments


def _next_option(
    args: Sequence[str], i: int, by_flag: dict[str, Option]
) -> tuple[Option | None, str | None, int]:
    """The option at ``args[i]``, its raw value (None for a flag, or when there is none),
    and where the next one starts. Forms: ``--name V``, ``--name=V``, ``-n V``, ``-nV``."""
    arg = args[i]
    if arg.startswith("--") and "=" in arg:
        flag, _, value = arg.partition("=")
        opt = by_flag.get(flag)
        return (None, None, i) if opt is None or opt.kind == "flag" else (opt, value, i + 1)
    opt = by_flag.get(arg)
    if opt is not None:
        if opt.kind == "flag":
            return opt, None, i + 1
        return (opt, args[i + 1], i + 2) if i + 1 < len(args) else (None, None, i)
    opt = by_flag.get(arg[:2])
    if opt is not None and not arg.startswith("--") and opt.kind != "flag":
        return opt, arg[2:], i + 1
    return None, None, i


def click_options(table: Sequence[Option]) -> Callable[[Callable], Callable]:
    """A decorator that adds ``table``'s options to a click command (imports click)."""
    import click

    def decorate(command: Callable) -> Callable:
        for opt in reversed(table):
            kwargs: dict[str, Any] = {"help": opt.help, "metavar": opt.metavar}
            if opt.kind == "flag":
                kwargs.update(is_flag=True, default=opt.default)
            elif opt.kind == "multi":
                kwargs["multiple"] = True
            elif opt.default is not None:
                kwargs.update(default=opt.default, show_default=opt.show_default)
            if opt.kind == "int":
                kwargs["type"] = int if opt.minimum is None else click.IntRange(opt.minimum)
            if opt.path:
                kwargs["type"] = click.Path(dir_okay=False)
            command = click.option(*opt.flags, opt.dest, **kwargs)(command)
        return command

    return decorate


def json_option(command: Callable) -> Callable:
    """``--json`` (:data:`JSON_OPTION`) on a click command: hai-cli's, hai-admin's and the
    hub's admin commands (imports click)."""
    return click_options((JSON_OPTION,))(command)
