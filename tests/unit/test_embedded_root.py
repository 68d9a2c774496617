"""The embedded PostgreSQL started by root: its run-as account, or one clear line.

These tests never create an account: they stand in for root and for the
account database, and check the decisions and the messages.
"""

from __future__ import annotations

import pwd
import subprocess
import sys

import pytest

from chatr_server.db import embedded
from chatr_server.db.embedded import EmbeddedPostgresError, ensure_root_user


@pytest.fixture
def as_root_without_account(monkeypatch):
    monkeypatch.setattr(embedded.os, "geteuid", lambda: 0)

    def no_such_user(name: str) -> pwd.struct_passwd:
        raise KeyError(name)

    monkeypatch.setattr(embedded.pwd, "getpwnam", no_such_user)


def test_not_root_needs_nothing(monkeypatch):
    monkeypatch.setattr(embedded.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(embedded.shutil, "which", lambda *_a, **_k: pytest.fail("looked up"))
    ensure_root_user()


def test_useradd_is_found_in_sbin_with_a_minimal_path(as_root_without_account, monkeypatch):
    searched: list[str] = []
    ran: list[list[str]] = []

    def which(name: str, path: str) -> str:
        searched.append(path)
        return "/usr/sbin/useradd"

    def run(cmd: list[str], **_kwargs: object) -> subprocess.CompletedProcess[str]:
        ran.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setattr(embedded.shutil, "which", which)
    monkeypatch.setattr(embedded.subprocess, "run", run)
    ensure_root_user()
    assert searched[0].split(":")[:3] == ["/usr/bin", "/bin", "/usr/sbin"]
    assert ran == [["/usr/sbin/useradd", "--system", "--shell", "/usr/sbin/nologin", "pgserver"]]


def test_no_useradd_is_one_clear_message(as_root_without_account, monkeypatch):
    monkeypatch.setattr(embedded.shutil, "which", lambda *_a, **_k: None)
    with pytest.raises(EmbeddedPostgresError) as refused:
        ensure_root_user()
    message = str(refused.value)
    assert "\n" not in message
    assert "useradd --system pgserver" in message
    assert "DATABASE_URL" in message
    assert message.endswith("(useradd not found)")


def test_failing_useradd_is_reported_with_its_reason(as_root_without_account, monkeypatch):
    monkeypatch.setattr(embedded.shutil, "which", lambda *_a, **_k: "/usr/sbin/useradd")
    monkeypatch.setattr(
        embedded.subprocess,
        "run",
        lambda cmd, **_k: subprocess.CompletedProcess(cmd, 1, "", "useradd: Permission denied.\n"),
    )
    with pytest.raises(
        EmbeddedPostgresError, match=r"useradd failed: useradd: Permission denied\.\)$"
    ):
        ensure_root_user()


def test_cli_prints_one_line_instead_of_a_traceback(tmp_path):
    """`migrate` with no DATABASE_URL, as root on a machine without useradd (simulated)."""
    script = (
        "import sys; from chatr_server.db import embedded; "
        "embedded.os.geteuid = lambda: 0; "
        "embedded.pwd.getpwnam = lambda n: (_ for _ in ()).throw(KeyError(n)); "
        "embedded.shutil.which = lambda *a, **k: None; "
        "from chatr_server.cli import main; main(['migrate'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={"PATH": "/usr/bin:/bin", "CHATR_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert "database error: the embedded PostgreSQL cannot run as root" in lines[-1]
    assert [line for line in lines if "pgserver" in line] == [lines[-1]]
