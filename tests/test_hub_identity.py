"""Each person logs in as themselves (the embedded default's HaiAuthenticator).

A real hub from ``jupyterhub_config.py``, driven in Debian's chromium
(``tests/browser/hub_identity.mjs``) and through ``hai-admin`` and the REST APIs: no
shared password, sign-up with approval, lock-out, disabling that takes effect at once
(servers, sessions, hub tokens and scheduler access), and tokens that belong to their
owner only.
"""

from __future__ import annotations

import json

import httpx
import pytest
from click.testing import CliRunner

from hai_hub.admin_cli import cli as admin_cli
from tests.browser_helpers import run_browser_script
from tests.hub_helpers import Hub, browser_login, running_hub, server_environ

pytestmark = pytest.mark.slow

NEWBIE_PASSWORD = "newbie-Passw0rd-x9"


def browser(hub: Hub, phase: str) -> dict:
    seen, stderr = run_browser_script(
        "hub_identity",
        {
            "PHASE": phase,
            "HUB_URL": hub.url,
            "ADMIN": hub.admin_name,
            "ADMIN_PASSWORD": hub.admin_password,
            "BOB_PASSWORD": hub.password("bob"),
            "CAROL_PASSWORD": hub.password("carol"),
            "NEWBIE_PASSWORD": NEWBIE_PASSWORD,
        },
        timeout=240,
    )
    assert seen["ok"], (seen, stderr, hub.log()[-3000:])
    return seen


def admin(hub: Hub, *args: str, token: str | None = None) -> tuple[int, str]:
    """``hai-admin`` in-process (click's runner), as the hub's account would run it."""
    res = CliRunner().invoke(
        admin_cli,
        ["--hub-url", hub.url, "--data-dir", str(hub.data), *args],
        env={"HAI_ADMIN_TOKEN": token} if token else {"HAI_ADMIN_TOKEN": ""},
    )
    return res.exit_code, res.output


def test_people_log_in_as_themselves_and_disabling_takes_effect_at_once(tmp_path):
    with running_hub(tmp_path) as hub:
        hub.add_user("alice")
        seen = browser(hub, "signup")
        # no one logs in with someone else's name
        assert "/hub/login" in seen["bob_as_alice"]["url"]
        assert "Invalid username or password" in seen["bob_as_alice"]["error"]
        assert "already in use" in seen["signup_taken"]
        # a sign-up waits for an admin
        assert "sent to the admin" in seen["signup_newbie"]
        assert "waiting for an admin" in seen["newbie_unapproved"]["error"]
        assert seen["approved_cell"] == "yes"
        assert seen["newbie_login"]["error"] is None
        assert "/user/newbie/" in seen["newbie_server_url"]
        env = server_environ(hub.data, "newbie")
        assert env["HAI_PROFILE"] == "mig-gpu"
        # five failures lock the name, even against the right password, and say so
        assert all("Invalid" in e for e in seen["carol_wrong"])
        assert "Too many failed logins" in seen["carol_right_after_lock"]["error"]

        # tokens belong to their owner: bob cannot mint or list alice's
        bob = httpx.Client(headers={"Authorization": f"token {hub.user_token('bob')}"})
        hub.user_token("alice")
        assert bob.post(f"{hub.api}/users/alice/tokens", json={}).status_code in (403, 404)
        assert bob.get(f"{hub.api}/users/alice/tokens").status_code in (403, 404)
        assert bob.get(f"{hub.api}/hai/users").status_code == 403, "admin endpoints are admins'"

        # newbie's token works at the hub and the scheduler, until an admin disables them
        token = hub.user_token("newbie")
        auth = {"Authorization": f"token {token}"}
        assert httpx.get(f"{hub.api}/user", headers=auth).status_code == 200
        who = httpx.get(hub.scheduler_url + "api/v1/whoami", headers=auth)
        assert who.status_code == 200 and who.json()["name"] == "newbie"

        seen = browser(hub, "disable")
        assert seen["disabled_cell"] == "no"
        assert "/hub/login" in seen["newbie_home_url"], "the open session ended"
        assert "waiting for an admin" in seen["newbie_login_again"]["error"]
        assert httpx.get(f"{hub.api}/user", headers=auth).status_code == 403
        assert httpx.get(hub.scheduler_url + "api/v1/whoami", headers=auth).status_code == 401
        hub.wait_server("newbie", ready=False, timeout=5)  # stopped before the page answered
        with hub.admin() as c:
            assert c.get(f"{hub.api}/users/newbie/tokens").json()["api_tokens"] == []


def test_admin_command_line_manages_accounts(tmp_path):
    with running_hub(tmp_path) as hub:
        # run as the hub's account: the service token comes from the data folder
        code, out = admin(hub, "users", "add", "erin")
        assert code == 0 and "password: " in out, out
        erin_password = out.split("password: ")[1].strip()
        browser_login(hub, "erin", erin_password).close()

        code, out = admin(hub, "users", "list")
        lines = dict(line.split("\t") for line in out.splitlines())
        assert lines["erin"] == "approved" and "admin" in lines[hub.admin_name]

        code, out = admin(hub, "users", "set-admin", "erin", "--json")
        assert code == 0 and json.loads(out)["admin"] is True
        erin_token = hub.user_token("erin")
        who = httpx.get(
            hub.scheduler_url + "api/v1/whoami", headers={"Authorization": f"token {erin_token}"}
        )
        assert who.json()["admin"] is True, "hub admins are the scheduler's admins"

        code, out = admin(hub, "users", "reset-password", "erin")
        new_password = out.rsplit(": ", 1)[1].strip()
        assert code == 0 and new_password != erin_password
        browser_login(hub, "erin", new_password).close()
        with pytest.raises(AssertionError):
            browser_login(hub, "erin", erin_password)

        code, out = admin(hub, "users", "disable", "erin")
        assert code == 0 and "disabled" in out
        assert (
            httpx.get(
                f"{hub.api}/user", headers={"Authorization": f"token {erin_token}"}
            ).status_code
            == 403
        )
        code, out = admin(hub, "users", "enable", "erin")
        assert code == 0
        browser_login(hub, "erin", new_password).close()

        # errors: one line, exit 1, naming the problem
        code, out = admin(hub, "users", "approve", "nobody")
        assert code == 1 and "no account named nobody" in out
        code, out = admin(hub, "users", "add", "Bad Name!")
        assert code == 1 and "invalid name" in out
        code, out = admin(
            hub, "users", "disable", hub.admin_name, token=hub.user_token(hub.admin_name)
        )
        assert code == 1 and "cannot disable yourself" in out
        # a non-admin's token is refused; no token at all is explained
        code, out = admin(hub, "users", "list", token=hub.user_token("bob"))
        assert code == 1 and "403" in out
        (hub.data / "hai-admin.token").unlink()
        code, out = admin(hub, "users", "list")
        assert code == 1 and "no admin token" in out
