"""haienv's settings, one table: name, type, default and help of each.

Two classes are made from :data:`SETTINGS`, so a setting is defined once:

* :class:`haienv.config.HaiEnvConfig`, a traitlets ``Configurable`` (one trait per row), for
  Jupyter config files (``c.HaiEnvConfig.x``) and the Python API;
* :class:`Settings`, the same attributes without traitlets, for the command line: its only
  config file is the JSON site file, which needs no traitlets to read (issue #15: importing
  traitlets costs ~15 ms of a command meant to answer in tens of milliseconds).

Precedence for each setting: an explicit value (constructor, config file) > the environment
variable named in its help > the built-in default. The derived paths (:class:`Derived`)
are shared by both classes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .errors import InvalidInput
from .locations import (
    BASE_DIR_NAME,
    USERS_DIR_NAME,
    Locations,
    default_root,
    default_user,
    default_uv,
    env_setting,
    read_site_section,
    site_config_path,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from collections.abc import Callable


class Setting:
    """One row: ``kind`` is str, bool, int or list (of str); ``default`` a value, or a
    function of the settings object (called on first read, like a traitlets default)."""

    __slots__ = ("default", "help", "kind", "name")

    def __init__(self, name: str, kind: type, default: object, help: str) -> None:
        self.name, self.kind, self.default, self.help = name, kind, default, help

    def initial(self, owner: object) -> object:
        """The default value for ``owner`` (a fresh list for a list setting)."""
        value = self.default(owner) if callable(self.default) else self.default
        return list(value) if isinstance(value, list) else value

    def check(self, value: object, where: str) -> object:
        """``value`` if it has this setting's type, else InvalidInput naming ``where``."""
        kind = self.kind
        if kind is list:
            ok = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
        elif kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, kind)
        if not ok:
            what = {str: "text", bool: "true or false", int: "a whole number"}.get(
                kind, "a list of text"
            )
            raise InvalidInput(f"{where}: {self.name} must be {what}, not {value!r}")
        return list(value) if kind is list else value


def _from_env(var: str) -> Callable[[object], str]:
    return lambda _owner: env_setting(var) or ""


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "root",
        str,
        lambda _owner: default_root(),
        "Folder holding everything (on a cluster: the shared file system). "
        "Default: $HAIENV_ROOT, else ~/.haienv.",
    ),
    Setting(
        "base_dir_name",
        str,
        BASE_DIR_NAME,
        "Folder under root with the shared base environments (read-only for users).",
    ),
    Setting("users_dir_name", str, USERS_DIR_NAME, "Folder under root with one folder per user."),
    Setting(
        "user",
        str,
        lambda _owner: default_user(),
        "Whose environments to use. Default: $HAIENV_USER, else $JUPYTERHUB_USER, "
        "else the login name.",
    ),
    Setting(
        "uv_cache_dir",
        str,
        lambda owner: env_setting("HAIENV_UV_CACHE_DIR") or os.path.join(owner.root, "cache", "uv"),
        "The uv cache shared by all users (keep it on the same file system as the envs so "
        "packages are hardlinked). Default: $HAIENV_UV_CACHE_DIR, else <root>/cache/uv.",
    ),
    Setting(
        "default_python",
        str,
        _from_env("HAIENV_DEFAULT_PYTHON"),
        "Python for envs that do not extend a base, as uv understands it ('3.11', a path). "
        "Default: $HAIENV_DEFAULT_PYTHON, else the interpreter running haienv.",
    ),
    Setting(
        "default_base",
        str,
        _from_env("HAIENV_DEFAULT_BASE"),
        "Base env that new envs extend unless --no_extend/--base is given; '' means envs "
        "extend nothing by default. Default: $HAIENV_DEFAULT_BASE, else ''.",
    ),
    Setting(
        "uv",
        str,
        lambda _owner: default_uv(),
        "uv executable. Default: the uv shipped with the 'uv' Python package, else 'uv'.",
    ),
    Setting(
        "find_links",
        list,
        [],
        "Extra folders/URLs with wheels (uv --find-links), added to each build.",
    ),
    Setting("index_url", str, "", "Package index replacing the default one ('' = uv's)."),
    Setting("extra_index_urls", list, [], "Extra package indexes for every build."),
    Setting("no_index", bool, False, "Ignore package indexes (only find_links)."),
    Setting(
        "link_mode",
        str,
        "hardlink",
        "How uv puts cached files into envs (hardlink, copy, clone, symlink).",
    ),
    Setting(
        "allow_python_downloads",
        bool,
        False,
        "Let uv download a Python it cannot find (else UV_PYTHON_DOWNLOADS=never, unless "
        "that variable is set).",
    ),
    Setting("import_check", bool, True, "Import the requested packages before marking ready."),
    Setting("build_timeout", int, 3600, "Seconds one uv/conda step may take."),
)

BY_NAME = {s.name: s for s in SETTINGS}


class Derived:
    """The paths derived from the settings (no I/O); shared by both settings classes."""

    root: str
    user: str
    base_dir_name: str
    users_dir_name: str
    default_python: str

    @property
    def locations(self) -> Locations:
        return Locations(self.root, self.user, self.base_dir_name, self.users_dir_name)

    @property
    def root_path(self) -> Path:
        return self.locations.root_path

    @property
    def base_dir(self) -> Path:
        return self.locations.base_dir

    @property
    def user_dir(self) -> Path:
        return self.locations.user_dir

    @property
    def python_request(self) -> str:
        """What to ask uv for when no --python is given."""
        return self.default_python or sys.executable


class Settings(Derived):
    """The settings as plain attributes (no traitlets): each is its explicit value, else its
    default, computed on first read as :class:`haienv.config.HaiEnvConfig` does."""

    def __init__(self, **values: object) -> None:
        for name, value in values.items():
            if name not in BY_NAME:
                raise TypeError(f"unknown haienv setting {name!r}")
            setattr(self, name, BY_NAME[name].check(value, "haienv setting"))

    def __getattr__(self, name: str) -> object:
        setting = BY_NAME.get(name)
        if setting is None:
            raise AttributeError(f"{type(self).__name__!r} has no setting {name!r}")
        value = setting.initial(self)
        setattr(self, name, value)
        return value


def site_settings(root: str | None = None) -> dict[str, object]:
    """The site file's settings (checked), ``{}`` when there is none; without ``root``
    (the root is where the file lives, it cannot move itself)."""
    path = site_config_path(root)
    if path is None:
        return {}
    section = read_site_section(path)
    return {k: BY_NAME[k].check(v, str(path)) for k, v in section.items() if k in BY_NAME}


def load_settings(root: str | None = None) -> Settings:
    """What the command line uses: the site file's settings, then ``root`` if given."""
    values = site_settings(root)
    if root:
        values["root"] = root
    return Settings(**values)
