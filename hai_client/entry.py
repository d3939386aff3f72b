"""The ``hai-cli`` console script.

The commands typed most run without loading click when their command line is in a plain
form: a submission (``hai-cli python x.py [args] -- [options]``,
:func:`hai_client.submission.fast_submission`) and ``hai-cli list [options]``
(:func:`hai_client.listing.fast_list`). Every other command line, and any of those whose
options :mod:`hai_client.options` does not take as they are, goes to the click app
(:mod:`hai_client.cli`), which gives the same answers and the errors in its own words.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    code = run_fast(args)
    if code is not None:
        sys.exit(code)
    from hai_client.cli import main as click_main

    click_main(args)


def run_fast(args: Sequence[str]) -> int | None:
    """Run ``args`` without click when a fast command takes them: its exit code (an error
    is one ``Error: ...`` line and 1, as the click app says it); None otherwise."""
    command = _fast_command(args)
    if command is None:
        return None
    from hai_client.errors import HaiError

    try:
        command()
    except HaiError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _fast_command(args: Sequence[str]) -> Callable[[], None] | None:
    if not args:
        return None
    if args[0] == "list":
        from hai_client.listing import fast_list

        return fast_list(args[1:])
    from hai_client.kinds import KINDS

    if args[0] in KINDS:
        from hai_client.submission import fast_submission

        return fast_submission(args)
    return None
