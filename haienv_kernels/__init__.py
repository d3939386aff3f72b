"""haienv_kernels: one Jupyter kernel per ready haienv env, next to the usual kernels.

Enable with one line of jupyter-server config (installing the package ships it as
``etc/jupyter/jupyter_server_config.d/haienv_kernels.json``)::

    c.ServerApp.kernel_spec_manager_class = "haienv_kernels.HaienvKernelSpecManager"

See docs/kernels.md. Modules: :mod:`.manager` (the ``KernelSpecManager``, its traits and the
cache), :mod:`.specs` (env -> kernel spec), :mod:`.ipykernel_check` (can an env run a kernel,
from the file system only).
"""

from __future__ import annotations

from .manager import HaienvKernelSpecManager

__all__ = ["HaienvKernelSpecManager"]
