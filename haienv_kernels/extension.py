"""The server extension that makes installing the package enough to enable haienv kernels.

jupyter-server reads only ``jpserver_extensions`` from the JSON files in
``etc/jupyter/jupyter_server_config.d/`` (its other settings there are ignored), so the
shipped ``haienv_kernels.json`` enables this extension, and the extension's *link* hook -
which runs before the server creates its kernel-spec manager - selects
:class:`~haienv_kernels.HaienvKernelSpecManager`, unless the configuration names a
``ServerApp.kernel_spec_manager_class`` itself (naming jupyter_client's
``KernelSpecManager`` there turns haienv kernels off, as does
``jupyter server extension disable haienv_kernels``).
"""

from __future__ import annotations

from typing import Any

CLASS = "haienv_kernels.HaienvKernelSpecManager"


def _link_jupyter_server_extension(server_app: Any) -> None:
    from .manager import HaienvKernelSpecManager

    if "kernel_spec_manager_class" in server_app.config.get("ServerApp", {}):
        return  # chosen explicitly (this class, or another one): leave it
    server_app.kernel_spec_manager_class = HaienvKernelSpecManager


def _load_jupyter_server_extension(server_app: Any) -> None:
    from .manager import HaienvKernelSpecManager

    ksm = getattr(server_app, "kernel_spec_manager", None)
    if isinstance(ksm, HaienvKernelSpecManager):
        server_app.log.info("haienv_kernels: one kernel per ready haienv env")
    else:
        server_app.log.info(
            "haienv_kernels: not active (ServerApp.kernel_spec_manager_class is %s)",
            type(ksm).__name__,
        )
