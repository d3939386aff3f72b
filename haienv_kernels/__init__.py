"""haienv_kernels: one Jupyter kernel per ready haienv env, next to the usual kernels.

Enable with one line of jupyter-server config::

    c.ServerApp.kernel_spec_manager_class = "haienv_kernels.HaienvKernelSpecManager"

Installing the package does the same: it ships
``etc/jupyter/jupyter_server_config.d/haienv_kernels.json``, which enables this package as a
server extension whose link hook selects the manager (:mod:`.extension`).

See docs/kernels.md. Modules: :mod:`.manager` (the ``KernelSpecManager``, its traits and the
cache), :mod:`.specs` (env -> kernel spec), :mod:`.ipykernel_check` (can an env run a kernel,
from the file system only), :mod:`.extension` (enabling by installation).
"""

from __future__ import annotations

from .manager import HaienvKernelSpecManager

__all__ = ["HaienvKernelSpecManager"]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "haienv_kernels.extension"}]
