"""``%hai`` magics: submit, read and watch training chains from a notebook.

Load them with ``%load_ext hai_client.magics``, or in every kernel through IPython's
configuration (``~/.ipython/profile_default/ipython_config.py``, or the config of a haienv
kernel)::

    c.InteractiveShellApp.extensions = ["hai_client.magics"]

Commands (the options after ``--`` are ``hai-cli``'s cluster options: ``-n/--nodes``,
``--name``, ``-p/--priority``, ``-g/--group``, ``--env``, ``--gpus``)::

    %hai submit train.py [args] [-- -n 2 --priority HIGH]   submit a script in this folder
    %%hai submit [--name x -n 2 ...]                         submit the cell as a script
    %hai status NAME|ID                                      a chain and its ranks
    %hai logs NAME|ID [-f] [--rank N]                        its log (-f: follow to the end)
    %hai stop NAME|ID                                        stop it for good
    %hai list [--state running] [--name x*]                  my chains, newest first
    %hai watch NAME|ID [--rank N]                            a live widget (does not block)
    %hai usage                                               my GPU-hours: today/7d/30d, a chart

The magics talk to the scheduler through :class:`~hai_client.client.HaiClient` with the
configuration of ``hai-cli`` (``~/.hai/conf.yaml``, ``HAI_URL``/``HAI_TOKEN``). A failure
is one ``UsageError`` line, so "run all" stops there.
"""

from __future__ import annotations

import hashlib
import html
import io
import os
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from hai_client import cli as hai_cli
from hai_client import render
from hai_client.chain_names import default_name
from hai_client.client import Chain, ChainPage, HaiClient
from hai_client.errors import HaiError
from hai_client.kinds import kind_of
from hai_client.submission import report, script_task, split_at_separator, submit
from hai_client.tables import RichOutput

CELL_DIR = ".hai"  # cell scripts are written to ./.hai/<name>-<hash>.py


def _text(table: Any, width: int = 100) -> str:
    """A table (or a chain's status) as text laid out for ``width`` columns, as hai-cli
    prints it in a terminal that wide (rich never displays it in the kernel itself)."""
    buf = io.StringIO()
    con = RichOutput(buf, width)
    if isinstance(table, Chain):
        render.show_status(con, table)
    else:
        con.print(table)
    return buf.getvalue().rstrip() + "\n"


_STATE_COLOURS = {
    "running": "var(--jp-brand-color1, #1976d2)",
    "suspended": "var(--jp-warn-color1, #f57c00)",
    "waiting_init": "var(--jp-ui-font-color2, #757575)",
}


def state_html(chain: Chain) -> str:
    """The state as a coloured label, e.g. ``finished (stopped_by_user)``."""
    label = chain.state + (f" ({chain.stop_code})" if chain.stop_code else "")
    if chain.state == "finished":
        ok = chain.stop_code == "succeeded"
        colour = "var(--jp-success-color1, #388e3c)" if ok else "var(--jp-error-color1, #d32f2f)"
    else:
        colour = _STATE_COLOURS.get(chain.state, "inherit")
    return f'<b style="color:{colour}">{html.escape(label)}</b>'


def ranks_html(chain: Chain) -> str:
    job = chain.current_job
    if job is None or not job.ranks:
        return "<i>no ranks started yet</i>"
    rows = "".join(
        f"<tr><td>{r.rank}</td><td>{html.escape(r.state)}</td>"
        f"<td>{html.escape(r.node or '-')}</td>"
        f"<td>{'' if r.exit_code is None else r.exit_code}</td>"
        f"<td>{html.escape(r.reason)}</td></tr>"
        for r in job.ranks
    )
    return (
        f"<table><thead><tr><th>rank</th><th>state</th><th>node</th><th>exit</th>"
        f"<th>reason</th></tr></thead><tbody>{rows}</tbody></table>"
    )


