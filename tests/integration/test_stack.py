"""The local stack: idempotent `up`, and a clear error (not a hang) for a taken port."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from fundingflow.settings import Settings
from fundingflow.settings import StackSettings
from fundingflow.stack.manager import Stack
from schemas.errors import StackError
from tests.services import Endpoints

pytestmark = pytest.mark.integration


def test_up_twice_leaves_the_same_healthy_state(services: Endpoints) -> None:
    stack = Stack(services.settings)
    before = {r.name: (r.pid, r.healthy) for r in stack.status()}
    after = {r.name: (r.pid, r.healthy) for r in stack.up()}
    again = {r.name: (r.pid, r.healthy) for r in stack.up()}
    assert before == after == again
    assert all(healthy for _pid, healthy in again.values())


def test_port_in_use_is_a_clear_error_not_a_hang(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        settings = Settings(
            kafka={"port": port, "controller_port": port + 1},
            stack=StackSettings(home=tmp_path / "stack", start_timeout_s=5),
        )
        started = time.monotonic()
        with pytest.raises(StackError) as excinfo:
            Stack(settings).up(["kafka"])
        elapsed = time.monotonic() - started
    message = str(excinfo.value)
    assert f"port {port}" in message
    assert "already in use" in message
    print(f"port check answered in {elapsed:.3f}s")


def test_status_reports_every_service_healthy_with_a_version(services: Endpoints) -> None:
    rows = Stack(services.settings).status()
    assert {r.name for r in rows} == {"postgres", "kafka", "registry", "questdb"}
    for row in rows:
        assert row.healthy, row
        assert row.version, row


def test_up_restarts_a_service_that_died_and_left_its_pid_file(services: Endpoints) -> None:
    import os
    import signal

    stack = Stack(services.settings)
    questdb = next(r for r in stack.status() if r.name == "questdb")
    assert questdb.pid is not None, "questdb must have been started by `stack up`"
    os.killpg(questdb.pid, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(
        r.healthy for r in stack.status() if r.name == "questdb"
    ):
        time.sleep(0.2)
    rows = {r.name: r for r in stack.up(["questdb"])}
    assert rows["questdb"].healthy
    assert rows["questdb"].pid not in (None, questdb.pid)
    assert rows["questdb"].owner == questdb.owner, "a restart keeps the owner tag"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.stack
def test_postgres_runs_as_root_from_a_clone_under_a_0700_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like a clone in /root (drwx------): initdb and postgres run as 'postgres'."""
    import os
    import pwd
    import subprocess

    import psycopg

    from fundingflow.stack import downloads
    from fundingflow.stack.services import external_home

    if os.geteuid() != 0:
        pytest.skip("only root runs PostgreSQL as another user, the case this covers (uid 0)")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no 'postgres' user (apt-get install postgresql)")
    private = tmp_path / "private"
    clone = private / "fundingflow"
    clone.mkdir(parents=True)
    private.chmod(0o700)
    monkeypatch.chdir(clone)  # as `make test` in the clone: cwd is the clone
    home = Path(".local")

    # Twin: the old layout (data dir and cwd inside the clone) is what failed.
    old = subprocess.run(
        [str(downloads.postgres_bindir() / "initdb"), "-D", str(clone / ".local" / "pg")],
        capture_output=True,
        text=True,
        user="postgres",
        check=False,
    )
    assert old.returncode != 0
    assert "Permission denied" in old.stdout + old.stderr

    settings = Settings(
        postgres={"port": _free_port()},
        stack=StackSettings(home=home, start_timeout_s=60),
    )
    stack = Stack(settings)
    try:
        first = stack.up(["postgres"])
        [row] = first
        assert row.healthy, row
        assert row.data is not None
        data = Path(row.data)
        assert not data.is_relative_to(private), "the data dir must be outside the 0700 tree"
        assert data.is_relative_to(external_home(home))
        with psycopg.connect(settings.postgres.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE TABLE rootclone (n INT)")
            conn.execute("INSERT INTO rootclone VALUES (42)")

        again = stack.up(["postgres"])
        assert [(r.pid, r.healthy) for r in again] == [(row.pid, True)], "up is idempotent"

        assert stack.down(["postgres"]) == ["postgres"]
        [restarted] = stack.up(["postgres"])
        assert restarted.healthy
        assert restarted.pid != row.pid
        assert restarted.data == row.data, "the existing data dir is re-used"
        with psycopg.connect(settings.postgres.conninfo()) as conn:
            assert conn.execute("SELECT n FROM rootclone").fetchall() == [(42,)]
    finally:
        removed = stack.clean()
    assert external_home(home) in removed
    assert not external_home(home).exists()
    assert not (clone / ".local").exists()
