"""Configuration of haienv for Jupyter and the Python API: :class:`HaiEnvConfig`, a traitlets
``Configurable`` with one trait per row of :data:`haienv.settings.SETTINGS` (where each
setting's type, default, environment variable and help live).

Nothing else in haienv keeps state between calls. Precedence for each trait: an explicit
value (constructor or ``c.HaiEnvConfig.x`` in a Jupyter config file) > the environment
variable named in its help > the built-in default. :func:`load_config` also reads the JSON
site file, ``$HAIENV_CONFIG`` or ``<root>/haienv_config.json``
(``{"HaiEnvConfig": {"default_base": "torch"}}``), so a cluster can set its default base
once for everyone; the command line reads it without traitlets
(:func:`haienv.settings.load_settings`).
"""

from __future__ import annotations

from traitlets import Bool, Int, List, TraitType, Unicode, default
from traitlets.config import Config, Configurable

from .locations import read_site_section, site_config_path
from .settings import SETTINGS, Derived, Setting

__all__ = ["HaiEnvConfig", "load_config", "site_config_path"]

_TRAITS = {str: Unicode, bool: Bool, int: Int}


def _trait(setting: Setting) -> TraitType:
    """The trait of one setting (a static default given here, a computed one by
    :func:`_defaults`)."""
    static = {} if callable(setting.default) else {"default_value": setting.default}
    if setting.kind is list:
        return List(Unicode(), help=setting.help, **static).tag(config=True)
    return _TRAITS[setting.kind](help=setting.help, **static).tag(config=True)


def _defaults() -> dict[str, object]:
    """``_default_<name>`` handlers for the settings whose default is computed."""
    return {
        f"_default_{s.name}": default(s.name)(lambda self, s=s: s.initial(self))
        for s in SETTINGS
        if callable(s.default)
    }


class HaiEnvConfig(Derived, Configurable):
    """Where haienv keeps environments and how it builds them."""

    # one trait per setting, and the computed defaults (the table is their one home)
    locals().update({s.name: _trait(s) for s in SETTINGS})
    locals().update(_defaults())


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
