"""``hai-cli``: submit, follow and control training chains from a terminal.

Commands talk to the scheduler only through :class:`~hai_client.client.HaiClient`. Any
error ends the command with one clear line on stderr and a non-zero exit code. Every
read command takes ``--json`` for scripts.

``hai-cli python train.py [args] -- [cluster options]`` submits; without ``--`` the script
runs here as a plain command; with ``++ [options]`` it runs here the way a rank would.
"""

from __future__ import annotations

import json
import os
import pwd
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.shell_completion import CompletionItem, get_completion_class

from hai_client.config import DEFAULT_URL, normalize_url, save_config
from hai_client.current_env import current_env
from hai_client.errors import HaiError
from hai_client.jsonout import print_json
from hai_client.kinds import KINDS
from hai_client.lazy import lazy_module
from hai_client.listing import LIST_OPTIONS, show_list
from hai_client.options import click_options, json_option
from hai_client.submission import (
    CLUSTER_OPTIONS,
    report,
    script_task,
    split_at_separator,
    submit,
)

if TYPE_CHECKING:
    from hai_client.client import Chain, HaiClient

# imported by the first command that needs them (start-up cost: see hai_client.lazy)
render = lazy_module("hai_client.render")
tables = lazy_module("hai_client.tables")
local_run = lazy_module("hai_client.local_run")
_client = lazy_module("hai_client.client")

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


#: the sections of ``hai-cli --help``, as HAI's CLI documentation groups its commands
HELP_SECTIONS = {
    "Exec Commands": ("python", "bash", "exec", "run"),
    "Task Manage Cmds": (
        "list",
        "status",
        "logs",
        "describe",
        "stop",
        "suspend",
        "resume",
        "priority",
        "prof",
        "ssh",
    ),
    "Cluster Commands": ("nodes", "monitor", "validate"),
    "User Commands": ("init", "whoami", "usage", "token", "version", "completion"),
    "Admin Commands": ("admin",),
    "UGC Commands": ("haienv",),
}


class HaiGroup(click.Group):
    """Turns a :class:`HaiError` into one ``Error: ...`` line and exit code 1, and lists
    commands in the sections of HAI's documentation."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        placed: set[str] = set()
        for section, names in HELP_SECTIONS.items():
            rows = []
            for name in names:
                cmd = self.get_command(ctx, name)
                if cmd is not None and not cmd.hidden:
                    rows.append((name, cmd.get_short_help_str(formatter.width - 30)))
                    placed.add(name)
            if rows:
                with formatter.section(section):
                    formatter.write_dl(rows)
        rest = [n for n in self.list_commands(ctx) if n not in placed]
        if rest:
            with formatter.section("Other Commands"):
                formatter.write_dl(
                    [(n, self.get_command(ctx, n).get_short_help_str()) for n in rest]
                )

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HaiError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            raise click.exceptions.Exit(130) from None


def client() -> HaiClient:
    return _client.HaiClient()


def out() -> Any:
    return tables.output()


#: commands that only make sense on a chain that has not finished
_ACTIVE_ONLY = {"stop", "suspend", "resume", "priority", "prof", "ssh"}


def complete_chain(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    """Shell completion of chain names and ids (the newest 50; for commands that act on a
    live chain, and `logs -f`, only chains that have not finished)."""
    live = ctx.info_name in _ACTIVE_ONLY or bool(ctx.params.get("follow"))
    try:
        with _client.HaiClient(timeout=2.0) as hai:
            chains = hai.list(page_size=50).chains
    except Exception:
        return []
    if live:
        chains = [c for c in chains if c.state != "finished"]
    values: dict[str, str] = {}
    for c in chains:
        values.setdefault(c.name, f"{c.state}, id {c.id}")
        values.setdefault(str(c.id), c.name)
    return [CompletionItem(v, help=h) for v, h in values.items() if v.startswith(incomplete)]


def chain_ref(f: Callable) -> Callable:
    return click.argument("ref", metavar="NAME|ID", shell_complete=complete_chain)(f)


def rank_option(f: Callable) -> Callable:
    return click.option(
        "--rank", "-r", type=click.IntRange(0), default=0, show_default=True, help="Which rank."
    )(f)


#: the options that say how a task runs on the cluster (also accepted after ``--``)
cluster_options = click_options(CLUSTER_OPTIONS)


@click.group(cls=HaiGroup, context_settings=CONTEXT)
@click.version_option(package_name="hai-hub", prog_name="hai-cli", message="%(prog)s %(version)s")
def cli() -> None:
    """Talk to the HAI scheduler: submit training chains, follow them, see the cluster."""


# --------------------------------------------------------------------------- setup


@cli.command()
@click.argument("token")
@click.option("--url", help=f"The scheduler's URL (default: {DEFAULT_URL}).")
@click.option("--no-check", is_flag=True, help="Write the file without asking the server.")
def init(token: str, url: str | None, no_check: bool) -> None:
    """Save TOKEN and the scheduler's URL in ~/.hai/conf.yaml (mode 0600)."""
    url = normalize_url(url or DEFAULT_URL)
    who = None
    if not no_check:
        with _client.HaiClient(url, token) as hai:
            who = hai.whoami()
    path = save_config(token, url)
    if who is not None:
        click.echo(f"Saved {path}: you are {who.name} ({who.role}) at {url}")
    else:
        click.echo(f"Saved {path} (not checked against {url})")