class ChainView:
    """What ``%hai status`` returns: the chain, shown as a table (HTML in notebooks)."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain

    @property
    def id(self) -> int:
        return self.chain.id

    @property
    def state(self) -> str:
        return self.chain.state

    def __repr__(self) -> str:
        return _text(self.chain)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self).rstrip())

    def _repr_html_(self) -> str:
        c = self.chain
        facts = (
            f"chain {c.id} · owner {html.escape(c.owner)} · {html.escape(c.priority)} · "
            f"group {html.escape(c.group)} · {c.node_count} node(s) · "
            f"suspended {c.suspend_count} times"
        )
        reason = f"<div>{html.escape(c.reason)}</div>" if c.reason else ""
        return (
            f'<div class="hai-chain"><div><b>{html.escape(c.name)}</b> '
            f"{state_html(c)}</div><div>{facts}</div>{reason}{ranks_html(c)}</div>"
        )


class ChainListView:
    """What ``%hai list`` returns: a page of chains."""

    def __init__(self, page: ChainPage) -> None:
        self.page = page
        self.chains = page.chains

    def __repr__(self) -> str:
        owners = {c.owner for c in self.chains}
        table = render.chain_table(self.chains, show_owner=len(owners) > 1)
        return _text(table) + f"page {self.page.page} of {self.page.pages}, {self.page.total}\n"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self).rstrip())

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{c.id}</td><td>{html.escape(c.name)}</td><td>{state_html(c)}</td>"
            f"<td>{c.node_count}</td><td>{c.suspend_count}</td>"
            f"<td>{html.escape(render.when(c.updated_at))}</td></tr>"
            for c in self.chains
        )
        return (
            "<table><thead><tr><th>id</th><th>name</th><th>state</th><th>nodes</th>"
            f"<th>suspends</th><th>updated</th></tr></thead><tbody>{rows}</tbody></table>"
            f"<small>page {self.page.page} of {self.page.pages}, {self.page.total} chains"
            "</small>"
        )


# --------------------------------------------------------------------------- commands


def _cluster_options(args: list[str], what: str) -> dict[str, Any]:
    """hai-cli's cluster options (``-n 2 --priority HIGH ...``) parsed by hai-cli's parser."""
    ctx = hai_cli._cluster_options_parser.make_context(what, list(args))
    return dict(ctx.params)


def cell_script(cell: str, name: str, folder: Path | None = None) -> Path:
    """Write a cell to ``.hai/<name>-<hash>.py`` (a later submit never overwrites it)."""
    folder = folder or Path.cwd()
    digest = hashlib.sha256(cell.encode()).hexdigest()[:10]
    path = folder / CELL_DIR / f"{name}-{digest}.py"
    path.parent.mkdir(exist_ok=True)
    if not path.exists():
        path.write_text(cell if cell.endswith("\n") else cell + "\n", encoding="utf-8")
    return path


class MagicCommands:
    """The ``%hai`` commands, callable without IPython (tests, scripts)."""

    def __init__(self, client_factory: Callable[[], HaiClient] = HaiClient) -> None:
        self.client_factory = client_factory

    def submit(self, args: list[str], cell: str | None = None) -> Chain:
        if cell is not None:
            if "--" in args:
                raise HaiError("%%hai submit takes only options: the cell is the script")
            opts = _cluster_options(args, "%%hai submit")
            if not cell.strip():
                raise HaiError("the cell is empty: nothing to submit")
            name = opts.get("name") or "cell"
            script = cell_script(cell, default_name(name + ".py"))
            task = script_task("python", os.path.relpath(script), [], {**opts, "name": name})
        else:
            mine, sep, rest = split_at_separator(args)
            if sep == "++":
                raise HaiError("++ runs a script here; in a notebook, run it in a cell instead")
            if not mine:
                raise HaiError("give the script to submit: %hai submit train.py [args] -- [opts]")
            opts = _cluster_options(rest, "%hai submit SCRIPT ... --")
            script, script_args = mine[0], mine[1:]
            task = script_task(kind_of(script), script, script_args, opts)
        with self.client_factory() as hai:
            chain = submit(hai, task, opts)
        report(chain, bool(opts.get("as_json")), follow="Watch it: %hai watch {id}")
        if opts.get("follow"):
            self.logs(str(chain.id), follow=True)
        return chain

    def status(self, ref: str) -> ChainView:
        with self.client_factory() as hai:
            return ChainView(hai.get(ref))

    def logs(self, ref: str, *, follow: bool = False, rank: int = 0) -> None:
        with self.client_factory() as hai:
            chain = hai.get(ref)
            try:
                for line in hai.follow(chain.id, rank=rank, until_done=follow):
                    print(render.log_line(line), flush=True)
            except KeyboardInterrupt:  # the kernel was interrupted: stop following
                print("(stopped following)")
                return
            if follow:
                final = hai.get(chain.id)
                ending = f" ({final.stop_code})" if final.stop_code else ""
                print(f"chain {final.id} {final.state}{ending}")

    def stop(self, ref: str) -> Chain:
        with self.client_factory() as hai:
            chain = hai.stop(ref)
        print(f"chain {chain.id} '{chain.name}': stop requested (state {chain.state})")
        return chain

    def list(self, *, state: str | None = None, name: str | None = None) -> ChainListView:
        with self.client_factory() as hai:
            return ChainListView(hai.list(state=state, name=name))

    def watch(self, ref: str, *, rank: int = 0, lines: int = 20) -> Any:
        from hai_client.widgets import ChainMonitor

        return ChainMonitor(ref, rank=rank, tail=lines, client_factory=self.client_factory)

    def usage(self) -> Any:
        from hai_client.usage_view import UsageView

        with self.client_factory() as hai:
            return UsageView.load(hai)


SUBMIT_HELP = """\
Usage: %hai submit SCRIPT [ARGS]... [-- OPTIONS]
       %%hai submit [OPTIONS]        (the cell is the script)

  Submit a script of this folder (.py, .sh or a program), or the cell, as a training
  chain. The workspace is the kernel's working folder; the haienv is $HF_ENV_NAME
  unless --env says otherwise.

