"""Multi-tenant isolation on one machine, with real system accounts (CI runs as root).

The real scheduler service maps alice and bob to accounts it creates (``hai-t…-alice``),
runs their ranks as those accounts, and keeps its own data to itself: bob's rank probes
alice's spec, logs, task folder, home and processes and the scheduler's database, and is
refused each time. A rank's whole process tree (also a child that left its session) is
ended when its supervisor dies with the scheduler, before the rank shows as lost. The
same on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scheduler.backends.local.accounts import SystemAccounts
from tests.hub_helpers import running_hub, server_environ
from tests.service_helpers import hai_cli, init_cli, scheduler_process, wait_for

pytestmark = pytest.mark.slow

ALICE = """\
import os, subprocess, sys, time
home = os.environ["HOME"]
with open(os.path.join(home, "diary.txt"), "w") as f:
    f.write("alice's secret diary")
# a child that leaves the rank's session and process group
subprocess.Popen([sys.executable, "-c", "import os, time; os.setsid(); time.sleep(300)"])
print("ids", os.getuid(), os.getgid(), sorted(os.getgroups()), flush=True)
print("env", sorted(os.environ), flush=True)
time.sleep(300)
"""

BOB = """\
import json, os, signal, sys
def attempt(what, fn):
    try:
        fn()
        return "ALLOWED"
    except PermissionError:
        return "denied"
    except OSError as exc:
        return f"error {exc.errno}"