@cli.command()
@json_option
def whoami(as_json: bool) -> None:
    """Your user name, role, quotas, what you use now and your GPU-hours."""
    with client() as hai:
        me = hai.whoami()
    if as_json:
        print_json(me.raw)
        return
    con = out()
    for table in render.whoami_tables(me):
        con.print(table)


@cli.command()
@click.option(
    "--by",
    default="user",
    show_default=True,
    help="Rows per: user, group, node_group, priority, day, profile, kind (by commas).",
)
@click.option("--since", help="Start: YYYY-MM-DD, a date-time, or 7d / 12h ago (default 30d).")
@click.option("--until", help="End (default now); a window is at most 366 days.")
@click.option("--user", help="Only this user (others than you: admins).")
@click.option("--group", help="Only this user group.")
@click.option("--node-group", help="Only this node group.")
@click.option("--priority", help="Only this priority (training).")
@click.option("--kind", type=click.Choice(["training", "devserver"]), help="Only this kind.")
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (a header, one row a line).")
def usage(as_json: bool, as_csv: bool, **filters: Any) -> None:
    """GPU- and node-hours: yours and the cluster's total (admins: everyone's)."""
    with client() as hai:
        data = hai.usage(**filters)
    if as_json:
        print_json(data)
    elif as_csv:
        render.usage_csv(data, sys.stdout)
    else:
        out().print(render.usage_table(data))
        click.echo(render.usage_window(data))


@cli.group()
def token() -> None:
    """Your API tokens: list, create, revoke (admins: anyone's)."""


@token.command("list")
@click.option("--user", help="Whose tokens (admins).")
@json_option
def token_list(user: str | None, as_json: bool) -> None:
    """Tokens, one line each: id, user, note, created, expires."""
    with client() as hai:
        rows = hai.tokens(user)
    if as_json:
        print_json(rows)
        return
    for t in rows:
        ends = t["expires_at"] or "never"
        if t["expired"]:
            ends += " (expired)"
        click.echo(f"{t['id']}\t{t['user']}\t{t['note'] or '-'}\t{t['created_at']}\t{ends}")


@token.command("create")
@click.option("--note", default="", help="What the token is for.")
@click.option("--days", type=click.IntRange(1, 3650), help="Expire after this many days.")
@click.option("--user", help="Issue it for another user (admins).")
@json_option
def token_create(note: str, days: int | None, user: str | None, as_json: bool) -> None:
    """A new token, printed once (hai-cli init TOKEN on another machine)."""
    with client() as hai:
        made = hai.create_token(note, days, user)
    if as_json:
        print_json(made)
        return
    ends = made["expires_at"] or "never"
    click.echo(f"token {made['id']} for {made['user']} (expires: {ends}):\n{made['token']}")


