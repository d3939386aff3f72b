"""Which system account a platform user's code runs as on this machine.

The model of The Littlest JupyterHub and Slurm: the service runs as root and starts each
user's code (ranks, dev servers) as that user's own account, with its uid, gid and
supplementary groups. :class:`SystemAccounts` maps a platform user name to an account:

- ``create`` (the default as root): ``<prefix><name>`` (``hai-alice``), made with
  ``useradd`` on first use, uid in ``[uid_min, uid_max]``, home ``<home_root>/<account>``
  (mode 0700);
- ``existing``: the account of the same name must exist (PAM users, LDAP, an image with
  accounts baked in); a user without one is refused;
- ``service``: everyone's code runs as the service's own account. This is what a service
  not running as root can do, and then it serves one person only: platform users other
  than ``service_users`` (default: the service account's own name) are refused. As root it
  must be chosen explicitly (single-tenant development), and start-up says isolation is
  off.

A user without an account is refused with a clear message, never run as someone else.
"""

from __future__ import annotations

import getpass
import grp
import os
import pwd
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from traitlets import Enum, Integer, List, Unicode, default
from traitlets.config import LoggingConfigurable

# useradd's own rule (Debian's NAME_REGEX), at most 32 characters
_ACCOUNT_NAME = re.compile(r"^[a-z_][a-z0-9_.-]{0,30}[a-z0-9_.$-]?$")


#: seconds ``useradd`` is retried while the password file is locked or a uid was just taken
LOCK_WAIT = 10.0
#: what useradd prints for a failure that passes: /etc/passwd locked by another process
#: (shadow-utils fails at once instead of waiting), or the free uid taken meanwhile
_PASSING_FAILURES = ("try again later", "is not unique")


class NoAccount(RuntimeError):
    """The user has no system account this service may run their code as."""


@dataclass(frozen=True, slots=True)
class Account:
    """A system account: what a process needs to become it."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str
    shell: str

    @classmethod
    def from_passwd(cls, entry: pwd.struct_passwd) -> Account:
        groups = os.getgrouplist(entry.pw_name, entry.pw_gid)
        return cls(
            entry.pw_name,
            entry.pw_uid,
            entry.pw_gid,
            tuple(sorted(set(groups))),
            entry.pw_dir,
            entry.pw_shell or "/bin/sh",
        )

    @property
    def is_service(self) -> bool:
        return self.uid == os.geteuid()


def closed_to_others(path: str | os.PathLike[str]) -> Path | None:
    """The first folder on the way to ``path`` that other accounts cannot cross (no o+x),
    or None: users' code needs the interpreter and the data folder within reach."""
    for target in (Path(path).absolute(), Path(path).resolve()):
        for folder in [*reversed(target.parents), target]:
            if folder.is_dir() and not folder.stat().st_mode & 0o001:
                return folder
    return None


def service_account() -> Account:
    """The account this process runs as."""
    return Account.from_passwd(pwd.getpwuid(os.geteuid()))


