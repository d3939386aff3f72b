"""The tables ``hai-cli`` prints, and the two outputs that print them.

A :class:`Table` is plain data (headers, rows of strings, a title). Where it goes decides
how it is drawn:

* :class:`PlainOutput` -- piped or redirected output (no ``$COLUMNS``): one row per line,
  columns aligned, as kubectl and gh print for scripts. It draws the same text rich draws
  for these tables at unlimited width (``tests/test_tables.py`` compares the two), except
  that a row or a title is always one line: a control character in a cell (a newline, a
  tab, an escape) is shown as ``?``, and a title wider than its table is not wrapped. It
  does not import rich: rich's console and table modules cost ~20 ms of a command that must
  answer in tens of milliseconds (issue #15), and a pipe needs none of what they add.
* :class:`RichOutput` -- a terminal, or a fixed width: rich lays the table out for that
  width (wrapping long cells) and is imported only then.

Cells are text, never markup: a chain named ``[x]`` is shown as it is.
"""

from __future__ import annotations

import os
import sys
import unicodedata

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any, TextIO

#: the width of output that is not a terminal: wide enough that no row ever wraps
PIPE_WIDTH = 100_000
#: between two columns: the right padding, rich's SIMPLE_HEAD separator, the left padding
_GAP = "   "
#: control characters rich drops from text (rich.control.strip_control_codes)
_STRIP = dict.fromkeys((7, 8, 11, 12, 13))
#: in a table's cell: every C0 control character and DEL, shown as "?" (one row, one line)
_ONE_LINE = {**dict.fromkeys(range(32), "?"), 127: "?"}


class Table:
    """Column headers, rows of cell text (same length as the headers), an optional title.
    ``keep_first_whole``: in a narrow terminal, never fold the first column (a chain id
    stays whole). A plain class: ``dataclasses`` costs ~5 ms of a ``hai-cli list``."""

    __slots__ = ("columns", "keep_first_whole", "rows", "title")

    def __init__(
        self,
        columns: list[str],
        title: str | None = None,
        rows: list[list[str]] | None = None,
        keep_first_whole: bool = False,
    ) -> None:
        self.columns = columns
        self.title = title
        self.rows = [] if rows is None else rows
        self.keep_first_whole = keep_first_whole

    def __repr__(self) -> str:
        return f"Table({self.columns!r}, title={self.title!r}, rows={len(self.rows)})"

    def add_row(self, *cells: str) -> None:
        self.rows.append([str(c) for c in cells])


def output_width(stream: Any) -> int | None:
    """``$COLUMNS`` if set; else None for a terminal (rich asks it) and, piped or in a
    file, :data:`PIPE_WIDTH`, so that a table keeps one line per row."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        return int(columns)
    isatty = getattr(stream, "isatty", None)
    return None if isatty is not None and isatty() else PIPE_WIDTH


def output(stderr: bool = False) -> PlainOutput | RichOutput:
    """Where ``hai-cli`` prints: plain when the stream is not a terminal, else rich."""
    stream = sys.stderr if stderr else sys.stdout
    width = output_width(stream)
    if width == PIPE_WIDTH:
        return PlainOutput(stream)
    return RichOutput(stream, width)


class PlainOutput:
    """Tables as aligned lines, text as it is; for pipes and files."""

    width = PIPE_WIDTH

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def print(self, item: Table | str) -> None:
        lines = plain_lines(item) if isinstance(item, Table) else _clean(item).split("\n")
        self.stream.write("".join(line + "\n" for line in lines))

    def clear(self) -> None:
        """Nothing to clear in a pipe (rich does nothing there either)."""


class RichOutput:
    """Tables laid out by rich for a terminal or a given width."""

    def __init__(self, stream: TextIO, width: int | None) -> None:
        from rich.console import Console

        self.console = Console(
            file=stream,
            width=width,
            no_color=bool(os.environ.get("NO_COLOR")),
            highlight=False,
            soft_wrap=False,
            force_jupyter=False,
        )

    @property
    def width(self) -> int:
        return self.console.width

    def print(self, item: Table | str) -> None:
        from rich.text import Text

        self.console.print(to_rich(item) if isinstance(item, Table) else Text(item))

    def clear(self) -> None:
        self.console.clear()


def to_rich(table: Table) -> Any:
    """The rich table drawn for ``table``: no outer edge, a rule under the headers."""
    from rich import box
    from rich.table import Table as RichTable
    from rich.text import Text

    drawn = RichTable(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        title=None if table.title is None else Text(table.title),
        title_justify="left",
        pad_edge=False,
    )
    for i, name in enumerate(table.columns):
        drawn.add_column(Text(name), overflow="fold", no_wrap=i == 0 and table.keep_first_whole)
    for row in table.rows:
        drawn.add_row(*(Text(cell) for cell in row))
    return drawn


def plain_lines(table: Table) -> list[str]:
    """The lines rich draws for ``table`` at unlimited width (see :func:`to_rich`)."""
    head = [c.translate(_ONE_LINE) for c in table.columns]
    body = [[c.translate(_ONE_LINE) for c in row] for row in table.rows]
    widths = [max(map(cell_width, column)) for column in zip(head, *body, strict=True)]
    total = sum(widths) + len(_GAP) * (len(widths) - 1)
    lines = [] if not table.title else [_pad(table.title.translate(_ONE_LINE), total)]
    lines.append(_row_line(head, widths))
    lines.append("\u2500" * total)
    lines.extend(_row_line(row, widths) for row in body)
    return lines


def _row_line(cells: list[str], widths: list[int]) -> str:
    return _GAP.join(_pad(cell, width) for cell, width in zip(cells, widths, strict=True))


def _pad(text: str, width: int) -> str:
    return text + " " * (width - cell_width(text))


def _clean(text: str) -> str:
    return text.translate(_STRIP).expandtabs(8)


def cell_width(text: str) -> int:
    """Terminal cells taken by ``text``: two for wide East Asian characters, none for
    combining marks. What rich.cells.cell_len counts for printable text; kept here so a
    pipe does not import rich."""
    if text.isascii():
        return len(text)
    return sum(_char_width(ch) for ch in text)


def _char_width(ch: str) -> int:
    if unicodedata.combining(ch) or ch == "\u200b":
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