@token.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Revoke a token; it is refused from the next request on."""
    with client() as hai:
        hai.revoke_token(token_id)
    click.echo(f"token {token_id} revoked")


@cli.command()
@json_option
def version(as_json: bool) -> None:
    """Versions of hai-cli and of the scheduler it talks to."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        mine = package_version("hai-hub")
    except PackageNotFoundError:  # pragma: no cover - source tree without metadata
        mine = "unknown"
    info: dict[str, Any] = {"hai-cli": mine}
    try:
        with client() as hai:
            server = hai.info()
        info.update(server=server.get("version"), url=hai.url)
    except HaiError as exc:
        info.update(server=None, server_error=str(exc))
    if as_json:
        print_json(info)
        return
    click.echo(f"hai-cli {mine}")
    if info.get("server"):
        click.echo(f"hai-scheduler {info['server']} at {info['url']}")
    else:
        click.echo(f"hai-scheduler: {info['server_error']}")


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]), default="bash")
def completion(shell: str) -> None:
    """Print the tab-completion script: eval "$(hai-cli completion bash)"."""
    cls = get_completion_class(shell)
    click.echo(cls(cli, {}, "hai-cli", "_HAI_CLI_COMPLETE").source())


# --------------------------------------------------------------------------- submitting


def _after_submit(hai: HaiClient, chain: Chain, opts: dict[str, Any]) -> None:
    report(chain, bool(opts.get("as_json")))
    if opts.get("follow"):
        _follow(hai, str(chain.id), 0, as_json=bool(opts.get("as_json")), header=False)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@cluster_options
def run(file: str, **opts: Any) -> None:
    """Submit the task spec FILE (YAML; - reads stdin); options override the file."""
    if file == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(file).read_text()
        except OSError as exc:
            raise HaiError(f"cannot read {file}: {exc.strerror}") from None
    facts = _spec_facts(text)
    with client() as hai:
        chain = submit(hai, text, {**opts, **facts})
        _after_submit(hai, chain, opts)


def _spec_facts(text: str) -> dict[str, Any]:
    """What ``run`` needs to know of a spec file before sending it: the workspace to send
    (this folder for a spec that names none, as sbatch runs a job where it was submitted; a
    relative one taken from this folder) and the haienv the spec names."""
    import yaml  # only `run` reads YAML here

    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, RecursionError):
        return {}  # the server says what is wrong with it, with the line
    spec = data.get("spec") if isinstance(data, dict) else None
    spec = spec if isinstance(spec, dict) else {}
    given = spec.get("workspace")
    workspace = None
    if given is None:
        workspace = os.getcwd()
    elif isinstance(given, str) and given and not given.startswith("/"):
        workspace = os.path.abspath(given)
    haienv = spec.get("haienv") if isinstance(spec.get("haienv"), str) else None
    return {"workspace": workspace, "spec_haienv": haienv}


@click.command("cluster options", context_settings=CONTEXT)
@cluster_options
def _cluster_options_parser(**opts: Any) -> dict[str, Any]:
    return opts


def parse_cluster_options(ctx: click.Context, args: list[str], sep: str) -> dict[str, Any]:
    sub = _cluster_options_parser.make_context(
        f"{ctx.command_path} ... {sep}", list(args), parent=ctx
    )
    return dict(sub.params)


def _take_suspend_after(args: list[str]) -> tuple[list[str], float | None]:
    """``++ --suspend-after SECONDS``: take it out of the cluster options."""
    if "--suspend-after" not in args:
        return args, None
    i = args.index("--suspend-after")
    try:
        seconds = float(args[i + 1])
    except (IndexError, ValueError):
        raise click.UsageError("--suspend-after needs a number of seconds") from None
    if seconds < 0:
        raise click.UsageError("--suspend-after needs a number of seconds >= 0")
    return args[:i] + args[i + 2 :], seconds