class SystemAccounts(LoggingConfigurable):
    """Maps platform users to system accounts (see the module docstring)."""

    mode = Enum(
        ["create", "existing", "service"],
        help="create: <prefix><name> made on first use; existing: the account of the same "
        "name; service: the service's own account (single person; the only mode without root).",
    ).tag(config=True)

    @default("mode")
    def _default_mode(self) -> str:
        return "create" if os.geteuid() == 0 else "service"

    prefix = Unicode("hai-", help="Accounts made in create mode are named <prefix><user>.").tag(
        config=True
    )
    uid_min = Integer(20000, help="Lowest uid of an account made in create mode.").tag(config=True)
    uid_max = Integer(29999, help="Highest uid of an account made in create mode.").tag(config=True)
    home_root = Unicode("/home", help="Homes of accounts made in create mode live here.").tag(
        config=True
    )
    shell = Unicode("/bin/bash", help="Login shell of accounts made in create mode.").tag(
        config=True
    )
    extra_groups = List(
        Unicode(), help="Existing groups every account made in create mode joins."
    ).tag(config=True)
    service_users = List(
        Unicode(),
        help="In service mode, the platform users whose code may run as the service's "
        "account ('*': anyone). Default: the account's own name; as root (where service "
        "mode must be chosen on purpose) '*'.",
    ).tag(config=True)

    @default("service_users")
    def _default_service_users(self) -> list[str]:
        return ["*"] if os.geteuid() == 0 else [getpass.getuser()]

    _lock = threading.Lock()

    def describe(self) -> str:
        """One line for the start-up log: who runs as whom."""
        me = service_account().name
        if self.mode == "service":
            if os.geteuid() != 0:
                return (
                    f"running as {me!r} (not root): serving only {', '.join(self.service_users)}"
                    f"; other users' code is refused, never run as {me!r}"
                )
            if "*" not in self.service_users:
                return f"isolation OFF: {', '.join(self.service_users)} run as {me!r}"
            return f"isolation OFF: every user's code runs as {me!r} (SystemAccounts.mode)"
        if self.mode == "existing":
            return "each user's code runs as the system account of the same name"
        return f"each user's code runs as {self.prefix}<name>, made on first use"

    def account_name(self, user: str) -> str:
        """The account name ``user`` maps to (no lookup, no creation)."""
        if self.mode == "service":
            return service_account().name
        name = (self.prefix + user if self.mode == "create" else user).lower()
        if not _ACCOUNT_NAME.match(name):
            raise NoAccount(
                f"user {user!r} has no valid system account name ({name!r}: at most 32 "
                "lower-case letters, digits, '.', '_', '-')"
            )
        return name

    def resolve(self, user: str, recorded: str | None = None) -> Account:
        """The account ``user``'s code runs as; creates it in create mode. ``recorded`` is
        the mapping stored for the user earlier (users.system_user), which wins."""
        if self.mode == "service":
            if user not in self.service_users and "*" not in self.service_users:
                me = service_account().name
                raise NoAccount(
                    f"this service runs as {me!r} and serves only "
                    f"{', '.join(self.service_users)}; it does not run {user!r}'s code as {me!r}"
                )
            return service_account()
        name = recorded or self.account_name(user)
        try:
            account = Account.from_passwd(pwd.getpwnam(name))
        except KeyError:
            if self.mode != "create" or recorded:
                raise NoAccount(f"user {user!r} has no system account {name!r}") from None
            account = self._create(name)
        if account.uid == 0 or account.is_service:
            raise NoAccount(f"user {user!r} maps to {name!r}, a privileged account; refused")
        return account

    def _create(self, name: str) -> Account:
        """``useradd`` with a uid from the configured range (serialised: uids are chosen)."""
        if os.geteuid() != 0:
            raise NoAccount(f"cannot create the system account {name!r}: not running as root")
        with self._lock:
            try:
                return Account.from_passwd(pwd.getpwnam(name))
            except KeyError:
                pass
            home = Path(self.home_root) / name
            uid = self._useradd(name, home)
            home.chmod(0o700)
            self.log.info("created system account %s (uid %d, home %s)", name, uid, home)
            return Account.from_passwd(pwd.getpwnam(name))

    def _useradd(self, name: str, home: Path) -> int:
        """Run ``useradd``; while another process holds the password file's lock (an
        admin's ``adduser``, another service) or has just taken the uid chosen, try again
        with a fresh uid for up to ``LOCK_WAIT`` seconds. Returns the uid."""
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            uid = self._free_uid()
            cmd = ["useradd", "--uid", str(uid), "--user-group", "--create-home"]
            cmd += ["--home-dir", str(home), "--shell", self.shell, "--comment", "HAI Hub user"]
            if self.extra_groups:
                cmd += ["--groups", ",".join(self.extra_groups)]
            done = subprocess.run([*cmd, name], capture_output=True, text=True)
            if done.returncode == 0:
                return uid
            passing = any(sign in done.stderr for sign in _PASSING_FAILURES)
            if not passing or time.monotonic() > deadline:
                raise NoAccount(f"useradd {name} failed: {done.stderr.strip()}")
            time.sleep(0.05)

    def _free_uid(self) -> int:
        used = {e.pw_uid for e in pwd.getpwall()} | {g.gr_gid for g in grp.getgrall()}
        for uid in range(self.uid_min, self.uid_max + 1):
            if uid not in used:
                return uid
        raise NoAccount(f"no free uid left in {self.uid_min}-{self.uid_max}")
