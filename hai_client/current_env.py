"""Which haienv this process runs in: the one environment variable that says so.

``$HF_ENV_NAME`` is HAI's name for it. ``source haienv NAME``, ``haienv.set_env`` /
``haienv.env_vars`` and haienv kernels set it; ``hai-cli`` (and the ``%hai`` magics and
the lab extension through it) read it, with :func:`current_env`, as a submit's default
haienv. haienv also sets ``$HAIENV_ENV`` to the same name, only for compatibility (it is
part of ``env_vars``'s documented output); nothing in HAI reads it.

Standard library only: ``hai-cli`` imports this at start-up, haienv when it activates.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

#: the variable naming the current haienv (what HAI reads)
ENV_VAR = "HF_ENV_NAME"
#: set beside ENV_VAR, to the same name, for compatibility only; never read
COMPAT_ENV_VAR = "HAIENV_ENV"


def current_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The haienv named by ``$HF_ENV_NAME`` (in ``environ``, default this process's), None
    when it is unset or empty."""
    return (os.environ if environ is None else environ).get(ENV_VAR) or None
