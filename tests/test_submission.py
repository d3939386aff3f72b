"""hai-cli's submission without click (:mod:`hai_client.submission`): its option parser
reads what click reads, to the same values, and leaves everything else to click (against a
live scheduler it prints what the click app prints: tests/test_cli_startup.py)."""

from __future__ import annotations

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hai_client.cli import _cluster_options_parser, list_
from hai_client.listing import LIST_OPTIONS, fast_list
from hai_client.options import parse
from hai_client.submission import CLUSTER_OPTIONS, fast_submission, parse_options

FLAGS = [flag for opt in CLUSTER_OPTIONS for flag in opt.flags]
VALUES = ["1", "2", "0", "-1", "x", "", "HIGH", " 3", "+4", "2_0", "--", "-n", "a=b", "日本"]
#: tokens as people type them, and as they mistype them
TOKEN = st.one_of(
    st.sampled_from(FLAGS),
    st.sampled_from(VALUES),
    st.builds(lambda f, v: f"{f}={v}", st.sampled_from(FLAGS), st.sampled_from(VALUES)),
    st.builds(
        lambda f, v: f + v, st.sampled_from(["-n", "-p", "-g", "-f"]), st.sampled_from(VALUES)
    ),
    st.sampled_from(["--bogus", "-x", "-fn", "--help", "-h", "--nodes=", "--json=1"]),
)


def click_reads(args: list[str], command: click.Command = _cluster_options_parser) -> dict | None:
    """What hai-cli's click parser makes of the options, or None where it refuses them."""
    try:
        ctx = command.make_context("hai-cli ...", list(args))
    except (click.exceptions.Exit, click.UsageError, click.BadParameter):
        return None
    return dict(ctx.params)


@settings(derandomize=True, max_examples=1500, database=None, deadline=None)
@given(args=st.lists(TOKEN, max_size=6))
def test_the_fast_parser_reads_what_click_reads_or_leaves_it_to_click(args: list[str]) -> None:
    fast = parse_options(args)
    if fast is not None:
        assert fast == click_reads(args), args


LIST_FLAGS = [flag for opt in LIST_OPTIONS for flag in opt.flags]
LIST_TOKEN = st.one_of(
    st.sampled_from(LIST_FLAGS),
    st.sampled_from([*VALUES, "running,finished", "a*"]),
    st.builds(lambda f, v: f"{f}={v}", st.sampled_from(LIST_FLAGS), st.sampled_from(VALUES)),
    st.sampled_from(["--bogus", "-h", "--help", "extra"]),
)


@settings(derandomize=True, max_examples=800, database=None, deadline=None)
@given(args=st.lists(LIST_TOKEN, max_size=6))
def test_the_fast_list_reads_what_click_reads_or_leaves_it_to_click(args: list[str]) -> None:
    fast = parse(args, LIST_OPTIONS)
    if fast is not None:
        assert fast[0] == click_reads(args, list_), args
    assert (fast_list(args) is None) == (fast is None)


def test_plain_list_options_are_taken_fast() -> None:
    args = ["--page", "2", "--page-size=5", "--state", "running,finished", "--name", "a*"]
    assert parse(args, LIST_OPTIONS)[0] == click_reads(args, list_) is not None


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["-n", "2"],
        ["-n2", "--name", "sweep-1", "-p", "HIGH", "-g", "a100", "--gpus=4", "--json"],
        ["--nodes=3", "--nodes", "1", "--env", "torch", "--priority=LOW"],
    ],
)
def test_the_documented_forms_are_taken_fast(args: list[str]) -> None:
    assert parse_options(args) == click_reads(args) is not None


@pytest.mark.parametrize(
    "argv",
    [
        ["python", "x.py", "--", "--follow"],  # follows the log: the click app does that
        ["python", "x.py", "--", "-n", "0"],  # click says why not
        ["python", "x.py", "--", "--bogus"],
        ["python", "x.py", "++", "-n", "1"],  # runs here
        ["python", "x.py"],
        ["python", "--help", "--"],
        ["list", "--", "-n", "1"],
    ],
)
def test_everything_else_is_left_to_the_click_app(argv: list[str]) -> None:
    assert fast_submission(argv) is None
