"""Where the server extension finds the scheduler and whose token it uses: resolved once
per Jupyter server by the one resolver of every HAI client
(:func:`hai_client.config.load_config`), with ``c.HaiLabConfig.scheduler_url`` /
``c.HaiLabConfig.token`` as its explicit settings; under JupyterHub that is the spawner's
``$HAI_SCHEDULER_URL`` with the server's own ``$JUPYTERHUB_API_TOKEN``.

Whatever the source, the token is the server owner's: the scheduler decides what it may
see and do, so the extension can never act on someone else's chains.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from traitlets import Float, Integer, Unicode, default
from traitlets.config import Configurable

from hai_client.config import load_config
from hai_client.errors import HaiError


@dataclass(frozen=True, slots=True)
class Connection:
    """The scheduler URL and token in effect, and where they came from."""

    url: str
    token: str
    source: str  # "config" (traitlets), "hub" (environment) or the conf.yaml path


class HaiLabConfig(Configurable):
    """Settings of the ``hai_labextension`` server extension (``c.HaiLabConfig.*``)."""

    scheduler_url = Unicode(
        "", help="The scheduler's URL (default: $HAI_SCHEDULER_URL, else ~/.hai/conf.yaml)."
    ).tag(config=True)
    token = Unicode(
        "",
        help="Token for the scheduler, the server owner's (default: $JUPYTERHUB_API_TOKEN "
        "under JupyterHub, else ~/.hai/conf.yaml).",
    ).tag(config=True)
    hub_user = Unicode(help="The hub user owning this server (default: $JUPYTERHUB_USER).").tag(
        config=True
    )
    server_name = Unicode(
        help="This named server's name, '' for the default one (default: $JUPYTERHUB_SERVER_NAME)."
    ).tag(config=True)
    poll_seconds = Float(
        2.0, help="How often the shared watcher asks for the chain list while anyone listens."
    ).tag(config=True)
    lease_poll_seconds = Float(
        15.0, help="How often the lease of this dev server is read while anyone listens."
    ).tag(config=True)
    log_poll_seconds = Float(
        1.0, help="How often a followed log asks for new lines once it has read them all."
    ).tag(config=True)
    list_page_size = Integer(50, help="Newest chains in the sidebar (at most 50).").tag(config=True)
    request_timeout = Float(20.0, help="Seconds to wait for the scheduler.").tag(config=True)
    max_workers = Integer(4, help="Threads that talk to the scheduler.").tag(config=True)

    @default("hub_user")
    def _default_hub_user(self) -> str:
        return os.environ.get("JUPYTERHUB_USER", "")

    @default("server_name")
    def _default_server_name(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVER_NAME", "")

    def resolve(self) -> Connection:
        """The connection in effect; HaiError saying how to configure one when there is none."""
        try:
            cfg = load_config(url=self.scheduler_url or None, token=self.token or None)
        except HaiError as exc:
            raise HaiError(
                f"the HAI extension is not configured: {exc} "
                "(or set c.HaiLabConfig.scheduler_url and token)"
            ) from None
        source = {"explicit": "config", "dev container": "hub"}.get(cfg.source, cfg.source)
        return Connection(cfg.url, cfg.token, source)
