"""Where one user's environments live, resolved without traitlets.

The settings that say *where* -- ``root``, ``base_dir_name``, ``users_dir_name``, ``user``
-- and ``uv`` (the activation script exports it for the pip shim) have their defaults
here, and :data:`haienv.settings.SETTINGS` (so both settings classes) takes them from here.
:func:`site_locations` gives them as the command line reads them (the site file first).

Why not the traitlets Configurable: ``source haienv NAME`` needs only these, and must
answer in tens of milliseconds (issue #15); importing traitlets alone costs ~15 ms.
"""

from __future__ import annotations

import json
import os
import sys
from collections import namedtuple
from pathlib import Path

from .errors import InvalidInput

BASE_DIR_NAME = "base"
USERS_DIR_NAME = "users"
SITE_FILE_NAME = "haienv_config.json"


def env_setting(name: str) -> str | None:
    """An environment variable's value, None when unset or empty."""
    value = os.environ.get(name)
    return value if value else None


def default_root() -> str:
    return env_setting("HAIENV_ROOT") or str(Path("~/.haienv").expanduser())


def default_user() -> str:
    user = env_setting("HAIENV_USER") or env_setting("JUPYTERHUB_USER")
    if user:
        return user
    import getpass  # only for the login name (it imports termios)

    return getpass.getuser()


def default_uv() -> str:
    """The uv shipped with the 'uv' Python package, else 'uv' on PATH.

    In a venv that is ``<venv>/bin/uv``, the first place ``uv.find_uv_bin`` looks; it is
    taken without asking uv, whose answer costs ~4 ms of ``source haienv`` (sysconfig)."""
    if sys.prefix != sys.base_prefix:
        beside = os.path.join(sys.prefix, "bin", "uv")
        if os.path.isfile(beside):
            return beside
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except Exception:
        return "uv"


def site_config_path(root: str | None = None) -> Path | None:
    """The JSON site file the command line reads, if one exists: ``$HAIENV_CONFIG``, else
    ``<root>/haienv_config.json``."""
    explicit = env_setting("HAIENV_CONFIG")
    if explicit:
        return Path(explicit)
    candidate = Path(root or default_root()).expanduser() / SITE_FILE_NAME
    return candidate if candidate.is_file() else None


def read_site_section(path: Path) -> dict:
    """The ``HaiEnvConfig`` section of a site file (without ``root``: the root is where the
    file lives, it cannot move itself). InvalidInput when the file is not that shape."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read haienv config {path}: {exc}") from None
    section = data.get("HaiEnvConfig", {}) if isinstance(data, dict) else None
    if not isinstance(section, dict):
        raise InvalidInput(f"{path}: expected {{'HaiEnvConfig': {{...}}}}")
    section.pop("root", None)
    return section


_LocationFields = namedtuple(
    "_LocationFields",
    ("root", "user", "base_dir_name", "users_dir_name"),
    defaults=(BASE_DIR_NAME, USERS_DIR_NAME),
)


class Locations(_LocationFields):
    """The folders of one user's environments (what :class:`haienv.store.Store` needs):
    ``root``, ``user``, ``base_dir_name``, ``users_dir_name``. A named tuple, not a
    dataclass: ``source haienv NAME`` must not import dataclasses (and inspect, ~6 ms)."""

    __slots__ = ()

    @property
    def root_path(self) -> Path:
        return Path(self.root).expanduser()

    @property
    def base_dir(self) -> Path:
        return self.root_path / self.base_dir_name

    @property
    def user_dir(self) -> Path:
        from .names import check_user

        return self.root_path / self.users_dir_name / check_user(self.user)


def default_locations() -> Locations:
    """From the environment and the defaults (what ``HaiEnvConfig()`` says)."""
    return Locations(root=default_root(), user=default_user())


def site_locations(root: str | None = None) -> tuple[Locations, str]:
    """The locations and the uv executable the command line uses: the site file's values,
    else the environment's, else the defaults (``root`` given: that root); read as
    :func:`haienv.settings.load_settings` reads them (it is their one home)."""
    from .settings import load_settings

    settings = load_settings(root)
    return settings.locations, settings.uv
