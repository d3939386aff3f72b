"""``hai-admin``: the platform admin's command line, over the hub's REST API.

``hai-admin users list|add|approve|disable|enable|reset-password|set-admin`` act on hub
accounts (``/hub/api/hai/users``, see :mod:`hai_hub.handlers`). It finds the hub at
``--hub-url`` / ``$HAI_HUB_URL`` (default ``http://127.0.0.1:8000``) and authenticates
with ``--token`` / ``$HAI_ADMIN_TOKEN``, else the ``hai-admin`` service token that
``jupyterhub_config.py`` keeps in the data folder (readable only by the account that runs
the hub, so on the hub's machine that account is the admin). Every command takes
``--json``; errors are one line on stderr and exit status 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
import httpx

from hai_client.options import json_option

TOKEN_FILE = "hai-admin.token"


class Hub:
    """The hub's account endpoints, with an admin token."""

    def __init__(self, url: str, token: str) -> None:
        self.base = url.rstrip("/") + "/hub/api/hai/users"
        self.http = httpx.Client(headers={"Authorization": f"token {token}"}, timeout=60)

    def call(self, method: str, name: str = "", **body: Any) -> Any:
        url = f"{self.base}/{quote(name, safe='')}" if name else self.base
        try:
            resp = self.http.request(method, url, json=body or None)
        except httpx.HTTPError as exc:
            raise click.ClickException(f"the hub is unreachable at {url}: {exc}") from None
        if resp.status_code >= 400:
            try:
                message = resp.json().get("message") or resp.text
            except ValueError:
                message = resp.text.strip()[:200]
            raise click.ClickException(f"{message} (HTTP {resp.status_code})")
        return resp.json()


def find_token(token: str | None, data_dir: str) -> str:
    if token:
        return token
    path = Path(data_dir) / TOKEN_FILE
    try:
        return path.read_text().strip()
    except OSError:
        raise click.ClickException(
            f"no admin token: pass --token, set $HAI_ADMIN_TOKEN, or run as the hub's "
            f"account (it reads {path})"
        ) from None


def emit(obj: Any, as_json: bool, line: str) -> None:
    click.echo(json.dumps(obj) if as_json else line)


def account_line(acc: dict[str, Any]) -> str:
    flags = [
        "approved" if acc["approved"] else "waiting for approval",
        *(["admin"] if acc["admin"] else []),
        *(
            [f"running: {','.join(s or 'default' for s in acc['servers'])}"]
            if acc["servers"]
            else []
        ),
    ]
    return f"{acc['name']}\t{', '.join(flags)}"


@click.group()
@click.option("--hub-url", envvar="HAI_HUB_URL", default="http://127.0.0.1:8000", show_default=True)
@click.option("--token", envvar="HAI_ADMIN_TOKEN", help="An admin's hub token.")
@click.option(
    "--data-dir",
    envvar="HAI_DATA_DIR",
    default="var/hai",
    show_default=True,
    help=f"Where the hub keeps {TOKEN_FILE}.",
)
@click.pass_context
def cli(ctx: click.Context, hub_url: str, token: str | None, data_dir: str) -> None:
    """Administer HAI Hub: accounts (more to come: groups, quotas, nodes)."""
    ctx.obj = lambda: Hub(hub_url, find_token(token, data_dir))


@cli.group()
def users() -> None:
    """Hub accounts: sign-ups to approve, passwords, admins, disabling."""


@users.command("list")
@json_option
@click.pass_obj
def list_users(hub: Any, as_json: bool) -> None:
    """Every account, one line each: name, approval, admin, running servers."""
    accounts = hub().call("GET")["users"]
    if as_json:
        click.echo(json.dumps(accounts))
        return
    for acc in accounts:
        click.echo(account_line(acc))


@users.command()
@click.argument("name")
@click.option("--admin", is_flag=True, help="Make them an admin.")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from stdin (else one is made)."
)
@json_option
@click.pass_obj
def add(hub: Any, name: str, admin: bool, password_stdin: bool, as_json: bool) -> None:
    """Add an approved account; prints the password once when it made one up."""
    body: dict[str, Any] = {"admin": admin}
    if password_stdin:
        body["password"] = sys.stdin.readline().rstrip("\n")
    acc = hub().call("POST", name, **body)
    line = f"added {acc['name']}" + (f"; password: {acc['password']}" if "password" in acc else "")
    emit(acc, as_json, line)


def _patch_command(name: str, body: dict[str, Any], help_text: str, done: str) -> None:
    @users.command(name, help=help_text)
    @click.argument("user")
    @json_option
    @click.pass_obj
    def command(hub: Any, user: str, as_json: bool) -> None:
        acc = hub().call("PATCH", user, **body)
        emit(acc, as_json, f"{user}: {done}")


_patch_command("approve", {"approved": True}, "Let a signed-up user log in.", "approved")
_patch_command("enable", {"approved": True}, "Enable a disabled user again.", "enabled")
_patch_command(
    "disable",
    {"approved": False},
    "Disable a user at once: servers stop, sessions end, tokens are revoked.",
    "disabled (servers stopped, sessions and tokens revoked)",
)


@users.command("set-admin")
@click.argument("user")
@click.option("--no", "revoke", is_flag=True, help="Take admin rights away instead.")
@json_option
@click.pass_obj
def set_admin(hub: Any, user: str, revoke: bool, as_json: bool) -> None:
    """Make a user an admin of the hub and the scheduler (or not, with --no)."""
    acc = hub().call("PATCH", user, admin=not revoke)
    emit(acc, as_json, f"{user}: {'not ' if revoke else ''}an admin")


@users.command("reset-password")
@click.argument("user")
@click.option("--password-stdin", is_flag=True, help="Read the new password from stdin.")
@json_option
@click.pass_obj
def reset_password(hub: Any, user: str, password_stdin: bool, as_json: bool) -> None:
    """Set a new password for a user (made up and printed once unless given on stdin)."""
    import secrets

    password = sys.stdin.readline().rstrip("\n") if password_stdin else secrets.token_urlsafe(12)
    acc = hub().call("PATCH", user, password=password)
    if not password_stdin:
        acc["password"] = password
    emit(acc, as_json, f"{user}: new password" + ("" if password_stdin else f": {password}"))


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="hai-admin")


if __name__ == "__main__":  # pragma: no cover
    main()