def _script_command(kind: str) -> click.Command:
    @click.pass_context
    def command(ctx: click.Context, args: tuple[str, ...]) -> None:
        if args[:1] in (("--help",), ("-h",)):  # hai-cli's help; `X --help` is the script's
            click.echo(ctx.get_help())
            ctx.exit(0)
        mine, sep, rest = split_at_separator(args)
        if not mine:
            raise click.UsageError(f"give the {'program' if kind == 'exec' else 'script'} to run")
        script, script_args = mine[0], mine[1:]
        if sep is None:
            env = current_env()
            ctx.exit(local_run.run_plain(kind, script, script_args, env))
        suspend_after = None
        if sep == "++":
            rest, suspend_after = _take_suspend_after(rest)
        opts = parse_cluster_options(ctx, rest, sep)
        env = opts.get("env") or current_env()
        if sep == "++":
            if (opts.get("nodes") or 1) > 1:
                click.echo("hai-cli: ++ runs one rank here (RANK=0, WORLD_SIZE=1)", err=True)
            extra = {"HAI_CHAIN_NAME": opts["name"]} if opts.get("name") else None
            ctx.exit(
                local_run.run_as_rank(
                    kind,
                    script,
                    script_args,
                    env_name=env,
                    extra_env=extra,
                    suspend_after=suspend_after,
                )
            )
        with client() as hai:
            chain = submit(hai, script_task(kind, script, script_args, opts), opts)
            _after_submit(hai, chain, opts)

    what = KINDS[kind]
    return click.Command(
        kind,
        callback=command,
        params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)],
        context_settings={
            "ignore_unknown_options": True,
            "allow_interspersed_args": False,
            "help_option_names": [],
        },
        help=(
            f"Run {what}: `hai-cli {kind} X [args] -- [-n N --name ... --priority ... "
            f"--group ... --env ...]` submits it; with no `--` it runs here as a plain "
            f"command; with `++` it runs here as a cluster rank would (same environment "
            f"variables, same suspend API; `++ --suspend-after S` asks it to suspend after S "
            f"seconds, as a preemption would, and runs the resumed job after it checkpointed; "
            f"kill -USR1 the hai-cli process to ask at any time)."
        ),
        short_help=f"Run {what} on the cluster (--) or here (++ or nothing).",
    )


for _kind in KINDS:
    cli.add_command(_script_command(_kind))


# --------------------------------------------------------------------------- reading


@cli.command("list")
@click_options(LIST_OPTIONS)
def list_(**opts: Any) -> None:
    """Your chains, newest first (admins: everyone's)."""
    show_list(opts)


@cli.command()
@chain_ref
@json_option
def status(ref: str, as_json: bool) -> None:
    """A chain and the ranks of its newest job."""
    with client() as hai:
        chain = hai.get(ref)
    if as_json:
        print_json(chain.raw)
        return
    render.show_status(out(), chain)


def _follow(hai: HaiClient, ref: str, rank: int, *, as_json: bool, header: bool = True) -> None:
    chain = hai.get(ref)
    if as_json:
        if header:
            click.echo(json.dumps({"chain": chain.raw}))
    elif header:
        render.show_status(out(), chain)
    for line in hai.follow(chain.id, rank=rank):
        if as_json:
            click.echo(json.dumps({"time": line.time, "text": line.text, "job": line.job}))
        else:
            click.echo(render.log_line(line))
    final = hai.get(chain.id)
    if not as_json:
        ending = f" ({final.stop_code})" if final.stop_code else ""
        click.echo(f"chain {final.id} {final.state}{ending}", err=True)
    code = chain_exit_code(final.stop_code)
    if code:
        raise click.exceptions.Exit(code)


#: exit status of a followed chain (``logs -f``, ``-- -f``), by how it ended
EXIT_CODES = {"succeeded": 0, "failed": 3, "init_failed": 3, "lost": 3, "timeout": 4}


def chain_exit_code(stop_code: str | None) -> int:
    """0 succeeded; 3 failed (also init_failed, lost); 4 timed out; 5 stopped otherwise."""
    return EXIT_CODES.get(stop_code or "", 5) if stop_code else 0


@cli.command()
@chain_ref
@click.option("-f", "--follow", is_flag=True, help="Keep following until the chain finishes.")
@rank_option
@json_option
def logs(ref: str, follow: bool, rank: int, as_json: bool) -> None:
    """The status of a chain, then one rank's log lines, each with its timestamp."""
    with client() as hai:
        if follow:
            _follow(hai, ref, rank, as_json=as_json)
            return
        chain = hai.get(ref)
        lines = list(hai.follow(chain.id, rank=rank, until_done=False))
    if as_json:
        print_json(
            {
                "chain": chain.raw,
                "lines": [{"time": x.time, "text": x.text, "job": x.job} for x in lines],
            }
        )
        return
    render.show_status(out(), chain)
    for line in lines:
        click.echo(render.log_line(line))


@cli.command()
@chain_ref
@json_option
def describe(ref: str, as_json: bool) -> None:
    """The chain's task spec as YAML (hai-cli describe x > x.yaml; hai-cli run x.yaml)."""
    with client() as hai:
        text = hai.describe(ref)
    if as_json:
        import yaml

        print_json(yaml.safe_load(text))
        return
    click.echo(text, nl=False)


