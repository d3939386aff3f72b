"""The query parameters of usage reports: their shapes (regular expressions, shared with
the OpenAPI document) and their meaning (times resolved against "now", the limits).

A value of the wrong shape is a ``ValueError`` (the API answers 400); a value of the right
shape that means nothing acceptable (the 31st of February, a window over a year) is a
:class:`Unacceptable` (422).
"""

from __future__ import annotations

import datetime as dt
import re

from scheduler.model.enums import Priority

#: an ISO date or date-time (UTC unless an offset is given), or "N days / hours ago"
TIME_PATTERN = (
    r"^([0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?"
    r"|[0-9]{1,4}[dh])$"
)
TIME_MAX_LEN = 40
BY_DIMENSIONS = ("user", "group", "node_group", "priority", "day", "profile", "kind")
BY_PATTERN = "^({0})(,({0}))*$".format("|".join(BY_DIMENSIONS))
BY_MAX_LEN = 80
PRIORITY_PATTERN = "^({}|[0-6])$".format("|".join(p.name for p in Priority))
KINDS = ("training", "devserver")
#: the longest window one report covers
MAX_WINDOW = dt.timedelta(days=366)
#: the times a report may name
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
DEFAULT_WINDOW = dt.timedelta(days=30)


class Unacceptable(ValueError):
    """Well-formed but not acceptable (the API answers 422)."""


def _shape(raw: str, pattern: str, max_len: int, what: str) -> str:
    if len(raw) > max_len:
        raise ValueError(f"is {len(raw)} characters long; the most is {max_len}")
    if not re.fullmatch(pattern, raw):
        raise ValueError(f"must be {what}, not {raw[:60]!r}")
    return raw


def time_shape(raw: str) -> str:
    return _shape(raw, TIME_PATTERN, TIME_MAX_LEN, "a date, a date-time or Nd/Nh (days/hours ago)")


def by_shape(raw: str) -> tuple[str, ...]:
    _shape(raw, BY_PATTERN, BY_MAX_LEN, f"one or more of {', '.join(BY_DIMENSIONS)}, by commas")
    return tuple(dict.fromkeys(raw.split(",")))


def priority_shape(raw: str) -> int:
    _shape(raw, PRIORITY_PATTERN, 16, f"one of {Priority.names()} (or 0-6)")
    return int(Priority.parse(int(raw) if raw.isdigit() else raw))


def kind_shape(raw: str) -> str:
    if raw not in KINDS:
        raise ValueError(f"must be one of {', '.join(KINDS)}, not {raw[:60]!r}")
    return raw


def resolve_time(raw: str, now: dt.datetime) -> dt.datetime:
    """A shaped time as an aware UTC datetime (raises :class:`Unacceptable`)."""
    if raw[-1] in "dh" and raw[:-1].isdigit():
        unit = dt.timedelta(days=1) if raw[-1] == "d" else dt.timedelta(hours=1)
        value = now - int(raw[:-1]) * unit
    else:
        try:
            value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError as exc:
            raise Unacceptable(f"is not a real date or time ({exc})") from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
    if not EARLIEST <= value < LATEST:
        raise Unacceptable(f"must lie between {EARLIEST.year} and {LATEST.year}")
    return value.astimezone(dt.UTC)


def resolve_window(
    since: str | None, until: str | None, now: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """(since, until) from the parameters; defaults: the last 30 days up to now. Raises
    :class:`Unacceptable` with the parameter's name as ``args[1]``."""
    end = now
    if until is not None:
        try:
            end = resolve_time(until, now)
        except Unacceptable as exc:
            raise Unacceptable(str(exc), "until") from None
    start = end - DEFAULT_WINDOW
    if since is not None:
        try:
            start = resolve_time(since, now)
        except Unacceptable as exc:
            raise Unacceptable(str(exc), "since") from None
    if start >= end:
        raise Unacceptable("must be before until (or now)", "since")
    if end - start > MAX_WINDOW:
        raise Unacceptable(f"the window is at most {MAX_WINDOW.days} days", "since")
    return start, end
