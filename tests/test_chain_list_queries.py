"""``queries.list_chains``: the page and the count every filter gives, on SQLite and
PostgreSQL, against a plain Python reference; and the shape of its queries (the owners are
joined to the page's rows only, so a page does not walk every chain with its owner)."""

from __future__ import annotations

import fnmatch
import itertools

import pytest
from sqlalchemy import event, insert

from scheduler.model import accounts
from scheduler.model.db import open_database
from scheduler.model.orm import Chain
from scheduler.service import queries
from scheduler.service.auth import Identity
from scheduler.service.queries import ChainFilter

OWNERS = ("ann", "ben", "cy")
STATES = ("waiting_init", "running", "finished")
GROUPS = ("default", "gpu")


def _fill(url: str) -> tuple[object, dict[str, int], list[dict]]:
    factory = open_database(url)
    with factory.begin() as s:
        ids = {name: accounts.create_user(s, name, admin=name == "cy").id for name in OWNERS}
        rows = [
            {
                "name": f"run_{i % 17}-{i}",
                "owner_id": ids[OWNERS[i % 3]],
                "state": STATES[i % 5 % 3],
                "group_name": GROUPS[i % 7 % 2],
                "entrypoint": "true",
                "node_count": 1,
                "priority": 1,
            }
            for i in range(240)
        ]
        s.execute(insert(Chain), rows)
    with factory() as s:
        rows = [
            {
                "id": c.id,
                "name": c.name,
                "owner_id": c.owner_id,
                "state": c.state,
                "group": c.group_name,
            }
            for c in s.query(Chain)
        ]
    return factory, ids, rows


def _reference(rows: list[dict], ids: dict[str, int], who: Identity, flt: ChainFilter):
    """The chains ``who`` may see that match, newest first: (page ids, total)."""
    names = {v: k for k, v in ids.items()}
    pattern = flt.name if flt.name and ("*" in flt.name or "?" in flt.name) else None
    hits = [
        r["id"]
        for r in sorted(rows, key=lambda r: -r["id"])
        if (who.admin or r["owner_id"] == who.user_id)
        and (
            not flt.name
            or (fnmatch.fnmatchcase(r["name"].lower(), pattern.lower()) if pattern else
                flt.name.lower() in r["name"].lower())
        )
        and (not flt.states or r["state"] in flt.states)
        and (not flt.group or r["group"] == flt.group)
        and (not flt.owner or names[r["owner_id"]] == flt.owner)
    ]  # fmt: skip
    start = (flt.page - 1) * flt.page_size
    return hits[start : start + flt.page_size], len(hits)


FILTERS = [
    ChainFilter(),
    ChainFilter(page=3, page_size=7),
    ChainFilter(page=40, page_size=7),
    ChainFilter(name="run_1*", page=2, page_size=5),
    ChainFilter(name="_1-"),
    ChainFilter(name="RUN_?-*", states=("running", "finished"), page=2, page_size=9),
    ChainFilter(group="gpu", owner="ben", page_size=11),
    ChainFilter(owner="nobody"),
    ChainFilter(states=("finished",), group="default", page=4, page_size=6),
]


def test_every_filter_gives_the_reference_page_and_count(db_url: str) -> None:
    factory, ids, rows = _fill(db_url)
    viewers = [Identity(n, admin=n == "cy", user_id=ids[n]) for n in ("ann", "cy")]
    for who, flt in itertools.product(viewers, FILTERS):
        with factory() as s:
            page, total = queries.list_chains(s, who, flt)
        want, want_total = _reference(rows, ids, who, flt)
        assert ([c.id for c in page], total) == (want, want_total), (who.name, flt)
        owners = {v: k for k, v in ids.items()}
        by_id = {r["id"]: r for r in rows}
        assert all(c.owner == owners[by_id[c.id]["owner_id"]] for c in page)


@pytest.mark.parametrize("flt", [ChainFilter(page=30, page_size=5), ChainFilter(owner="ann")])
def test_only_the_pages_rows_are_joined_with_their_owners(tmp_path, flt) -> None:
    """The count and the page's ids come from the chains table alone; one query joins the
    owners, for the page's ids only (before, both walked every chain with its owner)."""
    factory, ids, _rows = _fill(f"sqlite:///{tmp_path / 'hai.sqlite'}")
    seen: list[str] = []
    engine = factory.kw["bind"]
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2].lower()))
    with factory() as s:
        page, _total = queries.list_chains(s, Identity("cy", admin=True, user_id=ids["cy"]), flt)
    assert page
    joins = [q for q in seen if " join users" in q]
    assert len(joins) == 1, seen
    assert "offset" not in joins[0].split("in (select", 1)[0], joins[0]
    assert all("join users" not in q for q in seen if "count(" in q), seen
