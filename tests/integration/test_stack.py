"""The local stack: idempotent `up`, and a clear error (not a hang) for a taken port."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from fundingflow.errors import StackError
from fundingflow.settings import Settings
from fundingflow.settings import StackSettings
from fundingflow.stack.manager import Stack
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
