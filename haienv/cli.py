"""The ``haienv`` command line (click + rich): parse, call the API, print.

Every refusal is one ``error: ...`` line on stderr and exit status 1; nothing here holds
rules of its own. The ``haienv`` file on PATH is a bash script (haienv/shell/haienv) that
runs this when executed and enters an env when sourced (``source haienv NAME``).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from pathlib import Path

import click

from hai_client.tables import output_width

from .config import HaiEnvConfig, load_config
from .errors import HaiEnvError
from .store import Store


# rich is imported on first output, not at start: `source haienv NAME` runs this command
# line (shell-activate) and prints only plain text (rich costs ~25 ms of ~80).
@functools.cache
def _err():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True, width=output_width(sys.stderr))


@functools.cache
def _out():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True, width=output_width(sys.stdout))


def escape(text: str) -> str:
    """rich's markup escape, imported when first needed."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except HaiEnvError as exc:
            _err().print(f"[bold red]error:[/] {escape(str(exc))}")
            sys.exit(1)
        except click.exceptions.Abort:
            _err().print("aborted")
            sys.exit(1)

    def resolve_command(self, ctx, args):
        from .names import is_valid_name

        if args and args[0] not in self.commands and is_valid_name(args[0]):
            raise click.UsageError(
                f"no command {args[0]!r}; to enter env {args[0]!r} run: source haienv {args[0]}"
            )
        return super().resolve_command(ctx, args)


def _config(ctx: click.Context) -> HaiEnvConfig:
    return ctx.obj


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", envvar=None, help="haienv root (default: $HAIENV_ROOT or ~/.haienv).")
@click.pass_context
def main(ctx: click.Context, root: str | None) -> None:
    """Named Python environments for notebooks and training, built with uv.

    Enter one in bash with `source haienv NAME`, leave with `deactivate`;
    in Python: `import haienv; haienv.set_env("NAME")`.
    """
    ctx.obj = load_config(root=root)


# -- create ---------------------------------------------------------------------------------
@main.command()
@click.argument("name", required=False)
@click.argument("packages", nargs=-1)
@click.option(
    "--no_extend",
    "--no-extend",
    "no_extend",
    is_flag=True,
    help="A standalone env (do not extend the default base).",
)
@click.option("--base", metavar="BASE", help="Shared base env to extend.")
@click.option("--python", metavar="3.X", help="Python version (standalone envs).")
@click.option(
    "-r",
    "--requirement",
    "requirements",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="requirements.txt (repeatable).",
)
@click.option(
    "-f",
    "--file",
    "environment_file",
    type=click.Path(dir_okay=False),
    help="conda environment.yaml (python= and the pip: section; conda-only entries "
    "need conda/mamba/micromamba).",
)
@click.option(
    "--from-lock",
    type=click.Path(dir_okay=False),
    help="Rebuild exactly from a lock written by `haienv export`.",
)
@click.option("--extra-index-url", "extra_index_urls", multiple=True, metavar="URL")
@click.option("--index-url", metavar="URL", help="Replace the default package index.")
@click.option(
    "--find-links",
    "find_links",
    multiple=True,
    metavar="PATH_OR_URL",
    help="Folder/page with wheels (repeatable).",
)
@click.option("--no-index", is_flag=True, default=None, help="Use only --find-links.")
@click.option("--label", "labels", multiple=True, metavar="K=V")
@click.option("--annotation", "annotations", multiple=True, metavar="K=V")
@click.option("--note", default="", metavar="TEXT")
@click.option("--shared", is_flag=True, help="Create a shared base env (administrators).")
@click.option(
    "--no-kernel",
    is_flag=True,
    help="In a dev container, do not add ipykernel (the env then has no Jupyter kernel).",
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def create(
    ctx,
    name,
    packages,
    no_extend,
    base,
    python,
    requirements,
    environment_file,
    from_lock,
    extra_index_urls,
    index_url,
    find_links,
    no_index,
    labels,
    annotations,
    note,
    shared,
    no_kernel,
    yes,
):
    """Create env NAME with PACKAGES (and/or -r/-f/--from-lock). With -f, NAME defaults to
    the file's ``name:``.

    In a dev container ($JUPYTERHUB_USER set) ipykernel is added unless --no-kernel, so the
    env shows up as a Jupyter kernel."""
    from .create import CreateRequest, execute, plan_request

    config = _config(ctx)
    if no_extend and base:
        raise click.UsageError("--base and --no_extend exclude each other")
    name = name or _name_from_file(environment_file)
    from .create import _existing_refusal

    existing = Store(config).info(name, bool(shared))
    if existing is not None:  # before anything is asked or planned
        raise _existing_refusal(name, existing)
    packages = list(packages)
    if not (no_kernel or shared or from_lock) and _wants_kernel(packages):
        packages.append("ipykernel")
    request = CreateRequest(
        name,
        packages=tuple(packages),
        requirements=requirements,
        environment_file=environment_file,
        from_lock=from_lock,
        python=python,
        base=base,
        extend=not no_extend,
        shared=shared,
        labels=labels,
        annotations=annotations,
        note=note,
        find_links=find_links,
        index_url=index_url,
        extra_index_urls=extra_index_urls,
        no_index=no_index,
    )
    plan = plan_request(request, config=config)
    for line in plan.describe():
        style = "yellow" if line.startswith("warning:") else ""
        _err().print(f"[{style}]{escape(line)}[/]" if style else escape(line))
    if not yes:
        click.confirm("Create it?", default=True, abort=True, err=True)
    start = time.perf_counter()
    if _err().is_terminal:
        with _err().status("starting...") as status:
            info = execute(plan, config=config, progress=lambda s: status.update(escape(s) + "..."))
    else:
        info = execute(plan, config=config, progress=lambda s: _err().print(escape(f"... {s}")))
    took = time.perf_counter() - start
    ext = f", extends {info.extends}" if info.extends else ""
    _err().print(
        f"[green]created[/] {escape(name)} (python {info.python_version}{escape(ext)}) "
        f"in {took:.2f} s: {escape(info.path)}"
    )
    if not shared:
        _err().print(f"enter it:  source haienv {name}    (leave: deactivate)")
        _err().print(f'in Python: import haienv; haienv.set_env("{name}")')


def _name_from_file(environment_file: str | None) -> str:
    """NAME, when not given: the ``name:`` of the environment.yaml (-f)."""
    if environment_file:
        from .spec import parse_environment_file

        found = parse_environment_file(environment_file).name
        if found:
            return found
        raise click.UsageError(f"give NAME: {environment_file} has no 'name:'")
    raise click.UsageError("give NAME (or -f environment.yaml with a 'name:')")


def _wants_kernel(packages: list[str]) -> bool:
    """In a dev container, an env gets ipykernel unless its packages name it already."""
    if not os.environ.get("JUPYTERHUB_USER"):
        return False
    from packaging.requirements import InvalidRequirement, Requirement

    for spec in packages:
        try:
            if Requirement(spec).name.lower().replace("_", "-") == "ipykernel":
                return False
        except InvalidRequirement:
            continue  # plan_request names the bad requirement
    return True


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
