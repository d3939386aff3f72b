"""Entering an environment: from Python (``set_env``), for a child process (``env_vars``)
and from bash (``shell_activation``, used by ``source haienv NAME``).

All three agree: the env's ``bin`` first on PATH, then haienv's ``pip`` shim (``shim/``:
``pip install x`` installs into the env, which has no pip of its own), then its base's
``bin`` (for an extending env); ``VIRTUAL_ENV`` set to the env, ``PYTHONHOME`` unset.
"""

from __future__ import annotations

import importlib
import os
import shlex
import site
import sys
import warnings
from pathlib import Path

from hai_client.current_env import COMPAT_ENV_VAR, ENV_VAR

from .errors import HaiEnvError
from .locations import Locations, site_locations
from .store import EnvInfo, Store

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from .config import HaiEnvConfig

_PREFIX_VAR = "HAIENV_PATH_PREFIX"
#: ``pip`` and ``pip3`` that install into $VIRTUAL_ENV (with its python's pip, else uv)
SHIM_DIR = str(Path(__file__).resolve().parent / "shim")


def _ready_env(name: str, config: HaiEnvConfig | Locations | None) -> EnvInfo:
    info = Store(config).find(name)
    if not info.ready:
        raise HaiEnvError(
            f"environment {name!r} is {info.status}"
            + (f": {info.reason}" if info.reason else "")
            + f" (see `haienv status {name}`)"
        )
    return info


def _bins(info: EnvInfo, shim: bool = True) -> list[str]:
    bins = [info.bin_dir, SHIM_DIR] if shim else [info.bin_dir]
    if info.extends_path:
        bins.append(os.path.join(info.extends_path, "bin"))
    return bins


def env_vars(
    name: str,
    *,
    config: HaiEnvConfig | Locations | None = None,
    path: str | None = None,
    shim: bool = True,
    uv: str | None = None,
) -> dict[str, str]:
    """The variables to set so a process runs inside env ``name``.

    Returns ``VIRTUAL_ENV``, ``VIRTUAL_ENV_PROMPT``, ``HF_ENV_NAME`` (HAI's name for it,
    :mod:`hai_client.current_env`), ``HAIENV_ENV`` (the same, for compatibility),
    ``HAIENV_UV`` (for the pip shim) and ``PATH`` (the env's bin, then its base's bin, then
    ``path`` - default ``os.environ['PATH']`` - with the bins of a previously entered
    haienv env removed). Also unset ``PYTHONHOME`` in that process.
    Raises :class:`HaiEnvError` when the env is not ready.
    """
    info = _ready_env(name, config)
    current = os.environ.get("PATH", "") if path is None else path
    old_prefix = os.environ.get(_PREFIX_VAR, "")
    if old_prefix and current.startswith(old_prefix + os.pathsep):
        current = current[len(old_prefix) + 1 :]
    prefix = os.pathsep.join(_bins(info, shim))
    if shim and uv is None:
        uv = getattr(config, "uv", None) or site_locations()[1]
    extra = {"HAIENV_UV": uv} if shim else {}
    return {
        **extra,
        "VIRTUAL_ENV": info.path,
        "VIRTUAL_ENV_PROMPT": info.name,
        ENV_VAR: info.name,  # HAI's name for the env you are in (hai-cli, %hai read it)
        COMPAT_ENV_VAR: info.name,  # compatibility only: nothing in HAI reads it
        _PREFIX_VAR: prefix,
        "PATH": prefix + (os.pathsep + current if current else ""),
    }


def set_env(name: str, *, config: HaiEnvConfig | None = None) -> EnvInfo:
    """Make env ``name`` importable in this Python process, in front of this process's own
    site-packages (stdlib stays first), and put its bin first on PATH for subprocesses.

    The env must be ready and built for this interpreter's ``major.minor``. Modules already
    imported keep their version (a warning names them); restart the kernel to switch.
    """
    info = _ready_env(name, config)
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if info.python_minor != running:
        raise HaiEnvError(
            f"environment {name!r} is built for python {info.python_version}; this process runs "
            f"python {running}: use a kernel/interpreter of that version (or `source haienv "
            f"{name}` in a shell)"
        )
    if not info.site_packages or not os.path.isdir(info.site_packages):
        raise HaiEnvError(f"environment {name!r} has no site-packages at {info.site_packages!r}")
    before = list(sys.path)
    site.addsitedir(info.site_packages)  # also runs the env's .pth files (the base layer)
    added = [p for p in sys.path if p not in before]
    rest = [p for p in sys.path if p not in added]
    own_site = set(site.getsitepackages()) | {site.getusersitepackages()}
    cut = next((i for i, p in enumerate(rest) if p in own_site), len(rest))
    sys.path[:] = rest[:cut] + added + rest[cut:]
    importlib.invalidate_caches()
    _warn_already_imported(info.site_packages)
    os.environ.update(env_vars(name, config=config))
    os.environ.pop("PYTHONHOME", None)
    return info


