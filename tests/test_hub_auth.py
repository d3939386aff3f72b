"""HubAuthenticator asks the hub whose a token is over HTTP (no JupyterHub import, so the
scheduler image needs no hub): a fake hub answers ``GET /hub/api/user`` as JupyterHub does."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tornado.web import HTTPError

from scheduler.service.hub_auth import HUB_IDENTITY, HubAuthenticator

USERS = {
    "alice-token": {"kind": "user", "name": "alice", "admin": False},
    "root-token": {"kind": "user", "name": "root", "admin": True},
    "svc-token": {"kind": "service", "name": "culler"},
}


class FakeHub(BaseHTTPRequestHandler):
    seen: list[tuple[str, str]] = []

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization", "")
        FakeHub.seen.append((self.path, auth))
        token = auth.removeprefix("token ")
        if token == "broken":
            status, body = 500, {"status": 500, "message": "boom"}
        elif self.path != "/hub/api/user" or token not in USERS:
            status, body = 403, {"status": 403, "message": "Missing or invalid credentials"}
        else:
            status, body = 200, USERS[token]
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeHub.seen.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}/hub/api"
    server.shutdown()
    server.server_close()


def auth(url: str) -> HubAuthenticator:
    return HubAuthenticator(api_url=url, api_token="the-service-token")


def identify(a: HubAuthenticator, token: str | None):
    headers = {"Authorization": f"token {token}"} if token is not None else {}
    return a.authenticate(None, headers)  # the session is not used by this authenticator


def test_the_hub_names_the_owner_of_a_token(hub):
    a = auth(hub)
    alice = identify(a, "alice-token")
    assert (alice.name, alice.admin) == ("alice", False)
    root = identify(a, "root-token")
    assert (root.name, root.admin) == ("root", True)
    assert FakeHub.seen == [
        ("/hub/api/user", "token alice-token"),
        ("/hub/api/user", "token root-token"),
    ]


def test_unknown_tokens_services_and_no_token_are_nobody(hub):
    a = auth(hub)
    assert identify(a, "nobody's") is None
    assert identify(a, "svc-token") is None  # a service's token is not a user
    assert identify(a, None) is None


def test_the_service_token_is_the_hub_itself_without_asking(hub):
    me = identify(auth(hub), "the-service-token")
    assert (me.name, me.admin) == (HUB_IDENTITY, True)
    assert FakeHub.seen == []


def test_a_failing_or_missing_hub_is_an_error_not_a_refusal(hub):
    with pytest.raises(HTTPError) as failing:
        identify(auth(hub), "broken")
    assert failing.value.status_code == 502
    with pytest.raises(HTTPError) as missing:
        identify(auth("http://127.0.0.1:9/hub/api"), "alice-token")
    assert missing.value.status_code == 500


def test_hub_auth_does_not_import_jupyterhub():
    code = "import sys, scheduler.service.hub_auth; print('jupyterhub' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