@cli.command()
@json_option
def nodes(as_json: bool) -> None:
    """Node groups: nodes, GPUs, free/used, and who runs where."""
    with client() as hai:
        groups = hai.nodes()
    if as_json:
        print_json({"groups": [g.raw for g in groups]})
        return
    con = out()
    for table in render.nodes_tables(groups):
        con.print(table)


@cli.command()
@click.option("--watch", "-w", type=float, help="Refresh every this many seconds.")
@json_option
def monitor(watch: float | None, as_json: bool) -> None:
    """Cluster overview: chains per state, GPUs in use per group."""
    with client() as hai:
        while True:
            data = hai.overview()
            if as_json:
                print_json(data)
            else:
                con = out()
                if watch:
                    con.clear()
                for table in render.overview_tables(data):
                    con.print(table)
            if not watch:
                return
            time.sleep(watch)


@cli.command()
@click.option("--require-gpu", is_flag=True, help="Fail when no GPU is seen.")
@click.option("--min-free-gb", type=float, default=1.0, show_default=True)
@json_option
def validate(require_gpu: bool, min_free_gb: float, as_json: bool) -> None:
    """Check this node: GPUs and driver (NVML), free disk, the haienv root."""
    from hai_client import health

    results = health.run_checks(require_gpu=require_gpu, min_free_gib=min_free_gb)
    failed = [r for r in results if r["status"] == "fail"]
    if as_json:
        print_json({"ok": not failed, "checks": results})
    else:
        out().print(render.checks_table(results))
    if failed:
        raise HaiError(f"{len(failed)} check(s) failed: {', '.join(r['check'] for r in failed)}")


# --------------------------------------------------------------------------- acting


def _acted(chain: Chain, what: str) -> None:
    click.echo(f"chain {chain.id} '{chain.name}': {what} (state {chain.state})")


@cli.command()
@chain_ref
def stop(ref: str) -> None:
    """Stop a chain for good."""
    with client() as hai:
        _acted(hai.stop(ref), "stop requested")


@cli.command()
@chain_ref
def suspend(ref: str) -> None:
    """Suspend a chain and hold it until resumed (admins)."""
    with client() as hai:
        _acted(hai.suspend(ref), "suspend requested, held")


@cli.command()
@chain_ref
def resume(ref: str) -> None:
    """Release an admin's hold so the chain can run again (admins)."""
    with client() as hai:
        _acted(hai.resume(ref), "released")


@cli.command()
@chain_ref
@click.argument("priority")
def priority(ref: str, priority: str) -> None:
    """Change a chain's priority (within your quota)."""
    with client() as hai:
        chain = hai.set_priority(ref, priority)
    _acted(chain, f"priority {chain.priority}")


# --------------------------------------------------------------------------- on the node


def _local_rank(hai: HaiClient, ref: str, rank: int) -> dict[str, Any]:
    detail = hai.rank(ref, rank)
    if detail.get("state") is None:
        raise HaiError(f"chain {detail['chain_id']} has not started rank {rank} yet")
    handle = detail.get("handle") or {}
    tdir = handle.get("task_dir") or handle.get("control_dir")
    if not tdir or not os.path.isdir(tdir):
        raise HaiError(
            f"rank {rank} of chain {detail['chain_id']} runs on node {detail.get('node')}, "
            "not on this machine (or not as your account); run this command there"
        )
    detail["control_dir"] = tdir
    return detail


@cli.command()
@chain_ref
@rank_option
@click.option("--native", is_flag=True, help="Also show native (C) frames.")
def prof(ref: str, rank: int, native: bool) -> None:
    """A stack dump of a running rank (py-spy dump)."""
    import shutil  # only this command needs it (start-up)
    import subprocess  # only this command needs it (start-up)

    with client() as hai:
        detail = _local_rank(hai, ref, rank)
    if detail["state"] != "running":
        raise HaiError(f"rank {rank} is {detail['state']}, not running")
    try:
        pid = int((Path(detail["control_dir"]) / "rank.pid").read_text().strip())
    except (OSError, ValueError):
        raise HaiError(f"rank {rank} has no process id recorded yet") from None
    beside = Path(sys.executable).with_name("py-spy")  # installed with hai-hub[prof]
    spy = str(beside) if beside.exists() else shutil.which("py-spy")
    if spy is None:
        raise HaiError("py-spy is not installed here: pip install 'hai-hub[prof]'")
    argv = [spy, "dump", "--pid", str(pid)] + (["--native"] if native else [])
    code = subprocess.call(argv)
    if code:
        raise HaiError(f"py-spy failed (exit {code}); it may need permission to trace pid {pid}")


