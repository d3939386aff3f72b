"""``hai-cli admin ...``: what a scheduler admin sets over the API, with their own token.

users (add, disable, enable, set admin, group membership, system account), quotas
(``node-<group>-<PRIORITY>`` and the total ``node``: list, set, remove), nodes (drain,
undrain) and tokens (issue, list, revoke: ``hai-cli token ... --user``). Every command
takes ``--json``; lists are one row per line. Users get the API's 403 as one line.
(Hub accounts — passwords, approval — are ``hai-admin users``, docs/admin.md.)
"""

from __future__ import annotations

from typing import Any

import click

from hai_client.jsonout import print_json
from hai_client.lazy import lazy_module
from hai_client.options import json_option

render = lazy_module("hai_client.render")
_client = lazy_module("hai_client.client")


def _emit(data: Any, as_json: bool, line: str) -> None:
    if as_json:
        print_json(data)
    else:
        click.echo(line)


def _user_line(u: dict[str, Any]) -> str:
    flags = [f for f, on in (("admin", u["admin"]), ("disabled", u["disabled"])) if on]
    return "\t".join(
        [u["name"], u.get("group") or "-", u.get("system_user") or "-", ",".join(flags) or "-"]
    )


@click.group()
def admin() -> None:
    """Administer the scheduler: users, groups, quotas, nodes (admins)."""


# --------------------------------------------------------------------------- users


@admin.group()
def users() -> None:
    """Scheduler users: add, disable, admin flag, group, system account."""


@users.command("list")
@json_option
def users_list(as_json: bool) -> None:
    """Every user: name, group, system account, flags (one line each)."""
    with _client.HaiClient() as hai:
        rows = hai.users()
    if as_json:
        print_json(rows)
        return
    for u in rows:
        click.echo(_user_line(u))


@users.command("add")
@click.argument("name")
@click.option("--admin", "make_admin", is_flag=True, help="Make them an admin.")
@click.option("--group", help="Their group (group quotas apply to them).")
@json_option
def users_add(name: str, make_admin: bool, group: str | None, as_json: bool) -> None:
    """Add a user (then: hai-cli token create --user NAME gives them a token)."""
    with _client.HaiClient() as hai:
        row = hai.create_user(name, admin=make_admin, **({"group": group} if group else {}))
    _emit(row, as_json, f"added {_user_line(row)}")


def _change(name: str, as_json: bool, **fields: Any) -> None:
    with _client.HaiClient() as hai:
        row = hai.change_user(name, **fields)
    _emit(row, as_json, _user_line(row))


@users.command("disable")
@click.argument("name")
@json_option
def users_disable(name: str, as_json: bool) -> None:
    """Refuse the user's tokens from the next request on (their chains are kept)."""
    _change(name, as_json, disabled=True)


@users.command("enable")
@click.argument("name")
@json_option
def users_enable(name: str, as_json: bool) -> None:
    """Accept the user's tokens again."""
    _change(name, as_json, disabled=False)


@users.command("set-admin")
@click.argument("name")
@click.option("--no", "revoke", is_flag=True, help="Take admin rights away instead.")
@json_option
def users_set_admin(name: str, revoke: bool, as_json: bool) -> None:
    """Make the user a scheduler admin (or not, with --no)."""
    _change(name, as_json, admin=not revoke)


@users.command("set-group")
@click.argument("name")
@click.argument("group", required=False)
@json_option
def users_set_group(name: str, group: str | None, as_json: bool) -> None:
    """Put the user in GROUP (leave it out: in no group)."""
    _change(name, as_json, group=group)


@users.command("map")
@click.argument("name")
@click.argument("system_user", required=False)
@json_option
def users_map(name: str, system_user: str | None, as_json: bool) -> None:
    """Run the user's code as SYSTEM_USER on this machine (leave it out: the default)."""
    _change(name, as_json, system_user=system_user)


# --------------------------------------------------------------------------- quotas


@admin.group()
def quotas() -> None:
    """Node quotas of users and groups: node-<group>-<PRIORITY> and the total 'node'."""


@quotas.command("list")
@json_option
def quotas_list(as_json: bool) -> None:
    """Every quota row (kind, subject, resource, limit) and the defaults."""
    with _client.HaiClient() as hai:
        data = hai.quotas()
    if as_json:
        print_json(data)
        return
    for q in data["quotas"]:
        click.echo(f"{q['kind']}\t{q['subject']}\t{q['resource']}\t{q['limit']}")
    for resource, limit in sorted(data.get("defaults", {}).items()):
        click.echo(f"default\t*\t{resource}\t{limit}")


kind_option = click.option(
    "--group",
    "is_group",
    is_flag=True,
    help="SUBJECT is a group (default: a user).",
)


@quotas.command("set")
@click.argument("subject")
@click.argument("resource")
@click.argument("limit", type=click.IntRange(0, 1_000_000))
@kind_option
@json_option
def quotas_set(subject: str, resource: str, limit: int, is_group: bool, as_json: bool) -> None:
    """Set SUBJECT's quota RESOURCE (e.g. node-gpu-HIGH, or node) to LIMIT nodes."""
    kind = "group" if is_group else "user"
    with _client.HaiClient() as hai:
        row = hai.set_quota(kind, subject, resource, limit)
    _emit(row, as_json, f"{kind} {subject}: {resource} = {limit}")


@quotas.command("remove")
@click.argument("subject")
@click.argument("resource")
@kind_option
def quotas_remove(subject: str, resource: str, is_group: bool) -> None:
    """Remove SUBJECT's quota row RESOURCE (the group's or the default applies again)."""
    kind = "group" if is_group else "user"
    with _client.HaiClient() as hai:
        hai.remove_quota(kind, subject, resource)
    click.echo(f"{kind} {subject}: {resource} removed")


# --------------------------------------------------------------------------- nodes


@admin.group()
def nodes() -> None:
    """Nodes: drain (running work stays, nothing new is placed) and undrain."""


def _node_state(node: str, state: str, as_json: bool) -> None:
    with _client.HaiClient() as hai:
        row = hai.set_node_state(node, state)
    _emit(row, as_json, f"{row['name']} ({row['group']}): {row['state']}")


@nodes.command("drain")
@click.argument("node")
@json_option
def nodes_drain(node: str, as_json: bool) -> None:
    """Place nothing new on NODE (running work stays)."""
    _node_state(node, "draining", as_json)


@nodes.command("undrain")
@click.argument("node")
@json_option
def nodes_undrain(node: str, as_json: bool) -> None:
    """Let NODE take work again."""
    _node_state(node, "ready", as_json)
