"""Configuration of haienv: one traitlets ``Configurable``, :class:`HaiEnvConfig`.

It owns where things live (root, shared base folder, the user's folder, the shared uv cache)
and the build defaults. Nothing else in haienv keeps state between calls.

Precedence for each trait: an explicit value (constructor or ``c.HaiEnvConfig.x`` in a
Jupyter config file) > the environment variable named in its help > the built-in default.
The command line also reads an optional JSON site file, ``$HAIENV_CONFIG`` or
``<root>/haienv_config.json`` (``{"HaiEnvConfig": {"default_base": "torch"}}``), so a cluster
can set its default base once for everyone.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from traitlets import Bool, Int, List, Unicode, default
from traitlets.config import Config, Configurable

from .locations import (
    BASE_DIR_NAME,
    USERS_DIR_NAME,
    Locations,
    default_root,
    default_user,
    default_uv,
    read_site_section,
    site_config_path,
)
from .locations import env_setting as _env

__all__ = ["HaiEnvConfig", "load_config", "site_config_path"]


class HaiEnvConfig(Configurable):
    """Where haienv keeps environments and how it builds them."""

    root = Unicode(
        help="Folder holding everything (on a cluster: the shared file system). "
        "Default: $HAIENV_ROOT, else ~/.haienv."
    ).tag(config=True)

    @default("root")
    def _default_root(self) -> str:
        return default_root()

    base_dir_name = Unicode(
        BASE_DIR_NAME,
        help="Folder under root with the shared base environments (read-only for users).",
    ).tag(config=True)

    users_dir_name = Unicode(
        USERS_DIR_NAME, help="Folder under root with one folder per user."
    ).tag(config=True)

    user = Unicode(
        help="Whose environments to use. Default: $HAIENV_USER, else $JUPYTERHUB_USER, "
        "else the login name."
    ).tag(config=True)

    @default("user")
    def _default_user(self) -> str:
        return default_user()

    uv_cache_dir = Unicode(
        help="The uv cache shared by all users (keep it on the same file system as the envs so "
        "packages are hardlinked). Default: $HAIENV_UV_CACHE_DIR, else <root>/cache/uv."
    ).tag(config=True)

    @default("uv_cache_dir")
    def _default_cache(self) -> str:
        return _env("HAIENV_UV_CACHE_DIR") or os.path.join(self.root, "cache", "uv")

    default_python = Unicode(
        help="Python for envs that do not extend a base, as uv understands it ('3.11', a path). "
        "Default: $HAIENV_DEFAULT_PYTHON, else the interpreter running haienv."
    ).tag(config=True)

    @default("default_python")
    def _default_python(self) -> str:
        return _env("HAIENV_DEFAULT_PYTHON") or ""

    default_base = Unicode(
        help="Base env that new envs extend unless --no_extend/--base is given; '' means envs "
        "extend nothing by default. Default: $HAIENV_DEFAULT_BASE, else ''."
    ).tag(config=True)

    @default("default_base")
    def _default_base(self) -> str:
        return _env("HAIENV_DEFAULT_BASE") or ""

    uv = Unicode(
        help="uv executable. Default: the uv shipped with the 'uv' Python package, else 'uv'."
    ).tag(config=True)

    @default("uv")
    def _default_uv(self) -> str:
        return default_uv()

    find_links = List(
        Unicode(), help="Extra folders/URLs with wheels (uv --find-links), added to each build."
    ).tag(config=True)
    index_url = Unicode("", help="Package index replacing the default one ('' = uv's).").tag(
        config=True
    )
    extra_index_urls = List(Unicode(), help="Extra package indexes for every build.").tag(
        config=True
    )
    no_index = Bool(False, help="Ignore package indexes (only find_links).").tag(config=True)
    link_mode = Unicode(
        "hardlink", help="How uv puts cached files into envs (hardlink, copy, clone, symlink)."
    ).tag(config=True)
    allow_python_downloads = Bool(
        False,
        help="Let uv download a Python it cannot find (else UV_PYTHON_DOWNLOADS=never, unless "
        "that variable is set).",
    ).tag(config=True)
    import_check = Bool(True, help="Import the requested packages before marking ready.").tag(
        config=True
    )
    build_timeout = Int(3600, help="Seconds one uv/conda step may take.").tag(config=True)

    # -- derived paths (no I/O) ---------------------------------------------------------
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


def load_config(**overrides: object) -> HaiEnvConfig:
    """A :class:`HaiEnvConfig` from the site file (if any), then ``overrides`` on top."""
    root = overrides.get("root")
    path = site_config_path(str(root) if root else None)
    cfg = Config()
    if path is not None:
        cfg.HaiEnvConfig = Config(read_site_section(path))
    conf = HaiEnvConfig(config=cfg)
    for key, value in overrides.items():
        if value is not None:
            setattr(conf, key, value)
    return conf