@cli.command()
@chain_ref
@rank_option
@click.option(
    "--as-admin",
    is_flag=True,
    help="Enter another user's rank (root only): the shell runs as that user's account.",
)
def ssh(ref: str, rank: int, as_admin: bool) -> None:
    """A shell in a running rank's working directory, as its account, with its environment.

    Your own rank: a shell as you. Someone else's (admins, with --as-admin, as root): a
    shell as *their* account with their environment, so nothing of theirs (PROMPT_COMMAND,
    PATH) ever runs as you.
    """
    import subprocess  # only this command needs it (start-up)

    with client() as hai:
        detail = _local_rank(hai, ref, rank)
    if detail["state"] != "running":
        chain_id, state = detail["chain_id"], detail["state"]
        raise HaiError(f"rank {rank} of chain {chain_id} is {state}, not running")
    rank_env = dict(detail.get("environment") or {})
    if detail.get("haienv"):
        rank_env.update(local_run.haienv_vars(detail["haienv"]))
    rank_env["HAI_CONTROL_DIR"] = detail["control_dir"]
    workspace = detail.get("workspace") or "."
    account = (detail.get("handle") or {}).get("account")
    me = pwd.getpwuid(os.getuid()).pw_name
    if account and account != me:
        argv, env, cwd = _shell_as_owner(account, detail, as_admin, rank_env)
    else:
        argv, env, cwd = (
            [os.environ.get("SHELL") or "/bin/bash"],
            {**os.environ, **rank_env},
            workspace,
        )
    click.echo(
        f"hai-cli: shell for chain {detail['chain_id']} rank {rank} as {account or me} "
        f"in {workspace} (exit to leave)",
        err=True,
    )
    sys.exit(subprocess.call(argv, cwd=cwd, env=env))


def _shell_as_owner(
    account: str, detail: dict[str, Any], as_admin: bool, rank_env: dict[str, str]
) -> tuple[list[str], dict[str, str], str]:
    """argv, environment and start folder of a shell as ``account`` (root only, on
    purpose only): the owner's environment, none of the caller's variables."""
    owner = detail.get("owner") or account
    if not as_admin:
        raise HaiError(
            f"chain {detail['chain_id']} runs as {account!r} ({owner}'s account), not as you; "
            "admins enter it with --as-admin, as root"
        )
    if os.geteuid() != 0:
        raise HaiError(f"only root can open a shell as {account!r}")
    entry = pwd.getpwnam(account)
    click.echo(
        f"hai-cli: WARNING: entering {owner}'s rank as {account!r}: what you type runs as "
        f"{owner}, with {owner}'s environment",
        err=True,
    )
    env = dict(rank_env)
    env.update(
        HOME=entry.pw_dir,
        USER=account,
        LOGNAME=account,
        SHELL=entry.pw_shell or "/bin/sh",
        PATH=rank_env.get("PATH") or "/usr/local/bin:/usr/bin:/bin",
    )
    shell = entry.pw_shell or "/bin/sh"
    workspace = detail.get("workspace") or entry.pw_dir
    argv = [
        "setpriv",
        f"--reuid={entry.pw_uid}",
        f"--regid={entry.pw_gid}",
        "--init-groups",
        "--",
        shell,
        "-c",
        'cd "$1" && exec "$2"',
        "hai-ssh",
        workspace,
        shell,
    ]
    return argv, env, "/"


# --------------------------------------------------------------------------- haienv


@cli.command(
    context_settings={
        "ignore_unknown_options": True,
        "allow_interspersed_args": False,
        "help_option_names": [],
    }
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def haienv(args: tuple[str, ...]) -> None:
    """Environments: passes everything to the haienv command (hai-cli haienv list)."""
    from haienv.cli import main as haienv_main  # in this process: no second interpreter

    haienv_main.main(args=list(args), prog_name="hai-cli haienv")


def _add_admin() -> None:
    from hai_client.admin_cli import admin

    cli.add_command(admin)


_add_admin()


def main(argv: Sequence[str] | None = None) -> None:
    """The ``hai-cli`` console script."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="hai-cli")


__all__ = ["cli", "main"]
