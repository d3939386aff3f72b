"""``hai-cli list``: your chains, newest first (admins: everyone's), a page at a time.

This module owns the command's options (:data:`LIST_OPTIONS`, from which the click command
is made too) and what it prints (:func:`show_list`), so the console script can run a plain
``hai-cli list [options]`` without loading click (:func:`fast_list`).
"""

from __future__ import annotations

from hai_client.errors import HaiError
from hai_client.jsonout import print_json
from hai_client.options import JSON_OPTION, Option, parse

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

LIST_OPTIONS = (
    Option(("--page",), "page", "int", minimum=1, default=1, show_default=True),
    Option(
        ("--page_size", "--page-size"),
        "page_size",
        "int",
        default=20,
        show_default=True,
        help="Chains per page (at most 50).",
    ),
    Option(("--name",), "name", help="Only names matching this (glob, or text anywhere)."),
    Option(("--state",), "state", help="waiting_init, running, suspended, finished (comma list)."),
    Option(("--group",), "group", help="Only this node group."),
    Option(("--owner",), "owner", help="Only this user's chains (admins)."),
    JSON_OPTION,
)
FILTERS = ("name", "state", "group", "owner")


def show_list(opts: dict[str, Any]) -> None:
    """Ask for the page and print it: a table (plain lines when piped) and a page line,
    or the API's JSON."""
    from hai_client import render, tables
    from hai_client.client import HaiClient

    page = opts["page"]
    with HaiClient() as hai:
        result = hai.list(page=page, page_size=opts["page_size"], **{k: opts[k] for k in FILTERS})
    if page > result.pages:
        raise HaiError(f"no page {page}: there are {result.pages} ({result.total} tasks)")
    if opts["as_json"]:
        print_json(result.raw)
        return
    owners = {c.owner for c in result.chains}
    con = tables.output()
    narrow = render.is_narrow(con)
    con.print(render.chain_table(result.chains, show_owner=len(owners) > 1, narrow=narrow))
    print(f"page {result.page} of {result.pages}, {result.total} tasks")


def fast_list(args: Sequence[str]) -> Callable[[], None] | None:
    """``hai-cli list ARGS`` ready to run when its options are plain; None otherwise."""
    parsed = parse(args, LIST_OPTIONS)
    if parsed is None:
        return None
    return lambda: show_list(parsed[0])
