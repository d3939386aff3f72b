"""Which extra of ``hai-hub`` brings a module, and one line instead of a traceback when an
entry point needs an extra that is not installed.

``pip install hai-hub`` is the core: ``hai-cli``, the Python client, ``haienv`` and
``hai-admin``. The scheduler, the hub, JupyterLab and the profiler come with extras
(pyproject.toml, README "Install"); :data:`EXTRA_OF` names the extra that provides each
module our code imports outside the core (tests/test_installs.py checks it against
pyproject.toml). Standard library only: it runs before anything else is imported.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any, NoReturn

#: top-level module → the extra of hai-hub that installs it
EXTRA_OF = {
    "sqlalchemy": "scheduler",
    "alembic": "scheduler",
    "tornado": "scheduler",
    "prometheus_client": "scheduler",
    "cachetools": "scheduler",
    "pydantic": "scheduler",
    "psycopg": "postgres",
    "kubernetes": "kubernetes",
    "jupyterhub": "hub",
    "kubespawner": "hub",
    "nativeauthenticator": "hub",
    "bcrypt": "hub",
    "jupyter_server": "lab",
    "jupyter_client": "lab",
    "jupyterlab": "lab",
    "IPython": "lab",
    "ipywidgets": "lab",
}


def install_hint(extra: str) -> str:
    return f"pip install 'hai-hub[{extra}]'"


def extra_for(exc: ImportError) -> str | None:
    """The extra that would have prevented ``exc``, or None when no extra explains it (an
    installed package that fails to import, or our own bug: those keep their traceback)."""
    if not isinstance(exc, ModuleNotFoundError):
        return None
    top = (exc.name or "").split(".")[0]
    if top not in EXTRA_OF or importlib.util.find_spec(top) is not None:
        return None
    return EXTRA_OF[top]


def missing_extra(command: str, exc: ImportError) -> NoReturn:
    """Exit with one line naming the extra to install (re-raise what no extra explains)."""
    extra = extra_for(exc)
    if extra is None:
        raise exc
    top = (exc.name or "").split(".")[0]
    sys.exit(
        f"{command}: needs the [{extra}] extra ({top} is not installed): {install_hint(extra)}"
    )


def run(command: str, target: str) -> Any:
    """Import ``module:function`` and call it; a missing extra is one line on stderr."""
    module, _, function = target.partition(":")
    try:
        entry = getattr(importlib.import_module(module), function)
    except ImportError as exc:
        missing_extra(command, exc)
    return entry()


def hai_scheduler() -> Any:
    """The ``hai-scheduler`` console script (needs ``hai-hub[scheduler]``)."""
    return run("hai-scheduler", "scheduler.service.app:main")