def _warn_already_imported(site_packages: str) -> None:
    try:
        provided = {e.split(".")[0] for e in os.listdir(site_packages)}
    except OSError:
        return
    stale = sorted(
        m for m in provided if m in sys.modules and not m.startswith("_") and m.isidentifier()
    )
    if stale:
        warnings.warn(
            "already imported, so not switched to the env's version: " + ", ".join(stale),
            stacklevel=3,
        )


def shell_activation(
    name: str, *, config: HaiEnvConfig | Locations | None = None, uv: str | None = None
) -> str:
    """bash code that enters env ``name`` and defines ``deactivate`` (what ``source haienv
    NAME`` evaluates). Like venv's ``activate``, it leaves an already active env first."""
    variables = env_vars(name, config=config, path="", uv=uv)
    q = shlex.quote
    prefix = variables[_PREFIX_VAR]
    return f"""\
if [ "$(type -t deactivate 2>/dev/null)" = function ]; then deactivate; fi
_OLD_VIRTUAL_PATH="$PATH"
PATH={q(prefix)}"${{PATH:+:$PATH}}"
export PATH
if [ -n "${{PYTHONHOME+x}}" ]; then _OLD_VIRTUAL_PYTHONHOME="$PYTHONHOME"; unset PYTHONHOME; fi
export VIRTUAL_ENV={q(variables["VIRTUAL_ENV"])}
export VIRTUAL_ENV_PROMPT={q(variables["VIRTUAL_ENV_PROMPT"])}
export {ENV_VAR}={q(variables[ENV_VAR])}
export {COMPAT_ENV_VAR}={q(variables[COMPAT_ENV_VAR])}
export HAIENV_UV={q(variables["HAIENV_UV"])}
export {_PREFIX_VAR}={q(prefix)}
if [ -z "${{VIRTUAL_ENV_DISABLE_PROMPT-}}" ]; then
    _OLD_VIRTUAL_PS1="${{PS1-}}"
    PS1={q("(" + name + ") ")}"${{PS1-}}"
fi
deactivate () {{
    if [ -n "${{_OLD_VIRTUAL_PATH+x}}" ]; then
        PATH="$_OLD_VIRTUAL_PATH"; export PATH; unset _OLD_VIRTUAL_PATH
    fi
    if [ -n "${{_OLD_VIRTUAL_PYTHONHOME+x}}" ]; then
        PYTHONHOME="$_OLD_VIRTUAL_PYTHONHOME"; export PYTHONHOME; unset _OLD_VIRTUAL_PYTHONHOME
    fi
    if [ -n "${{_OLD_VIRTUAL_PS1+x}}" ]; then PS1="$_OLD_VIRTUAL_PS1"; unset _OLD_VIRTUAL_PS1; fi
    unset VIRTUAL_ENV VIRTUAL_ENV_PROMPT {ENV_VAR} {COMPAT_ENV_VAR} HAIENV_UV {_PREFIX_VAR}
    hash -r 2>/dev/null
    if [ "${{1-}}" != nondestructive ]; then unset -f deactivate; fi
}}
hash -r 2>/dev/null
"""


def shell_main(argv: list[str] | None = None) -> int:
    """``haienv-activate NAME``: print the bash code that enters NAME (what ``source haienv
    NAME`` evaluates), with the site file's locations as ``haienv`` uses them. No click and
    no traitlets: this runs each time someone enters an env (issue #15: tens of ms)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: haienv-activate NAME", file=sys.stderr)
        return 2
    try:
        where, uv = site_locations()
        code = shell_activation(args[0], config=where, uv=uv)
    except HaiEnvError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(code)
    return 0
