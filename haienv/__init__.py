"""haienv: named Python environments on a shared file system, built with uv.

Public, stable API (documented in docs/haienv.md)::

    list_envs(config=None, *, include_bases=True) -> list[EnvInfo]   # metadata reads only
    change_token(config=None) -> str                                  # a few stat() calls
    get_env(name, config=None) -> EnvInfo                             # user env, else base
    env_vars(name, *, config=None, path=None) -> dict[str, str]       # PATH/VIRTUAL_ENV...
    set_env(name, *, config=None) -> EnvInfo                          # import from the env
    create_env(name, *, config=None, progress=None, **options) -> EnvInfo
    remove_env(name, *, config=None, shared=False, force=False) -> None
    export_lock(name, *, config=None) -> str
    push_env(name, to, *, config=None) -> EnvInfo

``import haienv`` stays cheap (no uv, no YAML, no subprocess, no traitlets): the listing
functions are called on every Jupyter kernel-spec request, and ``source haienv NAME``
imports this package before :mod:`haienv.activate`. The names of :mod:`.activate`,
:mod:`.config` and :mod:`.store` are imported on first use (PEP 562 ``__getattr__``).
"""

from __future__ import annotations

import importlib

from .errors import (
    BuildFailed,
    EnvBusy,
    EnvExists,
    EnvNotFound,
    HaiEnvError,
    InvalidInput,
    Unsupported,
)
from .names import NAME_RULE, check_name, is_valid_name

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from .activate import env_vars, set_env
    from .config import HaiEnvConfig, load_config
    from .store import CREATING, FAILED, READY, EnvInfo

#: public names imported when first read, and their module
_DEFERRED = {
    "env_vars": ".activate",
    "set_env": ".activate",
    "HaiEnvConfig": ".config",
    "load_config": ".config",
    **dict.fromkeys(("CREATING", "FAILED", "READY", "EnvInfo", "Store"), ".store"),
}


def __getattr__(name: str) -> object:
    module = _DEFERRED.get(name)
    if module is None:
        return _submodule(name)
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def _submodule(name: str) -> object:
    """``haienv.activate`` and the like, imported on first use as an eager package would
    have: AttributeError when there is no such module."""
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise  # the module exists; something it imports does not
        raise AttributeError(f"module 'haienv' has no attribute {name!r}") from None


__all__ = [
    "CREATING",
    "FAILED",
    "NAME_RULE",
    "READY",
    "BuildFailed",
    "EnvBusy",
    "EnvExists",
    "EnvInfo",
    "EnvNotFound",
    "HaiEnvConfig",
    "HaiEnvError",
    "InvalidInput",
    "Unsupported",
    "change_token",
    "check_name",
    "create_env",
    "env_vars",
    "export_lock",
    "get_env",
    "is_valid_name",
    "list_envs",
    "load_config",
    "push_env",
    "remove_env",
    "set_env",
]


def list_envs(config: HaiEnvConfig | None = None, *, include_bases: bool = True) -> list[EnvInfo]:
    """The user's envs, then the shared bases (``is_base=True``), any status, read from the
    metadata files only. Filter ``info.ready`` for usable ones."""
    from .store import Store

    return Store(config).list(include_bases=include_bases)


def change_token(config: HaiEnvConfig | None = None) -> str:
    """An opaque string that changes whenever ``list_envs`` may return something else."""
    from .store import Store

    return Store(config).change_token()


def get_env(name: str, config: HaiEnvConfig | None = None) -> EnvInfo:
    """The user's env ``name``, else the shared base ``name``; raises :class:`EnvNotFound`."""
    from .store import Store

    return Store(config).find(name)


def create_env(name: str, *, config: HaiEnvConfig | None = None, progress=None, **options):
    """Create env ``name`` (options: the fields of :class:`haienv.create.CreateRequest`)."""
    from .create import create_env as _create

    return _create(name, config=config, progress=progress, **options)


def remove_env(
    name: str, *, config: HaiEnvConfig | None = None, shared: bool = False, force: bool = False
) -> None:
    """Remove env ``name`` (``shared=True``: a shared base)."""
    from .create import remove_env as _remove

    _remove(name, config=config, shared=shared, force=force)


def export_lock(name: str, *, config: HaiEnvConfig | None = None) -> str:
    """The lock text of a ready env (exact versions of its own packages)."""
    from .lockfile import export_text
    from .store import Store

    store = Store(config)
    env = store.find(name)
    if not env.ready:
        raise InvalidInput(f"{name!r} is {env.status}; only ready envs can be exported")
    base = store.find(env.extends, shared=True) if env.extends else None
    return export_text(env, base)


def push_env(name: str, to: str, *, config: HaiEnvConfig | None = None) -> EnvInfo:
    """Copy a standalone ready env to another haienv root (see :mod:`haienv.push`)."""
    from .push import push_env as _push

    return _push(name, to, config=config)
