"""The ``haienv`` command line (click + rich): parse, call the API, print.

Every refusal is one ``error: ...`` line on stderr and exit status 1; nothing here holds
rules of its own. The ``haienv`` file on PATH is a bash script (haienv/shell/haienv) that
runs this when executed and enters an env when sourced (``source haienv NAME``).
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from hai_client.options import click_options

from .create_cli import CREATE_OPTIONS, UsageProblem, run_create
from .errors import HaiEnvError
from .output import err_console as _err
from .output import escape, messages
from .settings import Settings, load_settings
from .store import Store

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    pass


@functools.cache
def _out():
    from rich.console import Console

    from hai_client.tables import output_width

    return Console(highlight=False, soft_wrap=True, width=output_width(sys.stdout))


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except HaiEnvError as exc:
            messages().error(str(exc))
            sys.exit(1)
        except click.exceptions.Abort:
            messages().say("aborted")
            sys.exit(1)

    def resolve_command(self, ctx, args):
        from .names import is_valid_name

        if args and args[0] not in self.commands and is_valid_name(args[0]):
            raise click.UsageError(
                f"no command {args[0]!r}; to enter env {args[0]!r} run: source haienv {args[0]}"
            )
        return super().resolve_command(ctx, args)


def _config(ctx: click.Context) -> Settings:
    return ctx.obj


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", envvar=None, help="haienv root (default: $HAIENV_ROOT or ~/.haienv).")
@click.pass_context
def main(ctx: click.Context, root: str | None) -> None:
    """Named Python environments for notebooks and training, built with uv.

    Enter one in bash with `source haienv NAME`, leave with `deactivate`;
    in Python: `import haienv; haienv.set_env("NAME")`.
    """
    ctx.obj = load_settings(root=root)


# -- create ---------------------------------------------------------------------------------
#: the click options of ``create``, from :data:`haienv.create_cli.CREATE_OPTIONS`
_create_options = click_options(CREATE_OPTIONS)


@main.command()
@click.argument("name", required=False)
@click.argument("packages", nargs=-1)
@_create_options
@click.pass_context
def create(ctx: click.Context, **values: object) -> None:
    """Create env NAME with PACKAGES (and/or -r/-f/--from-lock). With -f, NAME defaults to
    the file's ``name:``.

    In a dev container ($JUPYTERHUB_USER set) ipykernel is added unless --no-kernel, so the
    env shows up as a Jupyter kernel."""
    confirm = lambda: click.confirm("Create it?", default=True, abort=True, err=True)  # noqa: E731
    try:
        run_create(_config(ctx), values, messages(), confirm)
    except UsageProblem as exc:
        raise click.UsageError(str(exc)) from None


def _when(info) -> str:
    """The env's creation time, local, to the minute."""
    at = info.created_at
    return at.astimezone().strftime("%Y-%m-%d %H:%M") if at else "-"


# -- list / status --------------------------------------------------------------------------
def _row(info) -> dict:
    return {
        "name": info.name,
        "path": info.path,
        "extend": info.extends is not None,
        "extend_env": info.extends,
        "py": info.python_version,
        "status": info.status,
        **{k: v for k, v in info.to_dict().items() if k not in ("name", "path", "status")},
    }


@main.command("list")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table")
@click.option("--no-bases", is_flag=True, help="Only your envs.")
@click.pass_context
def list_(ctx, output, no_bases):
    """Your envs and the shared bases."""
    envs = Store(_config(ctx)).list(include_bases=not no_bases)
    if output == "json":
        click.echo(json.dumps([_row(e) for e in envs], indent=2))
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for col in ("NAME", "KIND", "PATH", "EXTEND", "EXTEND_ENV", "PY", "STATUS", "CREATED"):
        table.add_column(col, overflow="fold")
    colors = {"ready": "green", "failed": "red", "creating": "yellow"}
    for e in envs:
        table.add_row(
            escape(e.name),
            "base" if e.is_base else "user",
            escape(e.path),
            "yes" if e.extends else "no",
            escape(e.extends or "-"),
            e.python_version or "?",
            f"[{colors.get(e.status, '')}]{e.status}[/]",
            _when(e),
        )
    if not envs:
        _err().print("no environments yet: haienv create NAME [PACKAGES]...")
        return
    _out().print(table)


