"""Bring the local stack up and down idempotently, with health checks and clear errors."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fundingflow.settings import Settings
from fundingflow.stack import processes
from fundingflow.stack.services import SERVICES
from fundingflow.stack.services import Health
from fundingflow.stack.services import Service
from fundingflow.stack.services import by_name
from fundingflow.stack.services import external_home
from schemas.errors import StackError

Progress = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """One row of ``fundingflow stack status``."""

    name: str
    endpoint: str
    running: bool
    healthy: bool
    version: str
    pid: int | None
    owner: str | None
    detail: str
    data: str | None = None
    """Where the service keeps its data (PostgreSQL's may be outside the stack home)."""


def _quiet(_service: str, _message: str) -> None:
    pass


class Stack:
    """The local stack rooted at ``settings.stack.home``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.stack.home.resolve()

    def files(self, service: Service) -> processes.ProcessFiles:
        return processes.ProcessFiles(self.home / "run", self.home / "logs", service.name)

    def _selected(self, names: list[str] | None) -> list[Service]:
        if not names:
            return list(SERVICES)
        wanted = {by_name(n).name for n in names}
        for name in list(wanted):
            wanted.update(by_name(name).depends_on)
        return [s for s in SERVICES if s.name in wanted]

    def status(self) -> list[ServiceStatus]:
        rows = []
        for service in SERVICES:
            files = self.files(service)
            pid = files.pid()
            health = service.probe(self.settings)
            rows.append(
                ServiceStatus(
                    name=service.name,
                    endpoint=service.endpoint(self.settings),
                    running=pid is not None,
                    healthy=health.healthy,
                    version=health.version,
                    pid=pid,
                    owner=files.owner() if pid is not None else None,
                    detail=health.detail,
                    data=str(data) if (data := service.data_dir(self.home)) else None,
                )
            )
        return rows

    def up(
        self, names: list[str] | None = None, owner: str = "user", progress: Progress = _quiet
    ) -> list[ServiceStatus]:
        """Start every selected service that is not already healthy; idempotent."""
        for service in self._selected(names):
            self._up_one(service, owner, progress)
        return [row for row in self.status() if not names or row.name in set(names)]

    def _up_one(self, service: Service, owner: str, progress: Progress) -> None:
        files = self.files(service)
        owner = files.owner() or owner  # a restart keeps whoever started it first
        pid = files.pid()
        if pid is not None:
            progress(service.name, f"already running (pid {pid}); checking health")
            health = self._wait_healthy(service, pid, quiet_failure=True)
            if health.healthy:
                service.after_start(self.settings, self.home)
                progress(service.name, f"healthy {health.version}")
                return
            progress(service.name, "running but unhealthy; restarting")
            processes.stop(files, service.stop_signal)
        else:
            files.clear()
            self._check_ports(service)
        progress(service.name, "preparing")
        launch = service.prepare(self.settings, self.home)
        progress(service.name, "starting")
        pid = processes.spawn(
            files,
            launch.argv,
            env=launch.env,
            cwd=launch.cwd or self.home,
            owner=owner,
            user=launch.user,
        )
        health = self._wait_healthy(service, pid, quiet_failure=False)
        service.after_start(self.settings, self.home)
        progress(service.name, f"healthy {health.version}")

    def _check_ports(self, service: Service) -> None:
        for label, port in service.ports(self.settings).items():
            host = "127.0.0.1"
            if not processes.port_free(host, port):
                raise StackError(
                    f"cannot start {service.name}: port {port} ({label}) on {host} is already "
                    f"in use by another process. Find it with `ss -ltnp 'sport = :{port}'`, "
                    f"stop it, or choose another port (see README, Configuration)."
                )

    def _wait_healthy(self, service: Service, pid: int, *, quiet_failure: bool) -> Health:
        deadline = time.monotonic() + self.settings.stack.start_timeout_s
        health = Health(False, detail="not probed")
        while time.monotonic() < deadline:
            health = service.probe(self.settings)
            if health.healthy:
                return health
            if not processes.pid_alive(pid):
                break
            time.sleep(0.5)
        if quiet_failure:
            return health
        log = self.files(service).log_file
        exited = not processes.pid_alive(pid)
        state = "exited" if exited else "did not become healthy in time"
        raise StackError(
            f"{service.name} {state} ({health.detail}). Last lines of {log}:\n"
            f"{processes.tail(log, 30)}\n"
            f"See the whole log with `fundingflow stack logs {service.name} --lines 0`."
        )

    def down(self, names: list[str] | None = None, owner: str | None = None) -> list[str]:
        """Stop what ``up`` started (optionally only services tagged with ``owner``)."""
        stopped = []
        selected = self._selected(names) if names else list(SERVICES)
        for service in reversed(selected):
            files = self.files(service)
            if files.pid() is None:
                files.clear()
                continue
            if owner is not None and files.owner() != owner:
                continue
            if processes.stop(files, service.stop_signal):
                stopped.append(service.name)
        return stopped

    def clean(self) -> list[Path]:
        """Stop every service of this stack and delete its state: the stack home and the
        directory outside it that PostgreSQL may use (see ``services.postgres_root``).

        Returns the directories removed.
        """
        _refuse_to_delete(self.home)
        self.down()
        running = [s.name for s in SERVICES if self.files(s).pid() is not None]
        if running:
            raise StackError(f"not cleaning {self.home}: still running: {', '.join(running)}")
        removed = []
        outside = external_home(self.home)
        for path in (outside, self.home):
            if path.exists():
                shutil.rmtree(path)
                removed.append(path)
        with contextlib.suppress(OSError):
            outside.parent.rmdir()  # only when no other stack home uses it
        return removed

    def log_path(self, name: str) -> Path:
        return self.files(by_name(name)).log_file


def _refuse_to_delete(home: Path) -> None:
    cwd = Path.cwd().resolve()
    if home == Path(home.anchor) or home == Path.home().resolve() or cwd.is_relative_to(home):
        raise StackError(
            f"refusing to delete the stack home {home}: it is the filesystem root, your home "
            "directory or holds the current directory; set FUNDINGFLOW_STACK__HOME to the "
            "stack's own folder"
        )


def ensure_home(settings: Settings) -> Path:
    home = settings.stack.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o755)  # noqa: S103 - the postgres user must traverse it
    return home
