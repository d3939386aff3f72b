"""SystemAccounts without creating anything: who may run as the service, name rules, the
reachability check; and haienv's folder modes."""

from __future__ import annotations

import getpass
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from scheduler.backends.local.accounts import (
    NoAccount,
    SystemAccounts,
    closed_to_others,
    service_account,
)


def test_a_service_serving_one_person_refuses_everyone_else():
    me = getpass.getuser()
    accounts = SystemAccounts(mode="service", service_users=[me])
    assert accounts.resolve(me).uid == os.geteuid()
    with pytest.raises(NoAccount, match=f"serves only {me}; it does not run 'bob'"):
        accounts.resolve("bob")
    assert "serving only" in accounts.describe() or "isolation OFF" in accounts.describe()
    anyone = SystemAccounts(mode="service", service_users=["*"])
    assert anyone.resolve("bob") == service_account()


def test_account_names_and_refusals():
    accounts = SystemAccounts(mode="create", prefix="hai-")
    assert accounts.account_name("Alice") == "hai-alice"
    with pytest.raises(NoAccount, match="no valid system account name"):
        accounts.account_name("alice@example.org")
    with pytest.raises(NoAccount, match="no valid system account name"):
        accounts.account_name("x" * 40)
    existing = SystemAccounts(mode="existing")
    with pytest.raises(NoAccount, match="has no system account 'nobody-here-x'"):
        existing.resolve("nobody-here-x")
    with pytest.raises(NoAccount, match="privileged account"):
        existing.resolve("root")  # root (or the service's own account) never runs user code


def test_defaults_follow_whether_the_service_is_root():
    accounts = SystemAccounts()
    assert accounts.mode == ("create" if os.geteuid() == 0 else "service")


def test_closed_folders_are_found():
    base = Path(tempfile.mkdtemp(dir="/tmp"))  # pytest's own tmp is under a 0700 folder
    try:
        base.chmod(0o711)
        open_dir = base / "open"
        (open_dir / "inner").mkdir(parents=True)
        open_dir.chmod(0o755)
        assert closed_to_others(open_dir / "inner") is None
        open_dir.chmod(0o700)
        assert closed_to_others(open_dir / "inner") == open_dir
        assert closed_to_others(open_dir / "inner" / "not-yet") == open_dir
    finally:
        shutil.rmtree(base)


def test_haienv_user_folders_are_private_and_bases_shared(tmp_path: Path):
    from haienv.store import _make_folder

    _make_folder(tmp_path / "users" / "alice", shared=False)
    _make_folder(tmp_path / "base", shared=True)
    assert (tmp_path / "users" / "alice").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "users").stat().st_mode & 0o777 == 0o711
    assert (tmp_path / "base").stat().st_mode & 0o777 == 0o755
