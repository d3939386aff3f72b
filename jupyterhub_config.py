"""HAI Hub on one machine (the embedded default): ``make up`` runs ``jupyterhub -f`` this file.

JupyterHub on 127.0.0.1 with configurable-http-proxy (installed by ``make`` from the npm
registry), SQLite under ``$HAI_DATA_DIR`` (default ``./var/hai``), one password per person
(sign-up with admin approval, ``hai_hub.auth.HaiAuthenticator``), the HAI local spawner
(profiles ``mig-gpu`` and ``spot``), and two managed services: the scheduler API
(``/services/hai-scheduler/``) and the lease culler. Every setting below is an ordinary
traitlets assignment: swap the authenticator, change ports or lease lengths here.
Environment variables ``HAI_*`` override the defaults so tests can run several hubs side
by side.
"""

# ruff: noqa: F821 (``c`` is given by traitlets)
import getpass
import os
import secrets
import shutil
import sys
from pathlib import Path

from hai_client.config import DEFAULT_PORT
from hai_hub.admin_cli import TOKEN_FILE as ADMIN_TOKEN_FILE
from hai_hub.handlers import extra_handlers
from scheduler.backends.local.accounts import closed_to_others

here = Path(__file__).resolve().parent
data = Path(os.environ.get("HAI_DATA_DIR", here / "var" / "hai")).resolve()
# Databases, tokens and secrets are the hub's own: everything it creates is private
# (umask 077); the folder can be crossed but not listed (0711), because users' rank task
# folders live below it (docs/security.md).
os.umask(0o077)
data.mkdir(parents=True, exist_ok=True)
data.chmod(0o711)
for private in data.glob("*.sqlite*"):
    private.chmod(0o600)
os.environ["HAI_DATA_DIR"] = str(data)


def secret(name: str, nbytes: int = 32) -> str:
    """A secret kept in the data folder (mode 0600), made on first use."""
    path = data / name
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(nbytes))
    return path.read_text().strip()


hub_port = int(os.environ.get("HAI_HUB_PORT", "8000"))
scheduler_port = int(os.environ.get("HAI_SCHEDULER_PORT", DEFAULT_PORT))
admin = os.environ.get("HAI_ADMIN_USER") or getpass.getuser()
scheduler_token = secret("hai-scheduler.token")
public_url = f"http://127.0.0.1:{hub_port}"
scheduler_prefix = "/services/hai-scheduler/"

# -- the hub --------------------------------------------------------------------------------
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = hub_port
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("HAI_HUB_API_PORT", hub_port + 81))
c.JupyterHub.db_url = f"sqlite:///{data / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(data / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(data / "jupyterhub.pid")
c.ConfigurableHTTPProxy.pid_file = str(data / "proxy.pid")
c.ConfigurableHTTPProxy.api_url = (
    f"http://127.0.0.1:{int(os.environ.get('HAI_PROXY_API_PORT', hub_port + 1))}"
)
chp = here / "node_modules" / ".bin" / "configurable-http-proxy"
c.ConfigurableHTTPProxy.command = [str(chp) if chp.exists() else "configurable-http-proxy"]
c.JupyterHub.template_paths = [str(here / "hai_hub" / "templates")]
c.JupyterHub.extra_handlers = extra_handlers()

# -- who may log in: each person with their own password (docs/hub.md#logging-in) ---------
# Sign-up at /hub/signup, approval by an admin (/hub/authorize or `hai-admin users`),
# bcrypt-hashed passwords, 5 failed logins lock a name for 5 minutes. For the machine's
# own accounts use PAM instead: c.JupyterHub.authenticator_class = "pam".
c.JupyterHub.authenticator_class = "hai_hub.auth.HaiAuthenticator"
c.HaiAuthenticator.initial_admin_password = os.environ.get("HAI_HUB_ADMIN_PASSWORD", "")
c.Authenticator.allow_all = True  # every approved account (approval is the gate)
c.Authenticator.admin_users = {admin}

# -- dev containers -----------------------------------------------------------------------
c.JupyterHub.spawner_class = "hai_spawner.local.HaiLocalSpawner"
c.HaiLocalSpawner.scheduler_url = f"http://127.0.0.1:{scheduler_port}{scheduler_prefix}"
c.HaiLocalSpawner.scheduler_token = scheduler_token
c.HaiLocalSpawner.public_scheduler_url = f"{public_url}{scheduler_prefix}"
c.HaiLocalSpawner.home_dir_template = str(data / "home" / "{username}")
c.Spawner.cmd = [str(Path(sys.executable).with_name("jupyterhub-singleuser"))]
# one haienv root for dev servers, kernels and the scheduler (which checks and runs a chain's
# env): each user's envs in users/<name> (theirs, 0700), shared bases in base/ (docs/haienv.md)
haienv_root = Path(os.environ.get("HAIENV_ROOT") or data / "envs")
for folder, mode in ((haienv_root, 0o711), (haienv_root / "users", 0o711)):
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(mode)
c.Spawner.environment = {"HAIENV_ROOT": str(haienv_root)}
c.Spawner.default_url = "/lab"
# generous: a burst of 50 spawns on a 2-core machine takes about a minute to be served
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
os.environ["HAI_SCHEDULER_URL"] = f"http://127.0.0.1:{scheduler_port}{scheduler_prefix}"
os.environ["HAI_SCHEDULER_TOKEN"] = scheduler_token

