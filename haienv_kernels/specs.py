"""Turning one haienv env into a kernel spec: names, display names, argv, environment.

Plain functions over :class:`haienv.EnvInfo`, so the manager only decides *which* envs to
offer and when to rebuild. The spec is a plain dict (what ``KernelSpec.to_dict()`` gives):
building 500 ``KernelSpec`` objects would cost ~60 ms, building dicts well under 10.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import haienv
import haienv.activate

#: the kinds of env a kernel can come from
OWN, BASE, SHARED = "own", "base", "shared"

#: jupyter_client's rule for kernel names (``kernelspec._kernel_name_pat``)
KERNEL_NAME_RE = re.compile(r"^[a-z0-9._\-]+$", re.IGNORECASE)

FORMAT_FIELDS = ("name", "owner", "user", "kind", "python_version", "python_minor", "extends")
FIELDS_HELP = ", ".join(f"{{{f}}}" for f in FORMAT_FIELDS)

#: the ``pip`` that a haienv kernel's PATH finds first (see ``bin/pip``)
SHIM_DIR = haienv.activate.SHIM_DIR  # the pip shim lives with haienv (one home)
#: logos when the native python3 kernel has none to lend
OWN_RESOURCES = str(Path(__file__).resolve().parent / "resources")


def format_fields(info: haienv.EnvInfo, kind: str, user: str) -> dict[str, str]:
    return {
        "name": info.name,
        "owner": info.owner,
        "user": user,
        "kind": kind,
        "python_version": info.python_version,
        "python_minor": info.python_minor,
        "extends": info.extends or "",
    }


def check_format(fmt: str) -> str:
    """Raise ValueError unless ``fmt`` formats with :data:`FORMAT_FIELDS` only."""
    sample = dict.fromkeys(FORMAT_FIELDS, "x")
    try:
        fmt.format_map(sample)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"bad format {fmt!r} ({exc}); fields: {FIELDS_HELP}") from None
    return fmt


def kernel_env(
    info: haienv.EnvInfo, config: haienv.HaiEnvConfig, *, pip_shim: bool, uv: str | None
) -> dict[str, str]:
    """The kernel's environment: haienv's activation of the env (``haienv.env_vars``:
    VIRTUAL_ENV, PATH with the env's bin, haienv's pip shim (with ``pip_shim``) and its
    base's bin first, ...), so ``!pip install x`` installs into the env as in a shell."""
    env = dict(haienv.env_vars(info.name, config=config, shim=pip_shim))
    if pip_shim and uv:
        env["HAIENV_UV"] = uv
    if "PYTHONHOME" in os.environ:
        env["PYTHONHOME"] = ""  # an empty PYTHONHOME counts as unset for CPython
    return env


#: executed at kernel start so %hai and haienv work in every haienv kernel
STARTUP = str(Path(__file__).resolve().parent / "kernel_startup.py")


def startup_argv() -> list[str]:
    """The kernel arguments that run :data:`STARTUP` with the platform's client folder
    (:func:`haienv_kernels.kernel_site.kernel_site`); none if it cannot be made."""
    from haienv_kernels.kernel_site import kernel_site

    try:
        paths = [kernel_site()]
    except Exception:  # no writable cache: the kernels work, without %hai
        return []
    code = (
        f"exec(open({STARTUP!r}).read(), {{'_hai_paths': {paths!r}, 'get_ipython': get_ipython}})"
    )
    return [f"--IPKernelApp.exec_lines={[code]!r}"]


def kernel_spec_dict(
    info: haienv.EnvInfo, kind: str, display_name: str, env: dict[str, str]
) -> dict:
    """The spec, as ``KernelSpec.to_dict()`` would give it (``env``: see
    :func:`kernel_env`; the listing passes ``{}``)."""
    return {
        "argv": [
            info.python,
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
            *startup_argv(),
        ],
        "env": env,
        "display_name": display_name,
        "language": "python",
        "interrupt_mode": "signal",
        "metadata": {
            "debugger": True,
            "haienv": {
                "name": info.name,
                "owner": info.owner,
                "kind": kind,
                "extends": info.extends,
                "status": info.status,
                "python_version": info.python_version,
                "path": info.path,
            },
        },
        "kernel_protocol_version": "",
    }


def resource_files(resource_dir: str) -> list[str]:
    """``kernel.js``, ``kernel.css`` and ``logo-*`` files of ``resource_dir`` (what
    jupyter_server's kernelspec model lists), read once per rebuild, not once per spec."""
    try:
        names = sorted(os.listdir(resource_dir))
    except OSError:
        return []
    return [n for n in names if n in ("kernel.js", "kernel.css") or n.startswith("logo-")]


def resources(base_url: str, kernel_name: str, files: list[str]) -> dict[str, str]:
    """The ``resources`` of a kernelspec REST model, as jupyter_server builds them."""
    prefix = "/" + base_url.strip("/") + "/" if base_url.strip("/") else "/"
    out = {}
    for fname in files:
        key = fname if fname in ("kernel.js", "kernel.css") else os.path.splitext(fname)[0]
        out[key] = f"{prefix}kernelspecs/{kernel_name}/{fname}"
    return out
