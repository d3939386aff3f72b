"""JupyterHub identity for the scheduler API when it runs as a hub managed service.

``HubAuthenticator`` asks the hub who owns a token (JupyterHub's ``HubAuth``), so
``hai-cli init <hub token>`` works and admins are the hub's admins. The hub's own
components (spawner, lease culler) call with the service's API token; that token is the
internal admin identity ``jupyterhub``.
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from sqlalchemy.orm import Session
from traitlets import Unicode, default

from scheduler.service.auth import Authenticator, Identity, parse_authorization

HUB_IDENTITY = "jupyterhub"


class HubAuthenticator(Authenticator):
    """Tokens are JupyterHub API tokens; the hub says whose they are."""

    api_url = Unicode(help="The hub's API URL (default: $JUPYTERHUB_API_URL).").tag(config=True)
    api_token = Unicode(help="This service's API token (default: $JUPYTERHUB_API_TOKEN).").tag(
        config=True
    )

    @default("api_url")
    def _default_api_url(self) -> str:
        return os.environ.get("JUPYTERHUB_API_URL", "http://127.0.0.1:8081/hub/api")

    @default("api_token")
    def _default_api_token(self) -> str:
        return os.environ.get("JUPYTERHUB_API_TOKEN", "")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from jupyterhub.services.auth import HubAuth

        self.hub_auth = HubAuth(api_url=self.api_url, api_token=self.api_token, cache_max_age=0)

    def authenticate(self, session: Session, headers: Any) -> Identity | None:
        token = parse_authorization(headers.get("Authorization"))
        if not token:
            return None
        if self.api_token and hmac.compare_digest(token, self.api_token):
            return Identity(HUB_IDENTITY, admin=True)
        model = self.hub_auth.user_for_token(token, use_cache=False, sync=True)
        if not model or model.get("kind", "user") != "user":
            return None
        return Identity(model["name"], admin=bool(model.get("admin")))