# -- the scheduler and the lease culler, as managed services -------------------------------
# whose account a user's code (dev server, ranks) runs as (docs/security.md): as root,
# `hai-<name>` made on first use, home under /home; $HAI_RUN_AS=create|existing|service
# (service: single-tenant), $HAI_HOME_ROOT and $HAI_ACCOUNT_PREFIX override
run_as_flags = [
    f"--SystemAccounts.{trait}={os.environ[var]}"
    for var, trait in (
        ("HAI_RUN_AS", "mode"),
        ("HAI_HOME_ROOT", "home_root"),
        ("HAI_ACCOUNT_PREFIX", "prefix"),
    )
    if var in os.environ
]
lease = os.environ.get("HAI_LEASE_SECONDS", str(24 * 3600))
c.JupyterHub.services = [
    {
        "name": "hai-scheduler",
        "url": f"http://127.0.0.1:{scheduler_port}",
        "api_token": scheduler_token,
        "environment": {"HAIENV_ROOT": str(haienv_root)},
        "command": [
            sys.executable,
            "-m",
            "scheduler.service.app",
            "--SchedulerApp.authenticator_class=scheduler.service.hub_auth.HubAuthenticator",
            f"--SchedulerApp.data_dir={data}",
            f"--SchedulerApp.port={scheduler_port}",
            f"--DevServerManager.lease_seconds={lease}",
            "--DevServerManager.spot_grace_seconds="
            + os.environ.get("HAI_SPOT_GRACE_SECONDS", "300"),
            "--SchedulerApp.suspend_grace_seconds="
            + os.environ.get("HAI_SUSPEND_GRACE_SECONDS", "60"),
            # without NVML MIG devices, this many simulated slices on node jupyter-0
            "--LocalBackend.simulated_mig_slices=" + os.environ.get("HAI_SIM_MIG_SLICES", "4"),
            *run_as_flags,
        ],
        "cwd": str(data),
        "display": False,  # its API has no page for people: no Services menu link
        "oauth_no_confirm": True,
    },
    {
        "name": "hai-lease-culler",
        "api_token": secret("hai-culler.token"),
        "command": [
            sys.executable,
            "-m",
            "hai_hub.culler",
            "--interval=" + os.environ.get("HAI_CULLER_INTERVAL", "10"),
            "--orphan-grace=" + os.environ.get("HAI_ORPHAN_GRACE_SECONDS", "60"),
        ],
        "environment": {
            "HAI_SCHEDULER_URL": os.environ["HAI_SCHEDULER_URL"],
            "HAI_SCHEDULER_TOKEN": scheduler_token,
            "HAI_DATA_DIR": str(data),  # which platform it serves (and tests find it by)
        },
    },
]
# `hai-admin` (the admin command line) reads this token from the data folder
c.JupyterHub.services.append({"name": "hai-admin", "api_token": secret(ADMIN_TOKEN_FILE)})
c.JupyterHub.load_roles = [
    {
        "name": "hai-lease-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["hai-lease-culler"],
    },
    {"name": "hai-scheduler", "scopes": ["read:users"], "services": ["hai-scheduler"]},
    {
        "name": "hai-admin",
        "scopes": ["admin:users", "admin:servers", "tokens", "list:users", "read:users"],
        "services": ["hai-admin"],
    },
    {"name": "user", "scopes": ["self", "access:services!service=hai-scheduler"]},
]

if os.geteuid() == 0 and os.environ.get("HAI_RUN_AS", "create") != "service":
    for needed in (sys.executable, data):
        if (closed := closed_to_others(needed)) is not None:
            print(
                f"HAI Hub: WARNING: {closed} is closed to other accounts, so users' servers "
                f"and ranks cannot reach {needed}. Install HAI Hub in a folder every account "
                "can cross (e.g. /opt/hai-hub) with a system Python, or set HAI_RUN_AS=service "
                "(single-tenant).",
                flush=True,
            )
if shutil.which("node") is None and not chp.exists():
    print("HAI Hub: node is missing; `make up` installs configurable-http-proxy with npm.")
print(
    f"\nHAI Hub: open {public_url}/ . The admin {admin!r} logs in with the password printed "
    "below at first start (lost it? `hai-admin users reset-password "
    f"{admin}`); everyone else signs up at {public_url}/hub/signup and waits for approval "
    f"(`hai-admin users approve NAME` or the Users page).\n"
    f"Scheduler API: {public_url}{scheduler_prefix} (hai-cli init <hub token> --url <that>).\n",
    flush=True,
)
