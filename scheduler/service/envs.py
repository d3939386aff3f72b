"""Which haienv a chain's ranks run in: the one place the scheduler looks environments up.

Used at submit time (a chain naming a missing or unready env is refused with the reason)
and at start time (the rank gets the env's interpreter and activation variables).
"""

from __future__ import annotations

from typing import Any

from traitlets.config import Configurable

import haienv


def env_config(owner: str, parent: Any = None) -> haienv.HaiEnvConfig:
    """haienv's configuration for ``owner`` (``c.HaiEnvConfig.root`` etc. apply)."""
    if isinstance(parent, Configurable):
        return haienv.HaiEnvConfig(parent=parent, user=owner)
    return haienv.HaiEnvConfig(user=owner)


def _ready_env(name: str, cfg: haienv.HaiEnvConfig) -> tuple[haienv.EnvInfo | None, str]:
    """The env if ``cfg.user`` can run in it, else None and why not, in one sentence."""
    try:
        info = haienv.get_env(name, cfg)
    except haienv.HaiEnvError as exc:
        return None, str(exc)
    if not info.ready:
        why = f": {info.reason}" if info.reason else ""
        return None, f"haienv {name!r} is {info.status}{why}"
    return info, ""


def check_env(name: str, owner: str, parent: Any = None) -> str | None:
    """None if ``owner`` can run in env ``name``; otherwise why not, in one sentence."""
    return _ready_env(name, env_config(owner, parent))[1] or None


def activation(name: str, owner: str, parent: Any = None) -> tuple[str, dict[str, str]]:
    """The interpreter and environment variables of ``owner``'s ready env ``name``."""
    cfg = env_config(owner, parent)
    info, problem = _ready_env(name, cfg)
    if info is None:
        raise RuntimeError(problem)
    return info.python, haienv.env_vars(name, config=cfg)
