"""HAI Hub in JupyterLab: a server extension under ``/hai/`` and the "HAI tasks" sidebar.

Installing the package enables both: ``jupyter-config/jupyter_server_config.d/
hai_labextension.json`` turns the server extension on, and the prebuilt lab extension is
shipped in ``share/jupyter/labextensions/hai-hub``. See ``docs/lab.md``.
"""

from __future__ import annotations

from typing import Any

LABEXTENSION_NAME = "hai-hub"


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": LABEXTENSION_NAME}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "hai_labextension"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    """Resolve the scheduler connection once and add the ``/hai/`` handlers."""
    from hai_labextension.config import HaiLabConfig
    from hai_labextension.handlers import setup_handlers
    from hai_labextension.service import HaiLab

    config = HaiLabConfig(parent=server_app)
    server_app.web_app.settings["hai_lab"] = HaiLab(config, server_app.log)
    setup_handlers(server_app.web_app)
    server_app.log.info("hai_labextension: /hai/ endpoints ready")


def _unload_jupyter_server_extension(server_app: Any) -> None:
    lab = server_app.web_app.settings.pop("hai_lab", None)
    if lab is not None:
        lab.close()
