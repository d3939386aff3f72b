"""JupyterHub identity for the scheduler API when it runs as a hub managed service.

``HubAuthenticator`` asks the hub who owns a token (``GET <hub api>/user`` with that token,
as JupyterHub's ``HubAuth.user_for_token`` does), so ``hai-cli init <hub token>`` works and
admins are the hub's admins. The hub's own components (spawner, lease culler) call with the
service's API token; that token is the internal admin identity ``jupyterhub``.

The request is made with httpx, not through ``jupyterhub.services.auth``: the scheduler
image installs ``hai-hub[scheduler,postgres,kubernetes]``, without JupyterHub. With the
hub's internal SSL on, the ``JUPYTERHUB_SSL_*`` files are used as ``HubAuth`` uses them.
"""

from __future__ import annotations

import hmac
import os
import ssl
from typing import Any

import httpx
from sqlalchemy.orm import Session
from tornado.web import HTTPError
from traitlets import Unicode, default

from hai_client.config import hub_api_token, hub_api_url
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
        return hub_api_url()

    @default("api_token")
    def _default_api_token(self) -> str:
        return hub_api_token()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.http = httpx.Client(verify=_hub_ssl_context(), timeout=30)

    def authenticate(self, session: Session, headers: Any) -> Identity | None:
        token = parse_authorization(headers.get("Authorization"))
        if not token:
            return None
        if self.api_token and hmac.compare_digest(token, self.api_token):
            return Identity(HUB_IDENTITY, admin=True)
        model = self.user_for_token(token)
        if not model or model.get("kind", "user") != "user":
            return None
        return Identity(model["name"], admin=bool(model.get("admin")))

    def user_for_token(self, token: str) -> dict[str, Any] | None:
        """The hub's model of the token's owner; None when the hub does not know the token.
        The hub unreachable is a 500, the hub failing a 502 (as with ``HubAuth``)."""
        url = self.api_url.rstrip("/") + "/user"
        try:
            resp = self.http.get(url, headers={"Authorization": f"token {token}"})
        except httpx.HTTPError as exc:
            self.log.error("the hub's API is unreachable at %s: %s", url, exc)
            raise HTTPError(500, f"Failed to connect to Hub API at {self.api_url!r}") from None
        if resp.status_code in (401, 403):
            return None
        if resp.status_code >= 500:
            self.log.error("the hub failed to check a token: %s %s", resp.status_code, resp.text)
            raise HTTPError(502, "Failed to check authorization (upstream problem)")
        if resp.status_code != 200:
            self.log.warning("the hub refused a token check: %s %s", resp.status_code, resp.text)
            raise HTTPError(500, "Failed to check authorization")
        return resp.json()


def _hub_ssl_context() -> ssl.SSLContext | bool:
    """The hub's internal SSL (``JUPYTERHUB_SSL_*``, set for services when it is on), made
    as JupyterHub's ``make_ssl_context`` makes a client's: both ways verified."""
    certfile = os.environ.get("JUPYTERHUB_SSL_CERTFILE", "")
    keyfile = os.environ.get("JUPYTERHUB_SSL_KEYFILE", "")
    if not (certfile and keyfile):
        return True
    cafile = os.environ.get("JUPYTERHUB_SSL_CLIENT_CA") or None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    context.load_default_certs()
    context.load_cert_chain(certfile, keyfile)
    return context