OPTIONS (those of hai-cli):"""


def _build_parser(commands: MagicCommands) -> click.Group:
    """``%hai`` as a click group (the same option parsing as hai-cli)."""
    settings = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

    @click.group(context_settings=settings, invoke_without_command=False)
    def hai() -> None:
        """Submit, read and watch HAI training chains (see %hai COMMAND --help)."""

    @hai.command(
        context_settings={
            "ignore_unknown_options": True,
            "allow_interspersed_args": False,
            "help_option_names": [],
        },
        short_help="Submit a script, or the cell, as a training chain.",
    )
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    @click.pass_context
    def submit(ctx: click.Context, args: tuple[str, ...]) -> None:
        """%hai submit SCRIPT [ARGS] [-- OPTIONS] or %%hai submit [OPTIONS] + a cell."""
        if args and args[0] in ("-h", "--help"):
            parser = hai_cli._cluster_options_parser
            options = parser.get_help(click.Context(parser, info_name="--"))
            rows = options.split("Options:", 1)[-1].splitlines()
            click.echo(SUBMIT_HELP + "\n".join(r for r in rows if "--help" not in r))
            return
        commands.submit(list(args), cell=ctx.obj.get("cell"))

    @hai.command()
    @click.argument("ref", metavar="NAME|ID")
    def status(ref: str) -> ChainView:
        """A chain and the ranks of its newest job."""
        return commands.status(ref)

    @hai.command()
    @click.argument("ref", metavar="NAME|ID")
    @click.option("-f", "--follow", is_flag=True, help="Follow until the chain finishes.")
    @click.option("--rank", "-r", type=click.IntRange(0), default=0, show_default=True)
    def logs(ref: str, follow: bool, rank: int) -> None:
        """One rank's log lines, each with its time."""
        commands.logs(ref, follow=follow, rank=rank)

    @hai.command()
    @click.argument("ref", metavar="NAME|ID")
    def stop(ref: str) -> None:
        """Stop a chain for good."""
        commands.stop(ref)

    @hai.command("list")
    @click.option("--state", help="waiting_init, running, suspended, finished (comma list).")
    @click.option("--name", help="Only names matching this.")
    def list_(state: str | None, name: str | None) -> ChainListView:
        """My chains, newest first."""
        return commands.list(state=state, name=name)

    @hai.command()
    @click.argument("ref", metavar="NAME|ID")
    @click.option("--rank", "-r", type=click.IntRange(0), default=0, show_default=True)
    @click.option("--lines", type=click.IntRange(1, 500), default=20, show_default=True)
    def watch(ref: str, rank: int, lines: int) -> Any:
        """A live monitor widget: state, ranks, log tail, a stop button."""
        return commands.watch(ref, rank=rank, lines=lines)

    @hai.command()
    def usage() -> Any:
        """My GPU-hours today, over 7 and 30 days, and a chart of the last 7 days."""
        return commands.usage()

    return hai


@magics_class
class HaiMagics(Magics):
    """``%hai`` / ``%%hai``."""

    def __init__(self, shell: Any = None, commands: MagicCommands | None = None) -> None:
        super().__init__(shell)
        self.commands = commands or MagicCommands()
        self.parser = _build_parser(self.commands)

    @line_cell_magic
    def hai(self, line: str, cell: str | None = None) -> Any:
        """Submit, read and watch HAI training chains: %hai --help."""
        try:
            argv = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%hai: {exc}") from None
        if not argv:
            argv = ["--help"]
        if cell is not None and argv[0] != "submit":
            raise UsageError("%%hai only submits a cell: %%hai submit [--name x -n 2 ...]")
        try:
            result = self.parser.main(
                argv,
                prog_name="%%hai" if cell is not None else "%hai",
                standalone_mode=False,
                obj={"cell": cell},
            )
        except click.exceptions.Exit:
            return None
        except click.ClickException as exc:
            raise UsageError(exc.format_message()) from None
        except HaiError as exc:
            raise UsageError(f"%hai {argv[0]}: {exc}") from None
        return None if isinstance(result, int) else result  # an int: --help's exit code


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext hai_client.magics``."""
    ipython.register_magics(HaiMagics(ipython))


def unload_ipython_extension(ipython: Any) -> None:
    """Nothing to undo beyond what IPython does."""