t = json.loads(os.environ["TARGETS"])
res = {
    "alice_spec": attempt("spec", lambda: open(t["spec"]).read()),
    "alice_log": attempt("log", lambda: os.listdir(t["log_dir"])),
    "alice_task": attempt("task", lambda: os.listdir(t["task_dir"])),
    "alice_home": attempt("home", lambda: open(t["diary"]).read()),
    "database": attempt("db", lambda: open(t["data"] + "/scheduler.sqlite", "rb").read(9)),
    "data_listing": attempt("data", lambda: os.listdir(t["data"])),
    "ranks_listing": attempt("ranks", lambda: os.listdir(t["ranks"])),
    "signal_alice": attempt("kill", lambda: os.kill(t["alice_pid"], signal.SIGTERM)),
    "alice_environ": attempt("env", lambda: open(f"/proc/{t['alice_pid']}/environ").read()),
    "own_task": attempt("own", lambda: os.listdir(os.environ["HAI_CONTROL_DIR"])),
}
print("probe " + json.dumps(res), flush=True)
"""

CONFIG = """\
c.SchedulerApp.tick_seconds = 0.2
c.LocalBackend.nodes = [
    {"name": "n0", "group": "default", "gpus": 1},
    {"name": "n1", "group": "default", "gpus": 1},
]
# an interpreter every account can run (this machine's pyenv lives under /root, 0700)
c.LocalBackend.python = "/usr/bin/python3"
c.SystemAccounts.prefix = %r
c.SystemAccounts.home_root = %r
"""


def api(svc, user: str) -> httpx.Client:
    return httpx.Client(
        base_url=svc.url + "api/v1", headers={"Authorization": f"token {svc.tokens[user]}"}
    )


def submit(client: httpx.Client, spec: dict) -> int:
    resp = client.post("/chains", json=spec)
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def chain(client: httpx.Client, ref: int) -> dict:
    return client.get(f"/chains/{ref}").json()


def log_text(client: httpx.Client, ref: int) -> str:
    page = client.get(f"/chains/{ref}/logs").json()
    return "\n".join(line["text"] for line in page["lines"])


def proc_ids(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    uid = int(next(ln for ln in status.splitlines() if ln.startswith("Uid:")).split()[1])
    gid = int(next(ln for ln in status.splitlines() if ln.startswith("Gid:")).split()[1])
    return uid, gid


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def session_escapees(account: str) -> list[int]:
    uid = pwd.getpwnam(account).pw_uid
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, StopIteration):
                if proc_ids(int(entry.name))[0] == uid and alive(int(entry.name)):
                    found.append(int(entry.name))
    return found


def test_each_users_rank_runs_as_that_user_and_reads_nothing_of_anyone_else(
    base: Path, db_url: str
) -> None:
    prefix = f"hai-t{base.name[-6:]}-"
    accounts = SystemAccounts(mode="create", prefix=prefix, home_root=str(base / "home"))
    alice_acc, bob_acc = accounts.resolve("alice"), accounts.resolve("bob")
    for acc, text in ((alice_acc, ALICE), (bob_acc, BOB)):
        script = Path(acc.home) / "job.py"
        script.write_text(text)
        os.chown(script, acc.uid, acc.gid)
    config = CONFIG % (prefix, str(base / "home"))
    env = {"HAI_SERVICE_SECRET": "service-only-" + secrets.token_hex(4)}
    db = None if db_url.startswith("sqlite") else db_url  # SQLite: in the data folder
    with scheduler_process(base, config=config, env=env, run_as="create", db_url=db) as svc:
        alice, bob = api(svc, "alice"), api(svc, "bob")
        spec = {
            "name": "diary",
            "spec": {
                "entrypoint": str(Path(alice_acc.home) / "job.py"),
                "workspace": alice_acc.home,
                "environments": {
                    "WANDB_API_KEY": "alice-key",
                    "PROMPT_COMMAND": f"touch {base}/pwned",
                },
            },
            "resource": {"node_count": 1},
        }
        a = submit(alice, spec)
        try:
            wait_for(lambda: "ids" in log_text(alice, a), 30, "alice's rank to start")
        except AssertionError:
            raise AssertionError(f"{chain(alice, a)}\n{svc.log_tail()}") from None
        ids_line, env_line = log_text(alice, a).splitlines()[:2]
        assert ids_line.split()[1:3] == [str(alice_acc.uid), str(alice_acc.gid)]
        assert "HAI_SERVICE_SECRET" not in env_line and "WANDB_API_KEY" in env_line
        assert "'HAIENV_USER'" in env_line, "haienv.set_env() in a rank finds the owner's envs"
        assert "JUPYTERHUB_API_TOKEN" not in env_line

        data = svc.data_dir
        cdir = data / "ranks" / str(a) / "0" / "0"
        alice_pid = int((cdir / "child.pid").read_text())
        assert proc_ids(alice_pid) == (alice_acc.uid, alice_acc.gid)
        targets = {
            "spec": str(cdir / "spec.json"),
            "log_dir": str(data / "logs" / str(a) / "0" / "0"),
            "task_dir": str(data / "tasks" / str(a) / "0" / "0"),
            "diary": str(Path(alice_acc.home) / "diary.txt"),
            "data": str(data),
            "ranks": str(data / "ranks"),
            "alice_pid": alice_pid,
        }
        b = submit(
            bob,
            {
                "name": "probe",
                "spec": {
                    "entrypoint": str(Path(bob_acc.home) / "job.py"),
                    "workspace": bob_acc.home,
                    "environments": {"TARGETS": json.dumps(targets)},
                },
                "resource": {"node_count": 1},
            },
        )
        wait_for(lambda: chain(bob, b)["state"] == "finished", 30, "bob's probe")
        probe = json.loads(log_text(bob, b).split("probe ", 1)[1])
        assert probe.pop("own_task") == "ALLOWED"
        database = probe.pop("database")
        assert set(probe.values()) == {"denied"}, probe
        assert database == ("denied" if db is None else "error 2")  # PostgreSQL: no file
        assert alive(alice_pid)
        # bob cannot make his rank run in alice's home either
        spec_in_alice = {
            "name": "trespass",
            "spec": {"entrypoint": "/bin/true", "workspace": alice_acc.home},
            "resource": {"node_count": 1},
        }
        t = submit(bob, spec_in_alice)
        wait_for(lambda: chain(bob, t)["state"] == "finished", 30, "the trespass")
        assert "cannot enter the workspace" in json.dumps(chain(bob, t)), chain(bob, t)
        # nor in an open folder under it: the folder is entered with bob's permissions,
        # which stop at alice's home (the service could enter it, and bob would then read
        # it through his working folder)
        public = Path(alice_acc.home, "public")
        public.mkdir(mode=0o755)
        os.chown(public, alice_acc.uid, alice_acc.gid)
        t = submit(
            bob, {**spec_in_alice, "spec": {**spec_in_alice["spec"], "workspace": str(public)}}
        )
        wait_for(lambda: chain(bob, t)["state"] == "finished", 30, "the trespass")
        assert "cannot enter the workspace" in json.dumps(chain(bob, t)), chain(bob, t)

        # an admin (root here) enters alice's rank only on purpose, and then as alice
        home = base / "admin-home"
        init_cli(home, svc.url, svc.tokens["admin"])
        refused = hai_cli(home, "ssh", str(a), input="id -un\n")
        assert refused.returncode == 1 and "--as-admin" in refused.stderr, refused.stderr
        entered = hai_cli(home, "ssh", str(a), "--as-admin", input='id -un; echo "$HOME"\n')
        assert entered.returncode == 0, entered.stderr
        assert entered.stdout.split() == [alice_acc.name, alice_acc.home]
        assert "WARNING" in entered.stderr
        assert not (base / "pwned").exists(), "alice's PROMPT_COMMAND never ran as root"

        # the scheduler and alice's supervisor die with SIGKILL: a new scheduler ends every
        # process of the rank (also the one that left its session) before it shows as lost
        escapees = session_escapees(alice_acc.name)
        assert len(escapees) >= 2, escapees
        runner = json.loads((cdir / "runner.json").read_text())["pid"]
        os.killpg(svc.proc.pid, signal.SIGKILL)
        os.kill(runner, signal.SIGKILL)
        svc.proc.wait(10)
    with scheduler_process(
        base, config=config, env=env, run_as="create", db_url=db, users=()
    ) as svc2:
        svc2.tokens.update(svc.tokens)
        alice = api(svc2, "alice")
        wait_for(lambda: chain(alice, a)["state"] == "finished", 30, "alice's chain to end")
        assert chain(alice, a)["stop_code"] == "lost"
        assert session_escapees(alice_acc.name) == [], "no process of the rank outlives it"
        with svc2.factory() as s:
            from scheduler.model import accounts as acc_mod

            assert acc_mod.get_user(s, "alice").system_user == alice_acc.name


def test_a_user_without_an_account_is_refused_never_run_as_someone_else(base: Path) -> None:
    config = CONFIG % ("hai-none-", str(base / "home"))
    with scheduler_process(base, config=config, run_as="existing") as svc:
        alice = api(svc, "alice")
        ref = submit(
            alice,
            {
                "name": "nobody",
                "spec": {"entrypoint": "/usr/bin/id", "workspace": "/tmp"},
                "resource": {"node_count": 1},
            },
        )
        wait_for(lambda: chain(alice, ref)["state"] == "finished", 30, "the refusal")
        got = chain(alice, ref)
        assert got["stop_code"] == "init_failed"
        assert "has no system account 'alice'" in got["reason"], got


def test_dev_servers_run_as_their_owners_account(base: Path, tmp_path: Path) -> None:
    """The embedded hub as root (``make up``): each dev server runs as its user's account,
    in that account's home, without --allow-root, and cannot read another user's files."""
    prefix = f"hai-t{base.name[-6:]}-"
    hub_tmp = base / "hub"
    hub_tmp.mkdir(mode=0o711)
    env = {
        "HAI_RUN_AS": "create",
        "HAI_HOME_ROOT": str(base / "home"),
        "HAI_ACCOUNT_PREFIX": prefix,
    }
    with running_hub(hub_tmp, **env) as hub:
        for user in ("alice", "bob"):
            with hub.admin() as c:
                c.post(f"{hub.api}/users/{user}")
                r = c.post(f"{hub.api}/users/{user}/server", json={"profile": "mig-gpu"})
                assert r.status_code in (201, 202), f"{r.text}\n{hub.log()[-6000:]}"
            hub.wait_server(user)
        try:
            alice, bob = pwd.getpwnam(prefix + "alice"), pwd.getpwnam(prefix + "bob")
        except KeyError as exc:
            raise AssertionError(f"{exc}\n{hub.log()[-4000:]}") from None
        a_env = server_environ(hub.data, "alice", Path(alice.pw_dir))
        pid = int(a_env["_pid"])
        assert proc_ids(pid) == (alice.pw_uid, alice.pw_gid)
        assert a_env["USER"] == alice.pw_name and "HAI_SCHEDULER_TOKEN" not in a_env
        assert b"--allow-root" not in Path(f"/proc/{pid}/cmdline").read_bytes()
        b_home = Path(bob.pw_dir)
        assert b_home.stat().st_uid == bob.pw_uid and (b_home.stat().st_mode & 0o077) == 0
        (b_home / "notes.txt").write_text("bob's notes")
        os.chown(b_home / "notes.txt", bob.pw_uid, bob.pw_gid)
        as_alice = [
            "setpriv",
            f"--reuid={alice.pw_uid}",
            f"--regid={alice.pw_gid}",
            "--init-groups",
        ]
        peek = subprocess.run([*as_alice, "cat", str(b_home / "notes.txt")], capture_output=True)
        assert peek.returncode != 0 and b"Permission denied" in peek.stderr
        # the hub's data folder (its database, tokens) is closed to her too
        for probe in (["ls", str(hub.data)], ["cat", str(hub.data / "jupyterhub.sqlite")]):
            peek = subprocess.run([*as_alice, *probe], capture_output=True)
            assert peek.returncode != 0 and b"Permission denied" in peek.stderr, probe
        # the mapping is the scheduler's: recorded once, the same for her ranks
        token = hub.user_token("alice")
        me = httpx.get(
            hub.scheduler_url + "api/v1/users/alice", headers={"Authorization": f"token {token}"}
        ).json()
        assert me["system_user"] == alice.pw_name
        # her haienv folder under the shared root is hers alone
        envs = hub.data / "envs" / "users" / "alice"
        assert envs.stat().st_uid == alice.pw_uid and (envs.stat().st_mode & 0o077) == 0


@contextlib.contextmanager
def passwd_locked_by_another_process() -> Iterator[subprocess.Popen]:
    """Hold /etc/passwd's lock the way shadow-utils does (a link named by a live pid), as
    an admin's ``adduser`` in progress would."""
    holder = subprocess.Popen(["sleep", "30"])
    mine = Path(f"/etc/passwd.{holder.pid}")
    mine.write_text(str(holder.pid))
    os.link(mine, "/etc/passwd.lock")
    try:
        yield holder
    finally:
        holder.kill()
        holder.wait()
        with contextlib.suppress(FileNotFoundError):
            Path("/etc/passwd.lock").unlink()
        mine.unlink()


def test_an_account_is_made_once_the_password_file_is_free_again(base: Path) -> None:
    """useradd fails at once while another process holds /etc/passwd's lock; making an
    account waits for it (up to accounts.LOCK_WAIT) instead of refusing the user."""
    import threading

    accounts = SystemAccounts(
        mode="create", prefix=f"hai-t{base.name[-6:]}-", home_root=str(base / "home")
    )
    with passwd_locked_by_another_process() as holder:
        # the holder ends (and is reaped: a zombie's pid still holds the lock) in a second
        release = threading.Timer(1.0, lambda: (holder.kill(), holder.wait()))
        release.start()
        started = time.monotonic()
        account = accounts.resolve("alice")
        waited = time.monotonic() - started
        release.join()
    assert pwd.getpwnam(account.name).pw_uid == account.uid
    assert waited >= 0.9, "it was made while the lock was held"
    assert Path(account.home).stat().st_uid == account.uid
