"""The ``hai-cli`` console script: a submission in the documented form
(``hai-cli python x.py [args] -- [options]``) goes straight to the scheduler
(:func:`hai_client.submission.fast_submission`, without loading click); every other
command line, and any submission it does not take, goes to the click app
(:mod:`hai_client.cli`), which gives the same answers and the errors in its own words."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    from hai_client.kinds import KINDS

    if args and args[0] in KINDS:  # a script kind: maybe a submission
        from hai_client.submission import fast_submission

        code = fast_submission(args)
        if code is not None:
            sys.exit(code)
    from hai_client.cli import main as click_main

    click_main(args)
