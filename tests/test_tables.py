"""hai-cli's plain tables (for pipes) draw exactly what rich draws at unlimited width.

:mod:`hai_client.tables` draws a piped table itself so that ``hai-cli list | ...`` does not
import rich; rich stays the reference, here compared on the tables hai-cli prints and on
random cell text (wide characters, combining marks, tabs, control characters, several
lines in one cell).
"""

from __future__ import annotations

import io
import random

import pytest
from rich.console import Console

from hai_client.tables import (
    PIPE_WIDTH,
    PlainOutput,
    Table,
    cell_width,
    output,
    plain_lines,
    to_rich,
)

#: what cells are made of: ASCII, wide characters, a letter with a combining accent
ALPHABET = [*"ab-_.[]/ 0123456789日本語é", "e\u0301"]


def rich_text(item: Table | str) -> str:
    buf = io.StringIO()
    con = Console(file=buf, width=PIPE_WIDTH, no_color=True, highlight=False, soft_wrap=False)
    from rich.text import Text

    con.print(to_rich(item) if isinstance(item, Table) else Text(item))
    return buf.getvalue()


def rich_reference(table: Table) -> str:
    """rich's drawing, but a title wider than the table on one line (as plain draws it)."""
    drawn = rich_text(table)
    if not table.title:
        return drawn
    untitled = rich_text(Table(table.columns, rows=table.rows))
    width = cell_width(untitled.split("\n", 1)[0])
    if cell_width(table.title) <= width:
        return drawn
    return table.title + "\n" + untitled


def plain_text(item: Table | str) -> str:
    buf = io.StringIO()
    PlainOutput(buf).print(item)
    return buf.getvalue()


def random_cell(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 12)))


def random_table(rng: random.Random) -> Table:
    ncols = rng.randrange(1, 6)
    title = random_cell(rng) if rng.random() < 0.5 else None
    table = Table([random_cell(rng) or "h" for _ in range(ncols)], title=title)
    for _ in range(rng.randrange(0, 5)):
        table.add_row(*(random_cell(rng) for _ in range(ncols)))
    return table


def chains_table() -> Table:
    table = Table(["id", "name", "nodes", "chain_status", "suspend_count", "updated_at"])
    table.add_row("1", "train-日本", "2", "running (held)", "0", "2026-12-03 10:00:00")
    table.add_row("22", "[x]", "1", "finished (oom)", "3", "-")
    return table


@pytest.mark.parametrize(
    "table",
    [
        chains_table(),
        Table(["id", "name"]),  # an empty page: the headers and the rule
        Table(["rank", "status"], title="job 2 (resumed 2x)", rows=[["0", "running"]]),
        Table(["group", "gpu_hours"], rows=[["a", "1.00"], ["", "2.00"]]),
    ],
    ids=["chains", "empty", "title", "blank-cell"],
)
def test_hai_cli_tables_match_rich(table: Table) -> None:
    assert plain_text(table) == rich_reference(table)


def test_a_title_wider_than_its_table_stays_on_one_line() -> None:
    table = Table(["rank", "status"], title="job 2 (resumed 2x)", rows=[["0", "running"]])
    assert plain_lines(table)[0] == "job 2 (resumed 2x)"
    assert rich_text(table).startswith("job 2 (resumed\n2x)")  # rich wraps it


@pytest.mark.parametrize("seed", range(300))
def test_random_tables_match_rich(seed: int) -> None:
    rng = random.Random(seed)
    table = random_table(rng)
    assert plain_text(table) == rich_reference(table), table


@pytest.mark.parametrize("text", ["priority NORMAL, group a", "reason: x\ny\x07", "[bold]x[/]"])
def test_text_lines_match_rich(text: str) -> None:
    assert plain_text(text) == rich_text(text)


def test_control_characters_never_break_a_row() -> None:
    """A newline, tab or escape in a cell is shown as "?": one row is one line, and
    nothing reaches a pager (less -R) as a terminal sequence."""
    table = Table(["id", "na\tme"], title="t\x1b[2J", rows=[["1", "a\nb\x1b[31m\r\x7f"]])
    lines = plain_lines(table)
    assert lines[0].rstrip() == "t?[2J" and lines[1] == "id   na?me     "
    assert lines[3] == "1    a?b?[31m??"
    assert len(lines) == 4


def test_one_row_per_line_however_long() -> None:
    table = Table(["id", "name"], rows=[["1", "n" * 5000]])
    lines = plain_lines(table)
    assert len(lines) == 3 and lines[2] == "1    " + "n" * 5000


def test_a_pipe_gets_plain_output_a_fixed_width_gets_rich(monkeypatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert isinstance(output(), PlainOutput)
    monkeypatch.setenv("COLUMNS", "60")
    assert not isinstance(output(), PlainOutput) and output().width == 60
