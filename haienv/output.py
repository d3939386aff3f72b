"""Where haienv's command line writes its messages (stderr): rich on a terminal, plain text
when piped or redirected. The rule is :func:`hai_client.tables.output_width`'s (piped and no
``$COLUMNS``: plain); plain text imports no rich (issue #15: rich costs ~25 ms of start-up).
"""

from __future__ import annotations

import contextlib
import functools
import sys

from hai_client.tables import PIPE_WIDTH, PlainOutput, output_width

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from rich.console import Console


@functools.cache
def err_console() -> Console:
    """The rich console on stderr (a terminal, or a fixed $COLUMNS)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True, width=output_width(sys.stderr))


def escape(text: str) -> str:
    """rich's markup escape, imported when first needed."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


class Messages:
    """One line per message on stderr; styled by rich only when ``rich``."""

    def __init__(self, rich: bool) -> None:
        self.rich = rich

    def say(self, text: str, *, lead: str = "", style: str = "") -> None:
        """``lead`` (in ``style`` when styled) followed by ``text``, as one message."""
        if not self.rich:
            PlainOutput(sys.stderr).print(lead + text)
        elif style:
            err_console().print(f"[{style}]{escape(lead)}[/]{escape(text)}")
        else:
            err_console().print(escape(lead + text))

    def error(self, text: str) -> None:
        self.say(text, lead="error: ", style="bold red")

    @contextlib.contextmanager
    def progress(self) -> Iterator[Callable[[str], None]]:
        """A callback for build steps: a spinner on a terminal, else a line ``... step``."""
        if not (self.rich and err_console().is_terminal):
            yield lambda step: self.say(f"... {step}")
            return
        with err_console().status("starting...") as status:
            yield lambda step: status.update(escape(step) + "...")


def messages() -> Messages:
    """The messages of this process (rich when stderr is a terminal or $COLUMNS is set)."""
    return Messages(rich=output_width(sys.stderr) != PIPE_WIDTH)