@main.command()
@click.argument("name")
@click.option("--shared", is_flag=True, help="The shared base NAME.")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text")
@click.option("--log", "full_log", is_flag=True, help="Print the whole build log.")
@click.pass_context
def status(ctx, name, shared, output, full_log):
    """Status of NAME (creating / ready / failed), reason and build log."""
    info = Store(_config(ctx)).find(name, shared=True if shared else None)
    log = Path(info.log_path)
    text = log.read_text(errors="replace") if log.is_file() else ""
    if output == "json":
        click.echo(json.dumps({**_row(info), "log": text}, indent=2))
        return
    colors = {"ready": "green", "failed": "red", "creating": "yellow"}
    _out().print(f"{escape(info.name)}: [{colors.get(info.status, '')}]{info.status}[/]")
    if info.reason:
        _out().print(f"reason: {escape(info.reason)}")
    _out().print(
        f"path: {escape(info.path)}\npython: {info.python_version}  "
        f"extends: {escape(info.extends or '-')}  owner: {escape(info.owner)}  "
        f"created: {info.created}"
    )
    for k, v in info.labels.items():
        _out().print(f"label {escape(k)}={escape(v)}")
    for k, v in info.annotations.items():
        _out().print(f"annotation {escape(k)}={escape(v)}")
    if info.note:
        _out().print(f"note: {escape(info.note)}")
    if text:
        lines = text.splitlines()
        shown = lines if full_log else lines[-20:]
        _out().print(
            f"build log {escape(str(log))}"
            + ("" if full_log or len(lines) <= 20 else " (last 20 lines; --log for all)")
            + ":"
        )
        click.echo("\n".join(shown))
    if info.status == "failed":
        ctx.exit(1)  # scripts can test it: 0 ready (or still creating), 1 failed


# -- remove / export / push / activation ------------------------------------------------------
@main.command()
@click.argument("name")
@click.option("--shared", is_flag=True, help="Remove the shared base NAME (administrators).")
@click.option("--force", is_flag=True, help="Remove a base even if envs extend it.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def remove(ctx, name, shared, force, yes):
    """Remove env NAME (any status), its metadata and build log."""
    from .create import check_removable, remove_env

    check_removable(name, config=_config(ctx), shared=shared)  # before asking
    if not yes:
        what = "shared base" if shared else "env"
        click.confirm(f"Remove {what} {name}?", default=False, abort=True, err=True)
    remove_env(name, config=_config(ctx), shared=shared, force=force)
    _err().print(f"removed {escape(name)}")


@main.command()
@click.argument("name")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="File (default: stdout).")
@click.pass_context
def export(ctx, name, output):
    """Write the lock of NAME (exact versions); rebuild with create --from-lock."""
    from . import export_lock

    text = export_lock(name, config=_config(ctx))
    if output:
        Path(output).write_text(text)
        _err().print(f"wrote {escape(output)}: haienv create NEWNAME --from-lock {escape(output)}")
    else:
        click.echo(text, nl=False)


@main.command()
@click.argument("name")
@click.option(
    "--to",
    "to",
    required=True,
    metavar="PATH",
    help="haienv root on the cluster storage (mounted path).",
)
@click.pass_context
def push(ctx, name, to):
    """Copy a standalone env to the cluster's haienv root."""
    from .push import push_env

    info = push_env(name, to, config=_config(ctx))
    _err().print(f"pushed {escape(name)} to {escape(info.path)} (python {info.python_version})")


@main.command()
@click.argument("name")
@click.pass_context
def activate(ctx, name):
    """How to enter NAME (a process cannot change its parent shell)."""
    from .activate import env_vars

    env_vars(name, config=_config(ctx))  # refuses unknown / not ready envs
    _err().print(f"to enter {name} run:  source haienv {name}    (leave: deactivate)")
    sys.exit(1)


@main.command("shell-activate", hidden=True)
@click.argument("name")
@click.pass_context
def shell_activate(ctx, name):
    """bash code that enters NAME (evaluated by `source haienv NAME`)."""
    from .activate import shell_activation

    click.echo(shell_activation(name, config=_config(ctx)), nl=False)
