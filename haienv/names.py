"""The name rule for environments (one place), plus parsing of ``key=value`` labels.

Names follow DCE AI Lab: 2-63 characters, lowercase letters, digits and '-', starting and
ending with a letter or digit. Because '/', '.' and '..' can never match, no name reaches
outside its folder. User names (folder of a user's envs) get a looser, path-safe check.
"""

from __future__ import annotations

import re

from .errors import InvalidInput

NAME_RULE = (
    "2-63 characters: lowercase letters, digits and '-', starting and ending with a letter or digit"
)
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,61}[a-z0-9]")

_USER_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,127}")

#: label patterns, compiled on first use (re caches them): a create without labels does
#: not compile them (start-up)
_LABEL_KEY_PATTERN = r"[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?"
_LABEL_VALUE_PATTERN = r"([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?"


def is_valid_name(name: object) -> bool:
    """True when ``name`` follows the environment name rule."""
    return isinstance(name, str) and _NAME_RE.fullmatch(name) is not None


def check_name(name: object, what: str = "environment") -> str:
    """Return ``name`` if valid, else raise :class:`InvalidInput` stating the rule."""
    if not is_valid_name(name):
        raise InvalidInput(f"invalid {what} name {name!r}: names are {NAME_RULE}")
    return name  # type: ignore[return-value]


def check_user(user: object) -> str:
    """Return a user name that is safe as one folder name (no '/', not '.' or '..')."""
    if not isinstance(user, str) or _USER_RE.fullmatch(user) is None:
        raise InvalidInput(
            f"invalid user name {user!r}: up to 128 characters of letters, digits and '_.@+-', "
            "not starting with '.', '-', '+' or '@'"
        )
    return user


def parse_pairs(items: list[str] | tuple[str, ...], what: str) -> dict[str, str]:
    """Parse ``k=v`` (or ``k:v``, the form HAI's env-management document shows) strings.
    Labels (``what='label'``) follow Kubernetes-like rules; annotations accept any value
    text (split at the first ``=``, else the first ``:``)."""
    out: dict[str, str] = {}
    for item in items:
        sep_char = "=" if "=" in item else ":"
        key, sep, value = item.partition(sep_char)
        key, value = key.strip(), value.strip() if sep_char == ":" else value
        if not sep or not key:
            raise InvalidInput(f"invalid {what} {item!r}: expected KEY=VALUE or KEY:VALUE")
        if re.fullmatch(_LABEL_KEY_PATTERN, key) is None:
            raise InvalidInput(
                f"invalid {what} key {key!r}: 1-63 characters of letters, digits and '._/-', "
                "starting and ending with a letter or digit"
            )
        if what == "label" and re.fullmatch(_LABEL_VALUE_PATTERN, value) is None:
            raise InvalidInput(
                f"invalid label value {value!r} for {key!r}: up to 63 characters of letters, "
                "digits and '._-', starting and ending with a letter or digit (use --annotation "
                "for free text)"
            )
        out[key] = value
    return out
